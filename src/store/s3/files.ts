// File data: reads of committed and staged files, and the life of a staged
// file from the first write to its commit.
//
// Commit points: fsync (sync, at once); close (flush: after commit_delay,
// so rsync's and git's write-close-rename lands once under its final
// name); unmount (close, everything). A failed background commit keeps the
// file staged and dirty and is reported by the next flush or fsync.
import { errno as E, FsError, toErrno } from '../../errors.ts'
import { logger } from '../../log.ts'
import type { ObjectAttr } from '../types.ts'
import { isDirId } from './keys.ts'
import { fetchFile, type ObjectInfo } from './meta.ts'
import { StaleVersion } from './read.ts'
import type { Session } from './session.ts'
import { Staged } from './staging.ts'
import { commit } from './write.ts'

const log = logger('s3')

/** The committed version of a file key; ENOENT when there is none (EISDIR for a directory id). */
export async function version (s: Session, key: string, fresh = false): Promise<ObjectInfo> {
  if (isDirId(key)) throw new FsError(E.EISDIR)
  const known = fresh ? undefined : s.meta.get(key)
  const info = known === undefined ? await fetchFile(s, key) : known
  if (info === null || info.kind !== 'file') throw new FsError(E.ENOENT)
  return info
}

/** A staged copy of a committed file: its content stays on the server until written here. */
export async function stageCommitted (s: Session, key: string): Promise<Staged> {
  const info = await version(s, key)
  if (info.etag === undefined) throw new FsError(E.EIO, `no ETag for ${key}`)
  return new Staged(key, { ...info.attr }, s.stagingPath(), { etag: info.etag, size: info.attr.size }, true, new Map(info.xattrs), info.contentType)
}

const RETIRED = Symbol('retired')

/**
 * Run `fn` in the exclusive section of the staged file `id`, staging it
 * first with `make` when it is not staged (undefined without `make`). The
 * staged object is taken synchronously, before any await: a rename that
 * re-keys it meanwhile takes this call along. If it was committed and
 * retired meanwhile, look again under its current key.
 */
export async function withStaged<T> (s: Session, id: string, make: (() => Promise<Staged>) | undefined, fn: (st: Staged) => Promise<T>): Promise<T | undefined> {
  let key = id
  let st = s.staged.get(key)
  for (;;) {
    if (st === undefined) {
      if (make === undefined) return undefined
      const made = await make()
      st = s.staged.get(key)
      if (st === undefined) {
        st = made
        s.staged.set(key, st)
      }
    }
    const cur: Staged = st
    const r = await cur.exclusive(async () => cur.retired ? RETIRED : await fn(cur))
    if (r !== RETIRED) return r as T
    key = cur.key
    st = s.staged.get(key)
  }
}

/** Commit a staged file now (fsync, unmount, the timer), then let go of its staging. */
export async function commitNow (s: Session, st: Staged): Promise<void> {
  clearTimeout(st.timer)
  st.timer = undefined
  await st.exclusive(async () => { await commitLocked(s, st) })
}

/**
 * commitNow for a caller already in the file's exclusive section. With
 * `copyNext` (a rename about to copy the object), true when the object
 * still needs its metadata written by that copy (write.ts commit).
 */
export async function commitLocked (s: Session, st: Staged, copyNext = false): Promise<boolean> {
  if (st.retired || st.removed) return false
  clearTimeout(st.timer)
  st.timer = undefined
  let metadataStale = false
  if (st.dirty) {
    try {
      const { metadataStale: stale, ...info } = await commit(s, st, copyNext)
      metadataStale = stale === true
      s.meta.set(st.key, info)
    } catch (err) {
      st.error = toErrno(err)
      log.error({ key: st.key, errno: st.error, err: String(err) }, 'uploading a written file failed; it stays staged and is retried at the next close, fsync or unmount')
      throw err
    }
  }
  st.dirty = false
  st.error = 0
  st.retired = true
  if (s.staged.get(st.key) === st) s.staged.delete(st.key)
  await st.discard()
  return metadataStale
}

/** Commit after commit_delay, unless written again first (a writer is busy) or renamed (the timer moves along). */
export function schedule (s: Session, st: Staged): void {
  clearTimeout(st.timer)
  st.timer = setTimeout(() => {
    st.timer = undefined
    s.commits.add(async () => { await commitNow(s, st) }).catch(() => {})
  }, s.opts.commitDelayMs)
  // Unmount commits whatever is pending: the timer alone must not keep the process up.
  st.timer.unref()
}

/** A failed upload of this file (a commit, or a part streamed ahead) is reported once, and the commit retried later. */
function reportFailure (s: Session, st: Staged): void {
  if (st.error === 0) return
  const errno = st.error
  st.error = 0
  schedule(s, st)
  throw new FsError(errno, 'an earlier upload of this file failed; retrying')
}

/** FLUSH: the writer closed the file. */
export async function flushFile (s: Session, id: string): Promise<void> {
  const st = s.staged.get(id)
  if (st === undefined || st.removed) return
  st.saveIfStale()
  reportFailure(s, st)
  if (s.opts.commitDelayMs === 0) await commitNow(s, st)
  else schedule(s, st)
}

/** fsync: upload now. */
export async function syncFile (s: Session, id: string): Promise<void> {
  const st = s.staged.get(id)
  if (st === undefined || st.removed) return
  reportFailure(s, st)
  await commitNow(s, st)
}

/** Bytes of block `index` of a file, staged or committed (see ObjectStore.readBlock). */
export async function readBlock (s: Session, id: string, index: number, offset: number, length: number): Promise<Uint8Array | null> {
  const bs = s.blockSize
  const st = s.staged.get(id)
  if (st !== undefined) {
    const got = await readStaged(s, st, index, offset, length)
    if (got !== RETIRED) return got
  }
  for (let attempt = 0; ; attempt++) {
    const v = await version(s, id, attempt > 0)
    const start = index * bs + offset
    const end = Math.min(v.attr.size, start + length, (index + 1) * bs)
    if (start >= v.attr.size) return null
    try {
      return await s.reader.read({ key: id, etag: v.etag as string, size: v.attr.size }, start, end)
    } catch (err) {
      // Another client replaced the object: look again, once (the fresh
      // HEAD tells the stale-object listeners).
      if (!(err instanceof StaleVersion) || attempt > 0) throw err instanceof StaleVersion ? new FsError(E.EIO, err.message) : err
    }
  }
}

async function readStaged (s: Session, st: Staged, index: number, offset: number, length: number): Promise<Uint8Array | null | typeof RETIRED> {
  const bs = s.blockSize
  try {
    const local = await st.readLocal(index, offset, length, bs)
    if (local !== undefined) return local
  } catch (err) {
    // Committed and discarded while we read: the server has it now.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && st.retired) return RETIRED
    throw err
  }
  if (st.retired) return RETIRED
  const start = index * bs + offset
  const base = st.base
  if (base === null || start >= st.baseLimit) return null
  const end = Math.min(start + length, (index + 1) * bs, st.baseLimit, base.size)
  return await s.reader.read({ key: st.key, etag: base.etag, size: base.size }, start, end)
}

/** The attributes a caller sees of a staged file (a copy: callers keep it). */
export const stagedAttr = (st: Staged): ObjectAttr => ({ ...st.attr })
