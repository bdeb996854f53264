// Command line of `npm run bench -- [options]`, parsed once into BenchOptions.
import { tmpdir } from 'node:os'
import { parseArgs } from 'node:util'
import type { Sizes } from './workloads/types.ts'

export interface BenchOptions {
  quick: boolean
  repeats: number
  sizes: Sizes
  targets: string[]
  workloads: string[]
  subject: string
  objfsOpts: string
  /** Output path of the JSON record; undefined: bench/results/<timestamp>.json. */
  json: string | undefined
  /** Overrides every step's own kill timeout. */
  timeoutMs: number | null
  workdir: string
}

export const usage = (targets: string[], workloads: string[]): string => `\
usage: npm run bench -- [options]     (or: node bench/run.ts [options])

  --quick               256 MiB file, 2,000 files, 1 repeat (default: 1 GiB, 10,000 files, 3 repeats, median)
  --repeats N           repeats per step (median reported)
  --targets a,b         among ${targets.join(', ')} (default: all)
  --workloads a,b       among ${workloads.join(', ')} (default: all)
  --objfs-opts OPTS     passed to objfs mount as -o OPTS
  --subject NAME        target compared against the others in the ratio table (default: objfs)
  --json PATH           write the JSON record here instead of bench/results/<timestamp>.json
  --timeout SECONDS     kill timeout of every step (default: per step, from its size)
  --workdir DIR         where scratch mountpoints and backing dirs go (default: ${tmpdir()})
  --file-mib N          size of the sequential file in MiB (overrides --quick)
  --files N             number of files of the metadata workload (overrides --quick)
  -h, --help
`

export class UsageError extends Error {}

function list (text: string | undefined, known: string[], what: string): string[] {
  if (text === undefined) return known
  const names = text.split(',').map((s) => s.trim()).filter((s) => s !== '')
  const unknown = names.filter((n) => !known.includes(n))
  if (unknown.length > 0) throw new UsageError(`unknown ${what}: ${unknown.join(', ')} (known: ${known.join(', ')})`)
  if (names.length === 0) throw new UsageError(`--${what}: empty list`)
  return names
}

function positive (text: string | undefined, what: string): number | undefined {
  if (text === undefined) return undefined
  const n = Number(text)
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--${what}: '${text}' is not a positive number`)
  return n
}

/** Returns undefined for --help. */
export function parseOptions (argv: string[], targets: string[], workloads: string[]): BenchOptions | undefined {
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
        subject: { type: 'string', default: 'objfs' },
        json: { type: 'string' },
        timeout: { type: 'string' },
        workdir: { type: 'string', default: tmpdir() },
        'file-mib': { type: 'string' },
        files: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }))
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
  if (v.help) return undefined
  const quick = v.quick
  const repeats = positive(v.repeats, 'repeats') ?? (quick ? 1 : 3)
  const fileMiB = positive(v['file-mib'], 'file-mib') ?? (quick ? 256 : 1024)
  const fileCount = positive(v.files, 'files') ?? (quick ? 2_000 : 10_000)
  const timeout = positive(v.timeout, 'timeout')
  if (!Number.isInteger(repeats) || !Number.isInteger(fileMiB) || !Number.isInteger(fileCount)) {
    throw new UsageError('--repeats, --file-mib and --files take whole numbers')
  }
  return {
    quick,
    repeats,
    sizes: { fileBytes: fileMiB * 1024 * 1024, fileCount },
    targets: list(v.targets, targets, 'targets'),
    workloads: list(v.workloads, workloads, 'workloads'),
    subject: v.subject,
    objfsOpts: v['objfs-opts'],
    json: v.json,
    timeoutMs: timeout === undefined ? null : timeout * 1000,
    workdir: v.workdir,
  }
}
