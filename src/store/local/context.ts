// What every operation of one LocalStore instance works with, and the
// transaction and row helpers they share.
import type { DatabaseSync } from 'node:sqlite'
import { FsError, errno as E } from '../../errors.ts'
import type { BlockFiles } from './blocks.ts'
import type { Group } from './group.ts'
import type { Inos } from './inos.ts'
import { isDir, rowOf, type ObjectRow } from './rows.ts'
import type { Statements } from './statements.ts'

export interface Ctx {
  readonly db: DatabaseSync
  readonly st: Statements
  readonly files: BlockFiles
  readonly blockSize: number
  /** This instance's range of inode numbers for new objects. */
  readonly inos: Inos
  /** Told of every commit (the checkpoint thread, checkpoint.ts). */
  readonly committed?: () => void
  /** The serving instance's group commit (group.ts); set once the store is open. */
  group?: Group
}

/**
 * Run `fn` as one IMMEDIATE transaction (or, on the serving instance, one
 * change of its group): the write lock is taken up front,
 * so a read-modify-write by another instance (another thread or process)
 * can never interleave and lose an update. `fn` is synchronous: nothing
 * else of this instance runs while the lock is held. `logged` false: a change
 * a crash may lose, as nobody was answered it (group.ts).
 */
export function transaction<T> (ctx: Pick<Ctx, 'db' | 'st' | 'committed' | 'group'>, fn: () => T, logged = true): T {
  if (ctx.group?.grouping === true) return ctx.group.change(fn, logged)
  const { db, st } = ctx
  st.begin.run()
  try {
    const result = fn()
    st.commit.run()
    ctx.committed?.()
    return result
  } catch (err) {
    if (db.isTransaction) st.rollback.run()
    throw err
  }
}

export function findRow (st: Statements, id: string): ObjectRow | undefined {
  const a = st.getObject.get(id) as unknown[] | undefined
  return a === undefined ? undefined : rowOf(a)
}

/** The object's row; ENOENT once it has been reclaimed. */
export function getRow (st: Statements, id: string): ObjectRow {
  const row = findRow(st, id)
  if (row === undefined) throw new FsError(E.ENOENT)
  return row
}

/** ENOENT once the object has been reclaimed; for checks that need nothing of its row. */
export function checkExists (st: Statements, id: string): void {
  if (st.hasObject.get(id) === undefined) throw new FsError(E.ENOENT)
}

/** The type and link count of an object; ENOENT once it has been reclaimed. */
export function getKind (st: Statements, id: string): { mode: number, nlink: number } {
  const a = st.objectKind.get(id) as [number, number] | undefined
  if (a === undefined) throw new FsError(E.ENOENT)
  return { mode: a[0], nlink: a[1] }
}

/**
 * A directory that can still gain entries. A removed directory (nlink 0)
 * may still be open, but creating in it is ENOENT, as on Linux.
 */
export function checkLiveDir (st: Statements, id: string): void {
  const dir = getKind(st, id)
  if (!isDir(dir.mode)) throw new FsError(E.ENOTDIR)
  if (dir.nlink === 0) throw new FsError(E.ENOENT)
}

export function lookupRow (st: Statements, parent: string, name: string): ObjectRow | undefined {
  const a = st.lookup.get(parent, name) as unknown[] | undefined
  return a === undefined ? undefined : rowOf(a)
}

export function hasEntry (st: Statements, parent: string, name: string): boolean {
  return st.hasEntry.get(parent, name) !== undefined
}
