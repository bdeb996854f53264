// The state one S3 store keeps, shared by every instance opened on the same
// bucket, prefix and endpoint in this process: the client, what is known
// of names, files being written (staged), directory times, the read cache.
//
// Files being written live in exactly one place, or a second instance
// would upload a stale copy over the first one's: instances are handles
// on one session, counted, and the last close commits everything.
import { randomBytes } from 'node:crypto'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import type { S3Client } from '@aws-sdk/client-s3'
import { LRUCache } from 'lru-cache'
import PQueue from 'p-queue'
import { logger } from '../../log.ts'
import type { StoreConfig, StoreCounters, Timespec } from '../types.ts'
import { makeClient, newBackendCounters, type BackendCounters } from './client.ts'
import { MetaCache } from './meta.ts'
import type { S3Options } from './options.ts'
import { PartLayout } from './parts.ts'
import { unlinkedId } from './keys.ts'
import { StaleWatch } from './stale.ts'
import { Reader } from './read.ts'
import { restore } from './manifest.ts'
import { openStaging, type Found } from './recover.ts'
import type { Staged } from './staging.ts'

const log = logger('s3')

export interface DirTimes {
  mtime: Timespec
  ctime: Timespec
}

export class Session {
  readonly key: string
  readonly client: S3Client
  readonly bucket: string
  /** The mount root's id: "" or "prefix/". */
  readonly root: string
  readonly blockSize: number
  readonly opts: S3Options
  readonly openedAtMs = Date.now()
  readonly meta: MetaCache
  readonly reader: Reader
  /** Changes by other clients, for the daemon's kernel-cache invalidations. */
  readonly stale: StaleWatch
  readonly backend: BackendCounters = newBackendCounters()
  readonly counters: StoreCounters = { readCalls: 0, bytesRead: 0, writeCalls: 0, bytesWritten: 0, metaCalls: 0 }
  /** Files being written, by current key (renames re-key them), and unlinked ones still open, by unlinked id. */
  readonly staged = new Map<string, Staged>()
  /**
   * Directory times changed by this mount (children added or removed,
   * utimes on a directory without a marker). Not written back per change:
   * that would cost a PUT per create; see README "S3".
   */
  readonly dirTimes = new LRUCache<string, DirTimes>({ max: 100_000 })
  /** Uploads (commits) in flight at most, and part transfers within them. */
  readonly commits = new PQueue({ concurrency: 8 })
  readonly parts = new PQueue({ concurrency: 4 })
  /** Where multipart uploads cut objects (part_size). */
  readonly layout: PartLayout
  /** upload_buffer: bytes of parts queued or uploading ahead of commits, all files (stream.ts). */
  readonly uploadBuffer: number
  uploadBacklog = 0
  /** Writers waiting for room in the upload buffer; woken (to look again) whenever a part task ends. */
  uploadWaiters: Array<() => void> = []
  /** This process's staging directory (recover.ts), removed at close. */
  readonly stagingDir: string
  /** Staged files taken over from a dead predecessor (recover.ts), in `staged` too. */
  readonly recovered: readonly Found[]
  /** Mode and owner of a bucket root, which has no marker to keep them: this mount only. */
  rootOverride: { mode: number, uid: number, gid: number } | undefined
  refs = 0
  #nextStage = 0
  #nextUnlinked = 0
  readonly #unlinkedTag = randomBytes(6).toString('hex')

  constructor (key: string, bucket: string, root: string, blockSize: number, opts: S3Options, takeover?: StoreConfig['takeover']) {
    this.key = key
    this.bucket = bucket
    this.root = root
    this.blockSize = blockSize
    this.opts = opts
    this.client = makeClient(opts, this.backend)
    this.layout = new PartLayout(blockSize, opts.partSize)
    this.uploadBuffer = Math.max(opts.uploadBuffer, this.layout.first)
    this.meta = new MetaCache(opts.metadataTtlMs)
    this.reader = new Reader(this)
    this.stale = new StaleWatch(this)
    const staging = openStaging(opts.cacheDir, key, takeover)
    this.stagingDir = staging.dir
    this.#nextStage = staging.next
    this.recovered = staging.found
    for (const f of staging.found) this.staged.set(f.manifest.key, restore(f.stagePath, f.manifest))
  }

  /** A fresh id for a staged file without a name (keys.ts). */
  unlinkedId (): string {
    return unlinkedId(this.#unlinkedTag, this.#nextUnlinked++)
  }

  /** A fresh staging file path (created on first write). */
  stagingPath (): string {
    return join(this.stagingDir, `${this.#nextStage++}.stage`)
  }

  /** Staged files below a directory id (they make it exist and non-empty). */
  stagedBelow (dirId: string): Staged[] {
    const out: Staged[] = []
    for (const [k, st] of this.staged) if (k.startsWith(dirId) && !st.removed) out.push(st)
    return out
  }

  /** Staged files directly in a directory id: names the server may not have yet. */
  stagedIn (dirId: string): Staged[] {
    return this.stagedBelow(dirId).filter(st => !st.key.slice(dirId.length).includes('/'))
  }

  hasStagedBelow (dirId: string): boolean {
    for (const [k, st] of this.staged) if (k.startsWith(dirId) && !st.removed) return true
    return false
  }

  touchDir (dirId: string, now: Timespec): void {
    this.dirTimes.set(dirId, { mtime: now, ctime: now })
  }

  dispose (): void {
    this.stale.dispose()
    this.client.destroy()
    // Not uploaded (the bucket refused us at open): left for a successor under the same keeper.
    if (this.staged.size > 0) {
      log.warn({ dir: this.stagingDir, files: this.staged.size }, 'staged files not uploaded stay in the staging directory')
      return
    }
    try {
      rmSync(this.stagingDir, { recursive: true, force: true })
    } catch (err) {
      log.warn({ dir: this.stagingDir, err: String(err) }, 'staging directory not removed')
    }
  }
}

const sessions = new Map<string, Session>()

export function acquire (key: string, make: () => Session): Session {
  let s = sessions.get(key)
  if (s === undefined) {
    s = make()
    sessions.set(key, s)
  }
  s.refs++
  return s
}

/** Drop one reference; true when it was the last (the caller commits and disposes). */
export function release (s: Session): boolean {
  s.refs--
  if (s.refs > 0) return false
  if (sessions.get(s.key) === s) sessions.delete(s.key)
  return true
}
