// Where a mount keeps what must outlive its serving process: the write
// journal, and a small file naming the keeper and its current serving
// process (for `objfs upgrade`). Under /run: it survives the death of a
// process, not a reboot, which is what the keeper protects against.
import { mkdirSync, readFileSync, renameSync, rmSync, rmdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Config } from '../config.ts'

/** A mountpoint as one path component: /mnt/data -> mnt-data. */
export const escapeMountpoint = (mp: string): string => mp.replace(/^\/+/, '').replace(/[^A-Za-z0-9._-]/g, '-') || 'root'

type StatePlace = Pick<Config, 'stateDir' | 'mountpoint'>

export function stateDirOf (config: StatePlace): string {
  return config.stateDir ?? join('/run/objfs', escapeMountpoint(config.mountpoint))
}

/** The write journal's segments (src/blocks/journal.ts). */
export const journalDirOf = (config: StatePlace): string => join(stateDirOf(config), 'journal')

/** The serving process's nodeids and their objects, for a successor (src/inode/nodeid-log.ts). */
export const nodeidLogOf = (config: StatePlace): string => join(stateDirOf(config), 'nodeids.log')

/** Where a mount started without -f logs, unless log_file says otherwise. */
export const defaultLogFile = (mountpoint: string): string => join('/run/objfs', `${escapeMountpoint(mountpoint)}.log`)

export interface KeeperState {
  keeper: number
  server: number
  /** Serving processes before the current one. */
  generation: number
}

export function writeKeeperState (config: StatePlace, s: KeeperState): void {
  const dir = stateDirOf(config)
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    writeFileSync(join(dir, 'keeper.json.tmp'), JSON.stringify(s))
    renameSync(join(dir, 'keeper.json.tmp'), join(dir, 'keeper.json'))
  } catch {
    // Only `objfs upgrade` reads it, and says so when it is missing.
  }
}

export function readKeeperState (config: StatePlace): KeeperState | undefined {
  try {
    return JSON.parse(readFileSync(join(stateDirOf(config), 'keeper.json'), 'utf8')) as KeeperState
  } catch {
    return undefined
  }
}

/**
 * When the keeper ends: what only a successor under this keeper could use
 * goes (the keeper file, the nodeid log). The journal directory and the
 * state directory go only if empty: journal segments left by a failure are
 * data acknowledged and not stored, kept for whoever looks. Nothing goes
 * if the keeper file names another keeper: a remount may already be live.
 * With no keeper file (a start that failed before the mount was live, such
 * as a metrics port in use) only the empty directories go.
 */
export function clearKeeperState (config: StatePlace): void {
  const keeper = readKeeperState(config)?.keeper
  if (keeper !== undefined && keeper !== process.pid) return
  const dir = stateDirOf(config)
  if (keeper !== undefined) for (const file of [join(dir, 'keeper.json'), nodeidLogOf(config)]) rmSync(file, { force: true })
  for (const d of [journalDirOf(config), dir]) {
    try { rmdirSync(d) } catch {}
  }
}
