// Changes by other clients, told to whoever listens (the daemon, which
// drops the kernel's copy with FUSE_NOTIFY_INVAL_INODE / _ENTRY).
//
// The store notices a change whenever the server answers for a file it
// described before: a HEAD or a listing with another ETag (changed), a
// HEAD answering 404 (gone). But the kernel asks nothing while its own
// entry and attr timeouts run, so with timeouts longer than metadata_ttl
// nothing would come to notice: for as long as the kernel may keep an
// answer, the file is watched, and every metadata_ttl (at least a second)
// the watched files whose metadata is older than that get a HEAD, at most
// BATCH per round, oldest checked first. A mount whose kernel timeouts do
// not exceed metadata_ttl watches nothing: the kernel asks again itself.
//
// Files only: a directory's existence and attributes are not watched
// (its listing is never cached by the kernel).
import { LRUCache } from 'lru-cache'
import { logger } from '../../log.ts'
import type { ObjectId, StaleEvent } from '../types.ts'
import { isUnlinkedId, nameOf, parentOf } from './keys.ts'
import { fetchFile, type ObjectInfo } from './meta.ts'
import type { Session } from './session.ts'

const log = logger('s3')

/** HEADs per round at most. */
const BATCH = 64
/** Files watched at most (least recently answered dropped first). */
const WATCHED_MAX = 10_000

type Listener = (e: StaleEvent) => void

export class StaleWatch {
  readonly #s: Session
  readonly #listeners = new Map<Listener, number>()
  /** The longest time the kernel keeps an answer, over #listeners (0 with none); set by #arm whenever they change. */
  #cacheMs = 0
  /** key -> until (ms): the kernel may hold what it was told of it until then. */
  readonly #watched = new LRUCache<string, number>({ max: WATCHED_MAX })
  #timer: NodeJS.Timeout | undefined
  #round: Promise<void> | undefined

  constructor (s: Session) {
    this.#s = s
  }

  listen (listener: Listener, cacheMs: number): () => void {
    this.#listeners.set(listener, cacheMs)
    this.#arm()
    return () => {
      this.#listeners.delete(listener)
      this.#arm()
    }
  }

  /** Watch only when the kernel may keep answers longer than this store trusts its own. */
  #arm (): void {
    this.#cacheMs = Math.max(0, ...this.#listeners.values())
    const ttl = this.#s.opts.metadataTtlMs
    const needed = this.#cacheMs > ttl
    if (needed && this.#timer === undefined) {
      this.#timer = setInterval(() => { this.#round ??= this.#revalidate().finally(() => { this.#round = undefined }) }, Math.max(1000, ttl))
      this.#timer.unref()
    } else if (!needed && this.#timer !== undefined) {
      clearInterval(this.#timer)
      this.#timer = undefined
      this.#watched.clear()
    }
  }

  /** The store just told the caller about file `key`. */
  note (key: string): void {
    // An unlinked id has nothing on the server to watch.
    if (this.#timer === undefined || isUnlinkedId(key)) return
    this.#watched.set(key, Date.now() + this.#cacheMs)
  }

  /**
   * The server answered for file `key` (null: no object): compare with what
   * was known before, and tell the listeners when it differs.
   */
  compare (key: string, before: ObjectInfo | null | undefined, now: ObjectInfo | null): void {
    this.compareEtag(key, before, now === null ? null : now.kind === 'file' ? now.etag : undefined)
  }

  /** compare, knowing only the ETag now (a listing): null for no object, undefined for unknown. */
  compareEtag (key: string, before: ObjectInfo | null | undefined, etag: string | null | undefined): void {
    if (before?.kind !== 'file' || before.etag === undefined || this.#listeners.size === 0) return
    if (etag === undefined || etag === before.etag) return
    // A file this mount is writing is this mount's to show.
    if (this.#s.staged.get(key)?.removed === false) return
    this.#changed(key, etag === null)
  }

  #changed (key: string, gone: boolean): void {
    this.#s.backend.staleNoticed++
    if (gone) this.#watched.delete(key)
    const e: StaleEvent = { id: key as ObjectId, parent: parentOf(key) as ObjectId, name: nameOf(key), gone }
    log.debug({ key, gone }, 'changed by another client')
    for (const listener of this.#listeners.keys()) {
      try {
        listener(e)
      } catch (err) {
        log.warn({ key, err: String(err) }, 'a stale-object listener failed')
      }
    }
  }

  /**
   * One round: a HEAD for up to BATCH watched files whose metadata is older
   * than metadata_ttl (fetchFile compares), least recently checked first.
   */
  async #revalidate (): Promise<void> {
    const s = this.#s
    const now = Date.now()
    const due: string[] = []
    const expired: string[] = []
    for (const key of this.#watched.rkeys()) {
      if (due.length >= BATCH) break
      if ((this.#watched.peek(key) ?? 0) < now) expired.push(key)
      else if (!s.staged.has(key) && s.meta.get(key) === undefined) due.push(key)
    }
    for (const key of expired) this.#watched.delete(key)
    // To the back of the line; the until stays.
    for (const key of due) this.#watched.set(key, this.#watched.peek(key) as number)
    s.backend.staleChecks += due.length
    await Promise.all(due.map(async key => {
      try {
        await fetchFile(s, key)
      } catch (err) {
        log.debug({ key, err: String(err) }, 'revalidating a watched file failed')
      }
    }))
  }

  dispose (): void {
    clearInterval(this.#timer)
    this.#timer = undefined
    this.#listeners.clear()
    this.#cacheMs = 0
    this.#watched.clear()
  }
}
