// Where the local store keeps things on the host, and what a directory holds
// before we dare to use it.
//
//   <dir>/objfs.db (+ -wal, -shm)   metadata (SQLite)
//   <dir>/blocks/<ab>/<uuid>        an object's data (format 5), <ab> = first two hex digits of the uuid
//   <dir>/blocks/<ab>/<uuid>.<idx>  one block's data (formats 1-4; upgraded by data-upgrade.ts)
//   <dir>/reserve                   room for deleting on a full disk (reserve.ts)
//
// Data files are named by object uuid only, never by a user's file name:
// renames never touch them and no user string reaches a host path.
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { ConfigError } from '../../errors.ts'

export const DB_FILE = 'objfs.db'
export const BLOCKS_DIR = 'blocks'
export const RESERVE_FILE = 'reserve'

export class Layout {
  readonly dir: string
  readonly db: string
  readonly blocks: string
  readonly reserve: string

  constructor (dir: string) {
    this.dir = dir
    this.db = join(dir, DB_FILE)
    this.blocks = join(dir, BLOCKS_DIR)
    this.reserve = join(dir, RESERVE_FILE)
  }

  /** The fan-out directory of an object's data: 256 of them keeps each one small. */
  dataDir (id: string): string {
    return join(this.blocks, id.slice(0, 2))
  }

  dataPath (id: string): string {
    return join(this.blocks, id.slice(0, 2), id)
  }

  /** Where formats 1-4 kept one block. */
  legacyBlockPath (id: string, index: number): string {
    return join(this.blocks, id.slice(0, 2), `${id}.${index}`)
  }
}

/** What open() finds at the store's path. */
export type Found = 'absent' | 'empty' | 'store'

/**
 * Classify the directory. A non-empty directory without our database is
 * somebody else's data: refuse it rather than initialise over it.
 */
export function inspect (dir: string): Found {
  let names: string[]
  try {
    if (!statSync(dir).isDirectory()) throw new ConfigError(`${dir} is not a directory; cannot open an objfs store there`)
    names = readdirSync(dir)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'absent'
    if (err instanceof ConfigError) throw err
    throw new ConfigError(`cannot read the store directory ${dir}: ${(err as Error).message}`)
  }
  if (names.length === 0) return 'empty'
  if (names.includes(DB_FILE)) return 'store'
  throw new ConfigError(`${dir} is not empty and holds no objfs store; refusing to initialise over it`)
}
