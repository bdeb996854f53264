// Names: create, link, remove, and reclaiming what lost its last name.
// Each metadata change is one IMMEDIATE transaction.
import { randomUUID } from 'node:crypto'
import { FsError, errno as E } from '../../errors.ts'
import type { CreateSpec, ObjectAttr, RemoveResult } from '../types.ts'
import { getLiveDir, getRow, findRow, lookupRow, transaction, type Ctx } from './context.ts'
import {
  PATH_MAX, S_IFBLK, S_IFCHR, S_IFLNK, S_IFMT, checkName, isCreatableType, isDir, now, toAttr, type ObjectRow,
} from './rows.ts'
import { OBJECT_COLUMN_NAMES } from './statements.ts'

/** Every block index: the upper bound of "all blocks of an object". */
export const ALL = Number.MAX_SAFE_INTEGER

function checkSpec (spec: CreateSpec): void {
  if (!isCreatableType(spec.mode)) throw new FsError(E.EINVAL, `cannot create an object of mode 0o${spec.mode.toString(8)}`)
  if ((spec.mode & S_IFMT) !== S_IFLNK) return
  if (typeof spec.target !== 'string' || spec.target === '') throw new FsError(E.ENOENT, 'a symlink needs a target')
  if (Buffer.byteLength(spec.target, 'utf8') >= PATH_MAX) throw new FsError(E.ENAMETOOLONG)
}

function newRow (ino: number, spec: CreateSpec): ObjectRow {
  const t = now()
  const type = spec.mode & S_IFMT
  const symlink = type === S_IFLNK
  return {
    id: randomUUID(),
    ino,
    mode: spec.mode,
    nlink: isDir(spec.mode) ? 2 : 1,
    uid: spec.uid,
    gid: spec.gid,
    size: symlink ? Buffer.byteLength(spec.target as string, 'utf8') : 0,
    rdev: type === S_IFCHR || type === S_IFBLK ? (spec.rdev ?? 0) : 0,
    atime_s: t.sec, atime_ns: t.nsec, mtime_s: t.sec, mtime_ns: t.nsec, ctime_s: t.sec, ctime_ns: t.nsec,
    target: symlink ? spec.target as string : null,
  }
}

export function create (ctx: Ctx, parent: string, name: string, spec: CreateSpec): ObjectAttr {
  checkName(name)
  checkSpec(spec)
  const { db, st } = ctx
  return transaction(db, () => {
    getLiveDir(st, parent)
    if (lookupRow(st, parent, name) !== undefined) throw new FsError(E.EEXIST)
    const { ino } = st.takeIno.get() as { ino: number }
    const row = newRow(ino, spec)
    st.insertObject.run(...OBJECT_COLUMN_NAMES.map(c => row[c as keyof ObjectRow]))
    st.insertEntry.run(parent, name, row.id)
    // A subdirectory's ".." is one more link to its parent.
    if (isDir(row.mode)) st.addNlink.run(1, parent)
    st.touchMtime.run(row.mtime_s, row.mtime_ns, row.ctime_s, row.ctime_ns, parent)
    return toAttr(row)
  })
}

export function link (ctx: Ctx, id: string, parent: string, name: string): ObjectAttr {
  checkName(name)
  const { db, st } = ctx
  return transaction(db, () => {
    const obj = getRow(st, id)
    if (isDir(obj.mode)) throw new FsError(E.EPERM, 'hard links to directories are not allowed')
    // Linux refuses to give a name back to an unlinked file (short of O_TMPFILE).
    if (obj.nlink === 0) throw new FsError(E.ENOENT)
    getLiveDir(st, parent)
    if (lookupRow(st, parent, name) !== undefined) throw new FsError(E.EEXIST)
    const t = now()
    st.insertEntry.run(parent, name, id)
    st.addNlink.run(1, id)
    st.touchCtime.run(t.sec, t.nsec, id)
    st.touchMtime.run(t.sec, t.nsec, t.sec, t.nsec, parent)
    return toAttr(getRow(st, id))
  })
}

export function remove (ctx: Ctx, parent: string, name: string, dir: boolean): RemoveResult {
  checkName(name)
  const { db, st } = ctx
  return transaction(db, () => {
    if (!isDir(getRow(st, parent).mode)) throw new FsError(E.ENOTDIR)
    const child = lookupRow(st, parent, name)
    if (child === undefined) throw new FsError(E.ENOENT)
    const childIsDir = isDir(child.mode)
    if (dir && !childIsDir) throw new FsError(E.ENOTDIR)
    if (!dir && childIsDir) throw new FsError(E.EISDIR)
    if (childIsDir && st.hasChildren.get(child.id) !== undefined) throw new FsError(E.ENOTEMPTY)
    const t = now()
    st.deleteEntry.run(parent, name)
    const nlink = unlinkChild(ctx, parent, child)
    st.touchCtime.run(t.sec, t.nsec, child.id)
    st.touchMtime.run(t.sec, t.nsec, t.sec, t.nsec, parent)
    return { id: child.id as RemoveResult['id'], nlink }
  })
}

/**
 * Account for `child` losing its entry in `parent` (the entry is already
 * gone); returns its remaining link count. A directory loses both its name
 * and its "." at once, and its parent loses the "..".
 */
export function unlinkChild (ctx: Ctx, parent: string, child: ObjectRow): number {
  if (!isDir(child.mode)) {
    ctx.st.addNlink.run(-1, child.id)
    return child.nlink - 1
  }
  ctx.st.addNlink.run(-child.nlink, child.id)
  ctx.st.addNlink.run(-1, parent)
  return 0
}

/**
 * Delete an object that has no names left, with its xattrs and blocks.
 * Rows go first, in one transaction, files after: a crash in between leaves
 * unreferenced files for fsck, never a row pointing at a missing file.
 */
export function reclaim (ctx: Ctx, id: string): void {
  const { db, st, files } = ctx
  const dropped = transaction(db, () => {
    const row = findRow(st, id)
    if (row === undefined || row.nlink > 0) return null
    const indexes = (st.blocksIn.all(id, 0, ALL) as Array<{ idx: number }>).map(r => r.idx)
    st.deleteBlocksIn.run(id, 0, ALL)
    st.deleteXattrs.run(id)
    st.deleteObject.run(id)
    return indexes
  })
  if (dropped !== null) files.remove(id, dropped)
}
