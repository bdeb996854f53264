// objfs stats MOUNTPOINT [--json | --prometheus]: the daemon's counters.
//
// They come from the objfs.stats xattr of the mount root (src/ops/xattr.ts),
// read with getfattr(1): Node has no getxattr, and the xattr needs no side
// channel or port. A hung daemon would hang the read, so it runs in a
// child process with a time limit.
import { spawn } from 'node:child_process'
import type { Argv, ArgumentsCamelCase } from 'yargs'
import { ConfigError } from '../errors.ts'
import { findMount, resolveMountpoint } from '../channel/unmount.ts'
import { formatStats } from '../metrics/format.ts'
import { renderPrometheus } from '../metrics/prometheus.ts'
import type { StatsSnapshot } from '../metrics/snapshot.ts'
import { STATS_XATTR } from '../ops/xattr.ts'

const READ_TIMEOUT_MS = 10_000

interface StatsArgs {
  mountpoint: string
  json?: boolean
  prometheus?: boolean
}

export const command = 'stats <mountpoint>'
export const describe = 'show the counters of the daemon serving a mount'

export function builder (y: Argv): Argv<StatsArgs> {
  return y
    .positional('mountpoint', { describe: 'where the store is mounted', type: 'string', demandOption: true })
    // No defaults: yargs counts a defaulted option as given in conflicts().
    .option('json', { describe: 'print the counters as JSON', type: 'boolean' })
    .option('prometheus', { describe: 'print them in the Prometheus text format', type: 'boolean' })
    .conflicts('json', 'prometheus') as unknown as Argv<StatsArgs>
}

interface Output { code: number | null, stdout: string, stderr: string, timedOut: boolean }

function getfattr (path: string): Promise<Output> {
  return new Promise((resolve, reject) => {
    const child = spawn('getfattr', ['--only-values', '--absolute-names', '-n', STATS_XATTR, '--', path], { stdio: ['ignore', 'pipe', 'pipe'] })
    const out: Buffer[] = []
    let stderr = ''
    let timedOut = false
    child.stdout.on('data', (b: Buffer) => out.push(b))
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
    const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL') }, READ_TIMEOUT_MS)
    child.on('error', err => {
      clearTimeout(timer)
      reject((err as NodeJS.ErrnoException).code === 'ENOENT' ? new Error('getfattr is missing (Debian package attr; scripts/setup-deps.sh installs it)') : err)
    })
    child.on('close', code => {
      clearTimeout(timer)
      resolve({ code, stdout: Buffer.concat(out).toString(), stderr, timedOut })
    })
  })
}

/** The snapshot of the daemon serving `mountpoint`; one-line errors for every way that fails. */
export async function readStats (mountpoint: string): Promise<StatsSnapshot> {
  const mp = resolveMountpoint(mountpoint)
  const m = findMount(mp)
  if (m === undefined) throw new ConfigError(`${mp} is not mounted`)
  if (m.fstype !== 'fuse.objfs') throw new ConfigError(`${mp} is not an objfs mount (it is ${m.fstype})`)
  const r = await getfattr(mp)
  if (r.timedOut) throw new Error(`the daemon for ${mp} did not answer within ${READ_TIMEOUT_MS / 1000} s`)
  if (r.code !== 0) {
    if (/not connected/i.test(r.stderr)) throw new Error(`${mp} is stale: its daemon is gone (objfs umount ${mp} cleans it up)`)
    throw new Error(`reading ${STATS_XATTR} of ${mp} failed: ${r.stderr.trim().split('\n').pop() ?? `getfattr exited ${r.code}`}`)
  }
  try {
    return JSON.parse(r.stdout) as StatsSnapshot
  } catch {
    throw new Error(`${STATS_XATTR} of ${mp} is not JSON`)
  }
}

export async function handler (argv: ArgumentsCamelCase<StatsArgs>): Promise<void> {
  const s = await readStats(argv.mountpoint)
  process.stdout.write(argv.json === true ? `${JSON.stringify(s, null, 2)}\n` : argv.prometheus === true ? renderPrometheus(s) : formatStats(s))
}
