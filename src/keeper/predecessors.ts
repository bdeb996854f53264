// `umount` returns as soon as the kernel lets go of a mount; its daemon
// then stores what it buffered, and only then exits. A daemon mounted at
// the same place meanwhile (a restart, a script's umount and mount) would
// show files without those writes, and a write it took to such a file
// could be overwritten when the old daemon stores its blocks. So a keeper
// waits, before it mounts, for the earlier keepers of its mountpoint whose
// connection has ended. Not for one whose connection lives on: `umount -l`
// detached it with files open, and it serves them for as long as they
// stay open.
import { connectionLive, ensureFusectl, type Connection } from '../channel/unmount.ts'
import { daemonPids } from '../cli/daemon-proc.ts'
import { logger } from '../log.ts'
import { alive, waitForExit } from '../liveness.ts'
import { otherKeepers, type RecordedKeeper } from './state.ts'
import type { Config } from '../config.ts'

const log = logger('keeper')

export interface Predecessor { keeper: number, connection: Connection }

/**
 * Live keepers of this mountpoint whose connection has ended: they are
 * storing, or about to exit. `daemons`: the objfs daemons of this
 * mountpoint, so that a dead keeper's pid, reused by another process, is
 * not waited for.
 */
export function storingPredecessors (
  config: Pick<Config, 'stateDir' | 'mountpoint'>,
  live: (conn: Connection) => boolean | undefined = connectionLive,
  daemons: number[] = daemonPids(config.mountpoint),
  keepers: RecordedKeeper[] = otherKeepers(config),
): Predecessor[] {
  const found: Predecessor[] = []
  for (const { keeper, connection } of keepers) {
    // Without a recorded connection (not mounted yet, or an older objfs) nothing tells; so no wait.
    if (connection === undefined || !daemons.includes(keeper) || !alive(keeper)) continue
    if (live(connection) === false) found.push({ keeper, connection })
  }
  return found
}

/** Wait up to `waitMs` for them to exit; returns those still running then. */
export async function awaitPredecessors (config: Pick<Config, 'stateDir' | 'mountpoint'>, waitMs: number): Promise<number[]> {
  const others = otherKeepers(config)
  if (others.length === 0) return []
  // Only fusectl tells an ended connection from a detached one.
  await ensureFusectl(msg => log.warn(msg))
  let waiting = storingPredecessors(config, connectionLive, daemonPids(config.mountpoint), others).map(p => p.keeper)
  if (waiting.length === 0) return []
  log.info({ keepers: waiting }, 'waiting for the daemon unmounted here before to store what it buffered')
  waiting = await waitForExit(waiting, waitMs)
  if (waiting.length > 0) log.warn({ keepers: waiting, waitMs }, 'the daemon unmounted here before is still storing; mounting anyway')
  return waiting
}
