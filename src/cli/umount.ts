// objfs umount MOUNTPOINT: flush and unmount, and wait for the daemon to
// finish storing what it holds. A stale mount (daemon killed) is cleaned.
import type { Argv, ArgumentsCamelCase } from 'yargs'
import { ConfigError } from '../errors.ts'
import { findMount, forceUnmount, resolveMountpoint } from '../channel/unmount.ts'
import { waitForExit } from '../liveness.ts'
import { daemonPids } from './daemon-proc.ts'

interface UmountArgs { mountpoint: string }

export const command = 'umount <mountpoint>'
export const describe = 'flush everything and unmount'

export function builder (y: Argv): Argv<UmountArgs> {
  return y.positional('mountpoint', { describe: 'where the store is mounted', type: 'string', demandOption: true }) as unknown as Argv<UmountArgs>
}

export async function handler (argv: ArgumentsCamelCase<UmountArgs>): Promise<void> {
  const mp = resolveMountpoint(argv.mountpoint)
  if (findMount(mp) === undefined) throw new ConfigError(`${mp} is not mounted`)
  const pids = daemonPids(mp)
  const how = await forceUnmount(mp)
  if (how === 'lazy' || how === 'aborted') process.stderr.write(`objfs: ${mp} was busy or hung; detached (${how})\n`)
  const running = await waitForExit(pids, 120_000)
  if (running.length > 0) throw new Error(`the daemon for ${mp} (pid ${running.join(', ')}) did not exit within 120 s`)
}
