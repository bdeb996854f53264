// What every operation of one LocalStore instance works with, and the
// transaction and row helpers they share.
import type { DatabaseSync } from 'node:sqlite'
import { FsError, errno as E } from '../../errors.ts'
import type { BlockFiles } from './blocks.ts'
import { isDir, type ObjectRow } from './rows.ts'
import type { Statements } from './statements.ts'

export interface Ctx {
  readonly db: DatabaseSync
  readonly st: Statements
  readonly files: BlockFiles
  readonly blockSize: number
}

/**
 * Run `fn` as one IMMEDIATE transaction: the write lock is taken up front,
 * so a read-modify-write by another instance (another thread or process)
 * can never interleave and lose an update. `fn` is synchronous: nothing
 * else of this instance runs while the lock is held.
 */
export function transaction<T> (db: DatabaseSync, fn: () => T): T {
  db.exec('BEGIN IMMEDIATE')
  try {
    const result = fn()
    db.exec('COMMIT')
    return result
  } catch (err) {
    if (db.isTransaction) db.exec('ROLLBACK')
    throw err
  }
}

export function findRow (st: Statements, id: string): ObjectRow | undefined {
  return st.getObject.get(id) as ObjectRow | undefined
}

/** The object's row; ENOENT once it has been reclaimed. */
export function getRow (st: Statements, id: string): ObjectRow {
  const row = findRow(st, id)
  if (row === undefined) throw new FsError(E.ENOENT)
  return row
}

/**
 * A directory that can still gain entries. A removed directory (nlink 0)
 * may still be open, but creating in it is ENOENT, as on Linux.
 */
export function getLiveDir (st: Statements, id: string): ObjectRow {
  const row = getRow(st, id)
  if (!isDir(row.mode)) throw new FsError(E.ENOTDIR)
  if (row.nlink === 0) throw new FsError(E.ENOENT)
  return row
}

export function lookupRow (st: Statements, parent: string, name: string): ObjectRow | undefined {
  return st.lookup.get(parent, name) as ObjectRow | undefined
}
