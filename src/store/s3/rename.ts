// rename(2) over keys. S3 has no rename: a committed object is copied on
// the server (CopyObject, a multipart copy above 5 GiB) and the original
// deleted; a directory is every key below its prefix, moved one by one, so
// a directory rename is not atomic and costs a copy per object below it
// (README "S3"). A staged file that was never uploaded is only re-keyed:
// its single upload happens later, under the new name. A file large
// enough to be uploading while written (stream_threshold) is committed
// where it is and copied.
//
// Ids are keys, so a rename changes identities: `moved` tells the daemon,
// which re-keys its inodes (open handles follow).
import { ListObjectsV2Command, type ListObjectsV2CommandOutput } from '@aws-sdk/client-s3'
import PQueue from 'p-queue'
import { FsError, errno as E } from '../../errors.ts'
import { logger } from '../../log.ts'
import type { RenameResult, Timespec } from '../types.ts'
import { RENAME_EXCHANGE, RENAME_NOREPLACE } from '../types.ts'
import { metadataOf } from './attrs.ts'
import { asFsError } from './client.ts'
import { childKey, inoOf, nameOf, parentOf } from './keys.ts'
import { head, type ObjectInfo } from './meta.ts'
import { changed, deleteKey, isEmptyDir, resolveDir, resolveName } from './names.ts'
import { nowTimespec as now } from '../../time.ts'
import type { Session } from './session.ts'
import { commitLocked, commitNow, version } from './files.ts'
import { COPY_SINGLE_MAX, copyObject } from './write.ts'

type Moved = NonNullable<RenameResult['moved']>[number]

const log = logger('s3')

const idOf = (key: string, info: ObjectInfo): string => info.kind === 'dir' ? `${key}/` : key

export async function rename (s: Session, parent: string, name: string, newParent: string, newName: string, flags: number): Promise<RenameResult> {
  if ((flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE)) !== 0 || flags === (RENAME_NOREPLACE | RENAME_EXCHANGE)) throw new FsError(E.EINVAL)
  const from = childKey(parent, name)
  const to = childKey(newParent, newName)
  const src = await resolveName(s, from)
  if (src === null) throw new FsError(E.ENOENT)
  if (newParent !== s.root) await resolveDir(s, newParent)
  if (from === to) return {}
  const dst = await resolveName(s, to)
  const exchange = (flags & RENAME_EXCHANGE) !== 0
  if (exchange && dst === null) throw new FsError(E.ENOENT)
  // A directory cannot move into its own subtree (nor, exchanging, the other way round).
  if (src.kind === 'dir' && newParent.startsWith(`${from}/`)) throw new FsError(E.EINVAL)
  if (exchange && dst?.kind === 'dir' && parent.startsWith(`${to}/`)) throw new FsError(E.EINVAL)
  const t = now()
  if (exchange) return await swap(s, parent, from, src, newParent, to, dst as ObjectInfo, t)
  let replaced: RenameResult['replaced']
  if (dst !== null) {
    if ((flags & RENAME_NOREPLACE) !== 0) throw new FsError(E.EEXIST)
    if (src.kind === 'dir' && dst.kind !== 'dir') throw new FsError(E.ENOTDIR)
    if (src.kind !== 'dir' && dst.kind === 'dir') throw new FsError(E.EISDIR)
    if (dst.kind === 'dir') {
      if (!await isEmptyDir(s, `${to}/`)) throw new FsError(E.ENOTEMPTY)
      if (dst.marker) await deleteKey(s, `${to}/`)
      s.meta.dropTree(`${to}/`)
    } else {
      dropStaged(s, to)
    }
    // A file replaced gets an unlinked id, as an unlinked one does (names.ts): open handles
    // on it must not reach the file that takes its key.
    replaced = { id: idOf(to, dst) as never, nlink: 0, orphan: dst.kind === 'dir' ? undefined : s.unlinkedId() as never }
  }
  const moved = await move(s, from, src, to, t, dst !== null)
  changed(s, parent, t, src.kind === 'dir' ? 'recount' : 0)
  changed(s, newParent, t, src.kind === 'dir' ? 'recount' : 0)
  return { replaced, moved: [moved] }
}

/** A staged file being replaced: nothing may upload it any more (the server's copy is overwritten by the move). */
function dropStaged (s: Session, key: string): void {
  const st = s.staged.get(key)
  if (st === undefined) return
  s.staged.delete(key)
  st.drop()
  void st.exclusive(async () => { await st.discard() })
}

async function move (s: Session, from: string, info: ObjectInfo, to: string, t: Timespec, replacing: boolean): Promise<Moved> {
  const moved = info.kind === 'dir' ? await moveDir(s, `${from}/`, `${to}/`) : await moveFile(s, from, to, t, replacing)
  s.meta.child(parentOf(from), nameOf(from), undefined)
  s.meta.child(parentOf(to), nameOf(to), info.kind)
  return moved
}

