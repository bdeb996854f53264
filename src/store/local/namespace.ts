// Names: create, link, remove, and reclaiming what lost its last name.
// Each metadata change is one IMMEDIATE transaction, or one change of the
// serving instance's group (context.ts transaction, group.ts).
import { randomUUID } from 'node:crypto'
import { FsError, errno as E } from '../../errors.ts'
import type { CreateSpec, ObjectAttr, RemoveResult, Timespec } from '../types.ts'
import { checkLiveDir, getKind, getRow, hasEntry, transaction, type Ctx } from './context.ts'
import {
  PATH_MAX, S_IFBLK, S_IFCHR, S_IFLNK, S_IFMT, checkName, isCreatableType, isDir, isReg, toAttr, type ObjectRow,
} from './rows.ts'
import { nowTimespec as now } from '../../time.ts'

/** Every block index: the upper bound of "all blocks of an object". */
export const ALL = Number.MAX_SAFE_INTEGER

function checkSpec (spec: CreateSpec): void {
  if (!isCreatableType(spec.mode)) throw new FsError(E.EINVAL, `cannot create an object of mode 0o${spec.mode.toString(8)}`)
  if ((spec.mode & S_IFMT) !== S_IFLNK) return
  if (typeof spec.target !== 'string' || spec.target === '') throw new FsError(E.ENOENT, 'a symlink needs a target')
  if (Buffer.byteLength(spec.target, 'utf8') >= PATH_MAX) throw new FsError(E.ENAMETOOLONG)
}

/** `named` false: an unnamed file (createUnnamed), no link yet. */
function newRow (ino: number, spec: CreateSpec, named: boolean): ObjectRow {
  const t = now()
  const type = spec.mode & S_IFMT
  const symlink = type === S_IFLNK
  return {
    id: randomUUID(),
    ino,
    mode: spec.mode,
    nlink: !named ? 0 : isDir(spec.mode) ? 2 : 1,
    uid: spec.uid,
    gid: spec.gid,
    size: symlink ? Buffer.byteLength(spec.target as string, 'utf8') : 0,
    rdev: type === S_IFCHR || type === S_IFBLK ? (spec.rdev ?? 0) : 0,
    atime_s: t.sec, atime_ns: t.nsec, mtime_s: t.sec, mtime_ns: t.nsec, ctime_s: t.sec, ctime_ns: t.nsec,
    target: symlink ? spec.target as string : null,
    stored: 0,
  }
}

export function create (ctx: Ctx, parent: string, name: string, spec: CreateSpec): ObjectAttr {
  checkName(name)
  return insert(ctx, parent, spec, name)
}

/**
 * A regular file with no name (O_TMPFILE): nlink 0 from the start, an
 * orphan like an unlinked open file, until `link` gives it a name; freed
 * by `reclaim`, or at the next open if it never got one. The directory is
 * only where it was asked for, and does not change.
 */
export function createUnnamed (ctx: Ctx, parent: string, spec: CreateSpec): ObjectAttr {
  if (!isReg(spec.mode)) throw new FsError(E.EINVAL, 'only a regular file can be made without a name')
  return insert(ctx, parent, spec, null)
}

function insert (ctx: Ctx, parent: string, spec: CreateSpec, name: string | null): ObjectAttr {
  checkSpec(spec)
  const { st, inos } = ctx
  inos.begin()
  try {
    return transaction(ctx, () => {
      checkLiveDir(st, parent)
      if (name !== null && hasEntry(st, parent, name)) throw new FsError(E.EEXIST)
      const r = newRow(inos.take(st), spec, name !== null)
      st.insertObject.run(r.id, r.ino, r.mode, r.nlink, r.uid, r.gid, r.size, r.rdev,
        r.atime_s, r.atime_ns, r.mtime_s, r.mtime_ns, r.ctime_s, r.ctime_ns, r.target)
      if (name !== null) enter(st, parent, name, r)
      return toAttr(r)
    })
  } catch (err) {
    inos.drop()
    throw err
  }
}

