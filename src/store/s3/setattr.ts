// Attribute and xattr changes. A staged file changes in memory (its commit
// carries everything); a committed file is copied onto itself with new
// metadata (CopyObject, MetadataDirective REPLACE: the data stays on the
// server); a directory rewrites its marker, creating it if the directory
// had none. Truncating a committed file stages it.
import { FsError, errno as E } from '../../errors.ts'
import type { ObjectAttr, SetAttr } from '../types.ts'
import { XATTR_CREATE, XATTR_REPLACE } from '../types.ts'
import { METADATA_MAX, S_IFMT, metadataBytes, metadataOf } from './attrs.ts'
import { isDirId } from './keys.ts'
import type { ObjectInfo } from './meta.ts'
import { resolveDir, stagedById, visible } from './names.ts'
import { nowTimespec as now } from '../../time.ts'
import type { Session } from './session.ts'
import type { Staged } from './staging.ts'
import { schedule, stageCommitted, version, withStaged } from './files.ts'
import { DIR_CONTENT_TYPE, copyObject, putObject } from './write.ts'

const empty = (c: SetAttr): boolean => Object.values(c).every(v => v === undefined)

/** `a` with the changes applied; ctime moves to now unless given. */
function applied (a: ObjectAttr, c: SetAttr): ObjectAttr {
  const t = now()
  const next = { ...a }
  if (c.mode !== undefined) next.mode = (a.mode & S_IFMT) | (c.mode & 0o7777)
  if (c.uid !== undefined) next.uid = c.uid
  if (c.gid !== undefined) next.gid = c.gid
  if (c.atime !== undefined) next.atime = c.atime
  if (c.mtime !== undefined) next.mtime = c.mtime
  if (c.size !== undefined && c.size !== a.size) {
    next.size = c.size
    if (c.mtime === undefined) next.mtime = t
  }
  next.ctime = c.ctime ?? t
  return next
}

function checkMetadata (attr: ObjectAttr, xattrs: ReadonlyMap<string, Uint8Array>): void {
  if (metadataBytes(metadataOf(attr, xattrs)) > METADATA_MAX) throw new FsError(E.E2BIG, 'S3 metadata is limited to 2 KiB per object')
}

async function changeStaged (s: Session, st: Staged, c: SetAttr): Promise<ObjectAttr> {
  const next = applied(st.attr, c)
  if (c.size !== undefined && c.size !== st.attr.size) await st.resize(c.size, s.blockSize)
  st.attr = next
  st.dirty = true
  st.save()
  // A commit already scheduled (the file was closed) takes the change along.
  if (st.timer !== undefined) schedule(s, st)
  return { ...next }
}

export async function setattr (s: Session, id: string, c: SetAttr): Promise<ObjectAttr> {
  if (isDirId(id)) {
    if (c.size !== undefined) throw new FsError(E.EISDIR)
    const info = await resolveDir(s, id)
    const current = visible(s, info)
    if (empty(c)) return current
    const next = applied(current, c)
    await writeDir(s, id, info, next, info.xattrs)
    return next
  }
  const staged = await withStaged(s, id, undefined, async st => empty(c) ? { ...st.attr } : await changeStaged(s, st, c))
  if (staged !== undefined) return staged
  const info = await version(s, id)
  if (empty(c)) return { ...info.attr }
  if (c.size !== undefined && c.size !== info.attr.size) {
    // A truncate with no open handle gets no close: its commit is scheduled here.
    return await withStaged(s, id, async () => await stageCommitted(s, id), async st => {
      const attr = await changeStaged(s, st, c)
      schedule(s, st)
      return attr
    }) as ObjectAttr
  }
  const next = applied(info.attr, c)
  await rewriteFile(s, id, info, next, info.xattrs)
  return next
}

/** New metadata for a committed file, by a copy onto itself. */
async function rewriteFile (s: Session, key: string, info: ObjectInfo, attr: ObjectAttr, xattrs: Map<string, Uint8Array>): Promise<void> {
  checkMetadata(attr, xattrs)
  const etag = await copyObject(s, key, info.etag, info.attr.size, key, metadataOf(attr, xattrs), info.contentType)
  s.meta.set(key, { ...info, attr, etag: etag ?? info.etag, lastModified: 0, xattrs })
}

/** A directory's attributes go to its marker (created if missing); the bucket root has none and keeps them in memory. */
async function writeDir (s: Session, dirId: string, info: ObjectInfo, attr: ObjectAttr, xattrs: Map<string, Uint8Array>): Promise<void> {
  checkMetadata(attr, xattrs)
  let etag = info.etag
  let marker = info.marker
  if (dirId !== '') {
    etag = await putObject(s, dirId, new Uint8Array(0), metadataOf(attr, xattrs), DIR_CONTENT_TYPE)
    marker = true
  } else {
    if (xattrs.size > 0 || info.xattrs.size > 0) throw new FsError(E.EOPNOTSUPP, 'the root of a bucket has no object to keep attributes in')
    s.rootOverride = { mode: attr.mode, uid: attr.uid, gid: attr.gid }
  }
  s.meta.set(dirId, { ...info, attr, etag, marker, xattrs, lastModified: 0 })
  s.dirTimes.set(dirId, { mtime: attr.mtime, ctime: attr.ctime })
}

async function xattrsOf (s: Session, id: string): Promise<Map<string, Uint8Array>> {
  if (isDirId(id)) return (await resolveDir(s, id)).xattrs
  const st = stagedById(s, id)
  if (st !== undefined) return st.xattrs
  return (await version(s, id)).xattrs
}

export async function getxattr (s: Session, id: string, name: string): Promise<Uint8Array> {
  const v = (await xattrsOf(s, id)).get(name)
  if (v === undefined) throw new FsError(E.ENODATA)
  return Uint8Array.from(v)
}

export async function listxattr (s: Session, id: string): Promise<string[]> {
  return [...(await xattrsOf(s, id)).keys()]
}

/** Change one xattr (a value, or undefined to remove it). */
async function changeXattr (s: Session, id: string, name: string, change: (x: Map<string, Uint8Array>) => void): Promise<void> {
  if (isDirId(id)) {
    const info = await resolveDir(s, id)
    const x = new Map(info.xattrs)
    change(x)
    await writeDir(s, id, info, { ...visible(s, info), ctime: now() }, x)
    return
  }
  const done = await withStaged(s, id, undefined, async st => {
    const x = new Map(st.xattrs)
    change(x)
    const attr = { ...st.attr, ctime: now() }
    checkMetadata(attr, x)
    st.xattrs = x
    st.attr = attr
    st.dirty = true
    st.save()
    return true
  })
  if (done === true) return
  const info = await version(s, id)
  const x = new Map(info.xattrs)
  change(x)
  await rewriteFile(s, id, info, { ...info.attr, ctime: now() }, x)
}

export async function setxattr (s: Session, id: string, name: string, value: Uint8Array, flags: number): Promise<void> {
  await changeXattr(s, id, name, x => {
    if ((flags & XATTR_CREATE) !== 0 && x.has(name)) throw new FsError(E.EEXIST)
    if ((flags & XATTR_REPLACE) !== 0 && !x.has(name)) throw new FsError(E.ENODATA)
    x.set(name, Uint8Array.from(value))
  })
}

export async function removexattr (s: Session, id: string, name: string): Promise<void> {
  await changeXattr(s, id, name, x => {
    if (!x.delete(name)) throw new FsError(E.ENODATA)
  })
}