/** RENAME_EXCHANGE: three moves through a temporary name, reported in order so the daemon re-keys correctly. */
async function swap (s: Session, parent: string, a: string, ai: ObjectInfo, newParent: string, b: string, bi: ObjectInfo, t: Timespec): Promise<RenameResult> {
  const tmp = `${parentOf(a)}.objfs-exchange-${process.pid}-${Date.now().toString(36)}`
  const m1 = await move(s, a, ai, tmp, t, false)
  const m2 = await move(s, b, bi, a, t, false)
  const m3 = await move(s, tmp, ai, b, t, false)
  const dirs = ai.kind === 'dir' || bi.kind === 'dir'
  changed(s, parent, t, dirs ? 'recount' : 0)
  changed(s, newParent, t, dirs ? 'recount' : 0)
  return { moved: [m1, m2, m3] }
}

const RETIRED = Symbol('retired')

async function moveFile (s: Session, from: string, to: string, t: Timespec, replacing: boolean): Promise<Moved> {
  const st = s.staged.get(from)
  let metadataStale = false
  if (st !== undefined && !st.removed) {
    const r = await st.exclusive(async () => {
      if (st.retired) return RETIRED
      // A file never uploaded (or rewritten from scratch) moves as it is:
      // its one upload will go to the new key. Not one streaming parts
      // already (stream.ts): a multipart upload cannot change its key.
      if (st.base === null && st.stream === undefined) {
        s.staged.delete(from)
        if (st.onServer) await deleteKey(s, from)
        st.key = to
        st.onServer = replacing
        st.attr = { ...st.attr, id: to as never, ino: inoOf(s.bucket, to), ctime: t }
        st.dirty = true
        // The manifest stays by the staging file and now names the new key.
        st.save()
        s.staged.set(to, st)
        s.meta.set(from, null)
        s.meta.drop(to)
        return undefined
      }
      // An edit of an uploaded file, or a large one uploading: upload it
      // where it is, then copy (the copy writes the metadata, which an
      // upload begun while the file was written has from that moment).
      metadataStale = await commitLocked(s, st, true)
      return RETIRED
    })
    if (r !== RETIRED) return { from: from as never, to: to as never, subtree: false }
  }
  const info = await version(s, from)
  const attr = { ...info.attr, id: to as never, ino: inoOf(s.bucket, to), ctime: t }
  let etag: string | undefined
  try {
    etag = await copyObject(s, from, info.etag, info.attr.size, to, metadataOf(attr, info.xattrs), info.contentType)
  } catch (err) {
    // The file stays where it is: with its own metadata, then.
    if (metadataStale) await fixMetadata(s, from, info)
    throw err
  }
  await deleteKey(s, from)
  s.meta.set(from, null)
  s.meta.set(to, { ...info, attr, etag, lastModified: 0 })
  return { from: from as never, to: to as never, subtree: false }
}

/** Best effort: the object at `key` gets the metadata of `info` (a copy onto itself). */
async function fixMetadata (s: Session, key: string, info: ObjectInfo): Promise<void> {
  try {
    const etag = await copyObject(s, key, info.etag, info.attr.size, key, metadataOf(info.attr, info.xattrs), info.contentType)
    s.meta.set(key, { ...info, etag: etag ?? info.etag, lastModified: 0 })
  } catch (err) {
    s.meta.drop(key)
    log.warn({ key, err: String(err) }, 'a file uploaded before a failed rename keeps the attributes it had when its upload began')
  }
}

/** Every key below `fromId` to the same place below `toId`: all copies first, then the deletes. */
async function moveDir (s: Session, fromId: string, toId: string): Promise<Moved> {
  for (const st of s.stagedBelow(fromId)) await commitNow(s, st)
  const keys: Array<{ key: string, size: number, etag: string | undefined }> = []
  let token: string | undefined
  do {
    let page: ListObjectsV2CommandOutput
    try {
      page = await s.client.send(new ListObjectsV2Command({ Bucket: s.bucket, Prefix: fromId, ContinuationToken: token }))
    } catch (err) {
      throw asFsError(err)
    }
    for (const c of page.Contents ?? []) if (c.Key !== undefined) keys.push({ key: c.Key, size: c.Size ?? 0, etag: c.ETag })
    token = page.IsTruncated === true ? page.NextContinuationToken : undefined
  } while (token !== undefined)
  // Not s.parts: a multipart copy queues its parts there, and waiting on
  // it from inside it could take every slot.
  const copies = new PQueue({ concurrency: 8 })
  await Promise.all(keys.map(async k => await copies.add(async () => {
    const dest = toId + k.key.slice(fromId.length)
    // The attributes travel in the metadata, which a single copy keeps; a
    // multipart copy (above 5 GiB) must be told them.
    if (k.size <= COPY_SINGLE_MAX) return await copyObject(s, k.key, k.etag, k.size, dest, undefined)
    const h = await head(s, k.key)
    if (h !== undefined) await copyObject(s, k.key, h.ETag, h.ContentLength ?? k.size, dest, h.Metadata ?? {}, h.ContentType)
  })))
  await Promise.all(keys.map(async k => await copies.add(async () => { await deleteKey(s, k.key) })))
  s.meta.dropTree(fromId)
  s.meta.dropTree(toId)
  for (const [id, times] of [...s.dirTimes.entries()]) {
    if (!id.startsWith(fromId)) continue
    s.dirTimes.delete(id)
    s.dirTimes.set(toId + id.slice(fromId.length), times)
  }
  return { from: fromId as never, to: toId as never, subtree: true }
}