/** The new object `r`'s entry in `parent`, whose mtime moves. */
function enter (st: Ctx['st'], parent: string, name: string, r: ObjectRow): void {
  st.insertEntry.run(parent, name, r.id)
  if (isDir(r.mode)) st.setParent.run(parent, r.id)
  // A subdirectory's ".." is one more link to its parent.
  st.touchDir.run(isDir(r.mode) ? 1 : 0, r.mtime_s, r.mtime_ns, r.ctime_s, r.ctime_ns, parent)
}

export function link (ctx: Ctx, id: string, parent: string, name: string): ObjectAttr {
  checkName(name)
  const { st } = ctx
  return transaction(ctx, () => {
    const obj = getRow(st, id)
    if (isDir(obj.mode)) throw new FsError(E.EPERM, 'hard links to directories are not allowed')
    // nlink 0: an unnamed file (createUnnamed) getting its first name. The
    // kernel lets only those through (I_LINKABLE): an unlinked file stays unnamed.
    checkLiveDir(st, parent)
    if (hasEntry(st, parent, name)) throw new FsError(E.EEXIST)
    const t = now()
    st.insertEntry.run(parent, name, id)
    st.addLinks.run(1, t.sec, t.nsec, id)
    st.touchDir.run(0, t.sec, t.nsec, t.sec, t.nsec, parent)
    // What addLinks wrote; the parent is a directory, never this object.
    return toAttr({ ...obj, nlink: obj.nlink + 1, ctime_s: t.sec, ctime_ns: t.nsec })
  })
}

export function remove (ctx: Ctx, parent: string, name: string, dir: boolean): RemoveResult {
  checkName(name)
  const { st } = ctx
  return transaction(ctx, () => {
    const found = st.lookupKind.get(parent, name) as [string, number, number] | undefined
    if (found === undefined) {
      // Only a miss pays for telling "no such name" from "no such directory".
      if (!isDir(getKind(st, parent).mode)) throw new FsError(E.ENOTDIR)
      throw new FsError(E.ENOENT)
    }
    const child = { id: found[0], mode: found[1], nlink: found[2] }
    const childIsDir = isDir(child.mode)
    if (dir && !childIsDir) throw new FsError(E.ENOTDIR)
    if (!dir && childIsDir) throw new FsError(E.EISDIR)
    if (childIsDir && st.hasChildren.get(child.id) !== undefined) throw new FsError(E.ENOTEMPTY)
    const t = now()
    st.deleteEntry.run(parent, name)
    const nlink = unlinkChild(ctx, child, t)
    // A removed subdirectory's ".." was a link to its parent.
    st.touchDir.run(childIsDir ? -1 : 0, t.sec, t.nsec, t.sec, t.nsec, parent)
    return { id: child.id as RemoveResult['id'], nlink }
  })
}

/**
 * Account for `child` losing an entry (the entry is already gone): its link
 * count and ctime; returns its remaining link count. A directory loses its
 * name and its "." at once; its parent's ".." link is the caller's to drop.
 */
export function unlinkChild (ctx: Ctx, child: Pick<ObjectRow, 'id' | 'mode' | 'nlink'>, t: Timespec): number {
  const lost = isDir(child.mode) ? child.nlink : 1
  ctx.st.addLinks.run(-lost, t.sec, t.nsec, child.id)
  return child.nlink - lost
}

/**
 * Delete objects that have no names left, with their xattrs and blocks, in
 * one transaction. The data file goes before the rows: on a full disk the
 * commit needs the room they hold. Nothing reads an orphan again, so a
 * commit that fails, or a crash, leaves only an orphan whose rows name
 * missing files; the next try (this mount's, or the next mount's) deletes them.
 * Hence no redo record either (group.ts): a crash before the group's commit
 * only leaves such orphans.
 */
export function reclaim (ctx: Ctx, ids: Iterable<string>): void {
  const { st, files } = ctx
  transaction(ctx, () => {
    for (const id of ids) {
      const kind = st.objectKind.get(id) as [number, number] | undefined
      if (kind === undefined || kind[1] > 0) continue
      if (st.blocksIn.get(id, 0, ALL) !== undefined) {
        files.remove(id)
        st.deleteBlocksIn.run(id, 0, ALL)
      }
      st.deleteXattrs.run(id)
      st.deleteObject.run(id)
    }
  }, false)
}
