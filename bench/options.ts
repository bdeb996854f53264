// Command line of `npm run bench -- [options]`, parsed once into BenchOptions.
import { tmpdir } from 'node:os'
import { parseArgs } from 'node:util'
import type { Sizes } from './workloads/types.ts'

const KiB = 1024
const MiB = 1024 * KiB

/** The full run: what issue 3's goals are stated in (1 GiB, 10,000 files). */
export const FULL: Sizes = {
  fileBytes: 1024 * MiB,
  fileCount: 10_000,
  tree: { smallFiles: 8_000, minBytes: 1 * KiB, maxBytes: 16 * KiB, maxDepth: 8, topDirs: 16, bigFiles: 3, bigFileBytes: 20 * MiB },
  repo: { commits: 300, files: 3_000 },
  randomSeconds: 20,
}

/** --quick: every workload and target in a few minutes on 2 cores. */
export const QUICK: Sizes = {
  fileBytes: 256 * MiB,
  fileCount: 2_000,
  tree: { smallFiles: 2_000, minBytes: 1 * KiB, maxBytes: 16 * KiB, maxDepth: 8, topDirs: 16, bigFiles: 2, bigFileBytes: 5 * MiB },
  repo: { commits: 50, files: 500 },
  randomSeconds: 5,
}

export interface BenchOptions {
  quick: boolean
  repeats: number
  sizes: Sizes
  targets: string[]
  workloads: string[]
  subject: string
  objfsOpts: string
  s3Bucket: string
  /** Output path of the JSON record; undefined: bench/results/<timestamp>.json. */
  json: string | undefined
  /** Overrides every step's own kill timeout. */
  timeoutMs: number | null
  workdir: string
  /** Seed of the generated tree and repository. */
  seed: number
  rssBudgetBytes: number
  /** Exit status 3 when a goal is not met (or unknown). */
  goals: boolean
}

export const usage = (targets: string[], workloads: string[], groups: Record<string, string[]> = {}): string => `\
usage: npm run bench -- [options]     (or: node bench/run.ts [options])

  --quick               small sizes, 1 repeat: 256 MiB file, 2,000 files, tree of 2,000 files + 2 x 5 MiB,
                        repository of 50 commits / 500 files, 5 s random reads
                        (default: 1 GiB, 10,000 files, tree of 8,000 files + 3 x 20 MiB, 300 commits /
                        3,000 files, 20 s random reads, 3 repeats, median)
  --repeats N           repeats per step (median reported)
  --targets a,b         among ${targets.join(', ')}, or a group:${Object.entries(groups).map(([g, names]) => `
                        ${g}: ${names.join(', ')}`).join('')}
                        (default: local; s3 needs an S3 endpoint, see --s3-bucket)
  --workloads a,b       among ${workloads.join(', ')} (default: all)
  --objfs-opts OPTS     passed to objfs mount as -o OPTS
  --subject NAME        compared against the other targets of its group in the ratio table
                        (default: objfs, and objfs-s3 in the s3 group)
  --s3-bucket NAME      bucket of the s3 targets, created when missing; each mount uses a fresh
                        prefix, deleted afterwards (default: objfs-bench). The endpoint: S3_ENDPOINT
                        with AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, else scripts/ceph-up.sh's Ceph
  --json PATH           write the JSON record here instead of bench/results/<timestamp>.json
  --timeout SECONDS     kill timeout of every step (default: per step, from its size)
  --workdir DIR         where mountpoints, backing dirs and fixtures go (host disk) (default: ${tmpdir()})
  --file-mib N          size of the sequential file in MiB (overrides --quick)
  --files N             number of files of the metadata workload (overrides --quick)
  --tree-files N        small files in the generated tree (overrides --quick)
  --seed N              seed of the generated tree and repository (default: 1)
  --rss-budget MIB      memory budget of the objfs daemon for the goals (default: 1024)
  --goals               exit 3 unless every goal is met (the goals section is always printed)
  -h, --help
`

