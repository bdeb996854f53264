// Names: lookup, getattr, create and remove, over the server's keys and
// the files being written here.
import { DeleteObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3'
import { FsError, errno as E } from '../../errors.ts'
import { logger } from '../../log.ts'
import type { CreateSpec, ObjectAttr, RemoveResult, Timespec } from '../types.ts'
import { S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG, S_IFSOCK, metadataOf } from './attrs.ts'
import { asFsError, isNotFound } from './client.ts'
import { childKey, inoOf, isDirId } from './keys.ts'
import { dirAttr } from './list.ts'
import { fetchDir, fetchFile, fetchName, type ObjectInfo } from './meta.ts'
import type { Session } from './session.ts'
import { Staged } from './staging.ts'
import { schedule, stagedAttr } from './files.ts'
import { DIR_CONTENT_TYPE, putObject } from './write.ts'
import { nowTimespec as now } from '../../time.ts'

const log = logger('s3')

/** What `key` (no trailing slash) names now: a staged file, or the server's answer (cached for metadata_ttl). */
export async function resolveName (s: Session, key: string): Promise<ObjectInfo | null> {
  const st = s.staged.get(key)
  if (st !== undefined && !st.removed) {
    return { kind: 'file', attr: stagedAttr(st), etag: undefined, lastModified: 0, xattrs: st.xattrs, marker: false, contentType: st.contentType }
  }
  const known = s.meta.get(key)
  return known !== undefined ? known : await fetchName(s, key)
}

/** The directory `dirId`, or ENOENT. */
export async function resolveDir (s: Session, dirId: string): Promise<ObjectInfo> {
  const known = s.meta.get(dirId)
  const info = known !== undefined && (known === null || known.kind === 'dir') ? known : await fetchDir(s, dirId)
  if (info === null || info.kind !== 'dir') throw new FsError(E.ENOENT)
  return info
}

/** The attributes the caller sees: directories carry this mount's time changes. */
export const visible = (s: Session, info: ObjectInfo): ObjectAttr => info.kind === 'dir' ? dirAttr(s, info.attr) : { ...info.attr }

export async function lookup (s: Session, parent: string, name: string): Promise<ObjectAttr | null> {
  if (!isDirId(parent)) return null
  const info = await resolveName(s, childKey(parent, name))
  return info === null ? null : visible(s, info)
}

export async function getattr (s: Session, id: string): Promise<ObjectAttr> {
  if (isDirId(id)) return visible(s, await resolveDir(s, id))
  const st = stagedById(s, id)
  if (st !== undefined) return stagedAttr(st)
  const known = s.meta.get(id)
  const info = known !== undefined && known?.kind !== 'dir' ? known : await fetchFile(s, id)
  if (info === null || info.kind !== 'file') throw new FsError(E.ENOENT)
  return { ...info.attr }
}

const creatable = new Set([S_IFREG, S_IFDIR, S_IFLNK, S_IFIFO, S_IFSOCK, S_IFCHR, S_IFBLK])

export async function create (s: Session, parent: string, name: string, spec: CreateSpec): Promise<ObjectAttr> {
  const key = childKey(parent, name)
  const type = spec.mode & S_IFMT
  if (!creatable.has(type)) throw new FsError(E.EINVAL, `cannot create an object of mode 0o${spec.mode.toString(8)}`)
  if (type === S_IFLNK && (spec.target === undefined || spec.target === '')) throw new FsError(E.ENOENT, 'a symlink needs a target')
  if (parent !== s.root) await resolveDir(s, parent)
  if (await resolveName(s, key) !== null) throw new FsError(E.EEXIST)
  const t = now()
  const dir = type === S_IFDIR
  const id = dir ? `${key}/` : key
  const target = type === S_IFLNK ? Buffer.from(spec.target as string) : undefined
  const attr = newAttr(s, id, spec, dir ? 2 : 1, target?.byteLength ?? 0, t)
  if (dir) {
    const etag = await putObject(s, id, new Uint8Array(0), metadataOf(attr, new Map()), DIR_CONTENT_TYPE)
    s.meta.set(key, { kind: 'dir', attr, etag, lastModified: 0, xattrs: new Map(), marker: true, contentType: DIR_CONTENT_TYPE })
    s.meta.setChildren(id, new Map())
  } else {
    // Staged, not uploaded: the first commit is the object's only upload,
    // so the chmod, utimes and rename that tools do right after creating
    // a file (or a symlink: its target is its content) cost nothing.
    const st = new Staged(key, attr, s.stagingPath(), null, false)
    if (target !== undefined) await st.writeBlocks([{ index: 0, data: target }], s.blockSize)
    st.save()
    s.staged.set(key, st)
    schedule(s, st)
  }
  s.meta.child(parent, name, dir ? 'dir' : 'file')
  changed(s, parent, t, dir ? 1 : 0)
  return { ...attr }
}

/** The attributes of an object this mount makes now (`t`). */
function newAttr (s: Session, id: string, spec: CreateSpec, nlink: number, size: number, t: Timespec): ObjectAttr {
  const type = spec.mode & S_IFMT
  const rdev = type === S_IFCHR || type === S_IFBLK ? spec.rdev ?? 0 : 0
  return { id: id as ObjectAttr['id'], ino: inoOf(s.bucket, id), mode: spec.mode, nlink, uid: spec.uid, gid: spec.gid, size, rdev, atime: t, mtime: t, ctime: t }
}

/**
 * A child of `dirId` came or went: its times move. A subdirectory that
 * came (+1) or went (-1) moves its nlink; 'recount' (renames) makes the
 * next getattr count its subdirectories again.
 */
export function changed (s: Session, dirId: string, t: Timespec, subdirs: number | 'recount'): void {
  s.touchDir(dirId, t)
  if (subdirs === 'recount') s.meta.drop(dirId)
  else if (subdirs !== 0) s.meta.addLinks(dirId, subdirs)
}

/** True when `dirId` has nothing below it but its marker (staged files count). */
export async function isEmptyDir (s: Session, dirId: string): Promise<boolean> {
  if (s.hasStagedBelow(dirId)) return false
  try {
    const page = await s.client.send(new ListObjectsV2Command({ Bucket: s.bucket, Prefix: dirId, MaxKeys: 2 }))
    return (page.Contents ?? []).every(c => c.Key === dirId)
  } catch (err) {
    throw asFsError(err)
  }
}

export async function deleteKey (s: Session, key: string): Promise<void> {
  try {
    await s.client.send(new DeleteObjectCommand({ Bucket: s.bucket, Key: key }))
  } catch (err) {
    if (!isNotFound(err)) throw asFsError(err)
  }
}

export async function remove (s: Session, parent: string, name: string, dir: boolean): Promise<RemoveResult> {
  const key = childKey(parent, name)
  const info = await resolveName(s, key)
  if (info === null) throw new FsError(E.ENOENT)
  const t = now()
  if (info.kind === 'dir') {
    if (!dir) throw new FsError(E.EISDIR)
    const id = `${key}/`
    if (!await isEmptyDir(s, id)) throw new FsError(E.ENOTEMPTY)
    if (info.marker) await deleteKey(s, id)
    s.meta.dropTree(id)
    s.meta.set(id, null)
    s.dirTimes.delete(id)
    s.meta.child(parent, name, undefined)
    changed(s, parent, t, -1)
    return { id: id as ObjectAttr['id'], nlink: 0 }
  }
  if (dir) throw new FsError(E.ENOTDIR)
  const orphan = await removeFile(s, key)
  s.meta.child(parent, name, undefined)
  changed(s, parent, t, 0)
  return { id: key as ObjectAttr['id'], nlink: 0, orphan: orphan as ObjectAttr['id'] }
}

/**
 * Unlink a file; returns the unlinked id it has from then on, its key
 * being free for a new object. A staged file with all its content here
 * (written since it was created or emptied) lives on under that id, for
 * the handles still open on it, until reclaimed. Any other is gone: a
 * committed one is deleted, its open handles read ENOENT; other staged
 * ones are dropped (open handles keep writing into nothing).
 */
export async function removeFile (s: Session, key: string): Promise<string> {
  const st = s.staged.get(key)
  const orphan = s.unlinkedId()
  let onServer = true
  if (st !== undefined) {
    s.staged.delete(key)
    st.drop()
    await st.exclusive(async () => {
      // Retired: a commit that was already running put it on the server and discarded it here.
      if (st.base !== null || st.retired) {
        await st.discard()
        return
      }
      await st.keepUnlinked(orphan)
      s.staged.set(orphan, st)
    })
    onServer = st.onServer || st.retired
  }
  if (onServer) await deleteKey(s, key)
  s.meta.set(key, null)
  return orphan
}

/** A regular file with no name (O_TMPFILE): staged under an unlinked id from the start, never committed. */
export async function createUnnamed (s: Session, parent: string, spec: CreateSpec): Promise<ObjectAttr> {
  if (!isDirId(parent)) throw new FsError(E.ENOTDIR)
  if ((spec.mode & S_IFMT) !== S_IFREG) throw new FsError(E.EINVAL, 'an unnamed object is a regular file')
  if (parent !== s.root) await resolveDir(s, parent)
  const id = s.unlinkedId()
  const attr = newAttr(s, id, spec, 0, 0, now())
  const st = new Staged(id, attr, s.stagingPath(), null, false)
  st.drop()
  await st.keepUnlinked(id)
  s.staged.set(id, st)
  return { ...attr }
}

/** A staged file the caller may see by id: being written, or unlinked but still open. */
export function stagedById (s: Session, id: string): Staged | undefined {
  const st = s.staged.get(id)
  return st !== undefined && (!st.removed || st.unlinked) ? st : undefined
}

/** Hard links need a second name for one object; S3 has one key per object. */
export function refuseLink (): never {
  log.warn('link(2) refused: S3 objects have exactly one name, so hard links are not supported (EPERM)')
  throw new FsError(E.EPERM, 'hard links are not supported on S3')
}
