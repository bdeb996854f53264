// Where a mount keeps what must outlive its serving process: the write
// journal, and a small file naming the keeper and its current serving
// process (for `objfs upgrade`). Under /run: it survives the death of a
// process, not a reboot, which is what the keeper protects against.
//
//   /run/objfs/<mountpoint>/keeper.json           the mount's current keeper
//   /run/objfs/<mountpoint>/keeper-<pid>/journal  one keeper's write journal
//   /run/objfs/<mountpoint>/keeper-<pid>/nodeids.log
//   /run/objfs/<mountpoint>/keeper-<pid>/connection  its connection (JSON), once mounted
//
// The journal is one keeper's, not the mountpoint's: `umount -l` detaches a
// mount at once while its daemon goes on serving the files still open on
// it, and a daemon mounted at the same place meanwhile took that live
// journal for a dead keeper's and set it aside; the first daemon's keeper
// then had its next serving process replay and close the new daemon's.
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, rmdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Connection } from '../channel/unmount.ts'
import type { Config } from '../config.ts'

/** A mountpoint as one path component: /mnt/data -> mnt-data. */
export const escapeMountpoint = (mp: string): string => mp.replace(/^\/+/, '').replace(/[^A-Za-z0-9._-]/g, '-') || 'root'

type StatePlace = Pick<Config, 'stateDir' | 'mountpoint'>

export function stateDirOf (config: StatePlace): string {
  return config.stateDir ?? join('/run/objfs', escapeMountpoint(config.mountpoint))
}

const KEEPER_DIR = 'keeper-'

const KEEPER_DIR_NAME = new RegExp(`^${KEEPER_DIR}([1-9]\\d*)$`)

/** What keeper `keeper`'s serving processes hand each other. */
export const keeperDirOf = (config: StatePlace, keeper: number): string => join(stateDirOf(config), `${KEEPER_DIR}${keeper}`)

/** The keeper whose directory `name` is, or undefined for any other name in the state directory. */
export function keeperOfDir (name: string): number | undefined {
  const m = KEEPER_DIR_NAME.exec(name)
  return m === null ? undefined : Number(m[1])
}

/** The write journal's segments (src/blocks/journal.ts) in `dir`: a keeper's, or the state directory before those. */
export const journalIn = (dir: string): string => join(dir, 'journal')

/** The serving process's nodeids and their objects, for a successor (src/inode/nodeid-log.ts), in `dir` as journalIn. */
export const nodeidLogIn = (dir: string): string => join(dir, 'nodeids.log')

export const journalDirOf = (config: StatePlace, keeper: number): string => journalIn(keeperDirOf(config, keeper))
export const nodeidLogOf = (config: StatePlace, keeper: number): string => nodeidLogIn(keeperDirOf(config, keeper))

/** A keeper's connection, for the keepers mounted at the same place after it (predecessors.ts). */
export const connectionFileOf = (config: StatePlace, keeper: number): string => join(keeperDirOf(config, keeper), 'connection')

export function writeKeeperConnection (config: StatePlace, connection: Connection): void {
  try {
    mkdirSync(keeperDirOf(config, process.pid), { recursive: true, mode: 0o700 })
    writeFileSync(connectionFileOf(config, process.pid), JSON.stringify(connection))
  } catch {
    // A later mount at the same place then does not wait for this keeper to store.
  }
}

/** A connection file's text; objfs before the fusectl inode wrote the bare id. */
export function parseConnection (text: string): Connection | undefined {
  let v: unknown
  try {
    v = JSON.parse(text)
  } catch {
    return undefined
  }
  if (Number.isSafeInteger(v)) return { id: v as number }
  if (typeof v !== 'object' || v === null) return undefined
  const { id, ino, fusectl } = v as Record<string, unknown>
  if (!Number.isSafeInteger(id)) return undefined
  if (!Number.isSafeInteger(ino) || !Number.isSafeInteger(fusectl)) return { id: id as number }
  return { id: id as number, ino: ino as number, fusectl: fusectl as number }
}

/** The keepers with a directory in the state directory, live or not. */
export function keepersIn (config: StatePlace): number[] {
  let names: string[]
  try {
    names = readdirSync(stateDirOf(config))
  } catch {
    return []
  }
  return names.map(keeperOfDir).filter(k => k !== undefined)
}

/** A keeper with a directory in the state directory, and its connection where recorded. */
export interface RecordedKeeper { keeper: number, connection: Connection | undefined }

/** Keepers with a directory here, other than this process. */
export function otherKeepers (config: StatePlace): RecordedKeeper[] {
  const found = []
  for (const keeper of keepersIn(config)) {
    if (keeper === process.pid) continue
    let connection: Connection | undefined
    try {
      connection = parseConnection(readFileSync(connectionFileOf(config, keeper), 'utf8'))
    } catch {}
    found.push({ keeper, connection })
  }
  return found
}

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
 * goes (its nodeid log, and the keeper file if it still names this
 * keeper: a remount may already be live). Its journal directory and the
 * state directory go only if empty: journal segments left by a failure are
 * data acknowledged and not stored, kept for whoever looks.
 */
export function clearKeeperState (config: StatePlace): void {
  const dir = stateDirOf(config)
  if (readKeeperState(config)?.keeper === process.pid) rmSync(join(dir, 'keeper.json'), { force: true })
  dropKeeperDir(config, process.pid)
  try { rmdirSync(dir) } catch {}
}

/**
 * What only keeper `keeper`'s serving processes could use goes (its nodeid
 * log and connection); its journal directory and its own go if empty.
 */
export function dropKeeperDir (config: StatePlace, keeper: number): void {
  rmSync(nodeidLogOf(config, keeper), { force: true })
  rmSync(connectionFileOf(config, keeper), { force: true })
  for (const d of [journalDirOf(config, keeper), keeperDirOf(config, keeper)]) {
    try { rmdirSync(d) } catch {}
  }
}