export class UsageError extends Error {}

/** Names from a comma list; an alias stands for its names. In `known`'s order, each once. */
function list (text: string | undefined, known: string[], what: string, aliases: Record<string, string[]> = {}, defaults = known): string[] {
  if (text === undefined) return defaults
  const names = text.split(',').map((s) => s.trim()).filter((s) => s !== '')
  const unknown = names.filter((n) => !known.includes(n) && aliases[n] === undefined)
  const all = [...known, ...Object.keys(aliases)]
  if (unknown.length > 0) throw new UsageError(`unknown ${what}: ${unknown.join(', ')} (known: ${all.join(', ')})`)
  if (names.length === 0) throw new UsageError(`--${what}: empty list`)
  const chosen = new Set(names.flatMap((n) => aliases[n] ?? [n]))
  return known.filter((n) => chosen.has(n))
}

function positive (text: string | undefined, what: string): number | undefined {
  if (text === undefined) return undefined
  const n = Number(text)
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--${what}: '${text}' is not a positive number`)
  return n
}

function whole (text: string | undefined, what: string): number | undefined {
  const n = positive(text, what)
  if (n !== undefined && !Number.isInteger(n)) throw new UsageError(`--${what} takes a whole number`)
  return n
}

/** Returns undefined for --help. */
/** `groups`: aliases --targets takes for a group of targets (local, s3); local is the default. */
export function parseOptions (argv: string[], targets: string[], workloads: string[], groups: Record<string, string[]> = {}): BenchOptions | undefined {
  let v
  try {
    ({ values: v } = parseArgs({
      args: argv,
      options: {
        quick: { type: 'boolean', default: false },
        repeats: { type: 'string' },
        targets: { type: 'string' },
        workloads: { type: 'string' },
        'objfs-opts': { type: 'string', default: '' },
        's3-bucket': { type: 'string', default: 'objfs-bench' },
        subject: { type: 'string', default: 'objfs' },
        json: { type: 'string' },
        timeout: { type: 'string' },
        workdir: { type: 'string', default: tmpdir() },
        'file-mib': { type: 'string' },
        files: { type: 'string' },
        'tree-files': { type: 'string' },
        seed: { type: 'string', default: '1' },
        'rss-budget': { type: 'string', default: '1024' },
        goals: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }))
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
  if (v.help) return undefined
  const quick = v.quick
  const preset = quick ? QUICK : FULL
  const repeats = whole(v.repeats, 'repeats') ?? (quick ? 1 : 3)
  const fileMiB = whole(v['file-mib'], 'file-mib')
  const fileCount = whole(v.files, 'files') ?? preset.fileCount
  const smallFiles = whole(v['tree-files'], 'tree-files') ?? preset.tree.smallFiles
  const seed = Number(v.seed)
  if (!Number.isSafeInteger(seed)) throw new UsageError(`--seed: '${v.seed}' is not a whole number`)
  const timeout = positive(v.timeout, 'timeout')
  if (!targets.includes(v.subject)) throw new UsageError(`--subject: unknown target '${v.subject}' (known: ${targets.join(', ')})`)
  return {
    quick,
    repeats,
    sizes: { ...preset, fileBytes: fileMiB === undefined ? preset.fileBytes : fileMiB * MiB, fileCount, tree: { ...preset.tree, smallFiles } },
    // The S3 group only when asked for: it needs an engine, and s3fs takes many minutes where the others take seconds.
    targets: list(v.targets, targets, 'targets', groups, groups.local ?? targets),
    workloads: list(v.workloads, workloads, 'workloads'),
    subject: v.subject,
    objfsOpts: v['objfs-opts'],
    s3Bucket: v['s3-bucket'],
    json: v.json,
    timeoutMs: timeout === undefined ? null : timeout * 1000,
    workdir: v.workdir,
    seed,
    rssBudgetBytes: (positive(v['rss-budget'], 'rss-budget') as number) * MiB,
    goals: v.goals,
  }
}
