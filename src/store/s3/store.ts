// The S3 store: a bucket (and prefix) as an ObjectStore. Keys are ids;
// directories are prefixes with optional "dir/" markers; attributes live
// in s3fs/rclone-compatible user metadata; files being written are staged
// on local disk and committed as whole new versions (blockWrites false),
// large ones uploading their parts while they are written (stream.ts).
//
// Every call runs in the instance the daemon opened in its main thread
// (inlineOnly): staged files must live in one place, and network I/O is
// asynchronous, so worker threads would only add hops.
import { FsError, errno as E } from '../../errors.ts'
import { logger } from '../../log.ts'
import type {
  BlockWrite, CreateSpec, ListPage, ObjectAttr, ObjectId, ObjectStore, RemoveResult, RenameResult,
  SetAttr, StaleEvent, StoreCapabilities, StoreConfig, StoreCounters, StoreStatfs, Timespec,
} from '../types.ts'
import { verifyBucket } from './client.ts'
import { commitNow, flushFile, readBlock, schedule, stageCommitted, syncFile, withStaged } from './files.ts'
import { abortStale } from './recover.ts'
import { streamAhead } from './stream.ts'
import { isDirId } from './keys.ts'
import { listPage } from './list.ts'
import * as names from './names.ts'
import { parseS3Options } from './options.ts'
import { rename } from './rename.ts'
import { Session, acquire, release } from './session.ts'
import * as attrs from './setattr.ts'
import { S_IFLNK, S_IFMT } from './attrs.ts'

const log = logger('s3')

export interface S3Location {
  bucket: string
  /** Key prefix without leading or trailing slash; '' for the whole bucket. */
  prefix: string
}

export class S3Store implements ObjectStore {
  readonly blockSize: number
  readonly capabilities: StoreCapabilities = { stableIds: false, hardLinks: false, unnamedFiles: true, blockWrites: false, inlineOnly: true }
  readonly #s: Session
  readonly #unlisten = new Set<() => void>()
  #closed = false

  private constructor (s: Session) {
    this.#s = s
    this.blockSize = s.blockSize
  }

  /** Open (and on first open in this process, verify) the bucket; a one-line ConfigError when it cannot be used. */
  static async open (config: StoreConfig, where: S3Location): Promise<S3Store> {
    const opts = parseS3Options(config.options)
    const root = where.prefix === '' ? '' : `${where.prefix}/`
    const key = [opts.endpoint ?? 'aws', opts.profile ?? '', where.bucket, root].join('\0')
    const s = acquire(key, () => new Session(key, where.bucket, root, config.blockSize, opts, config.takeover))
    if (s.refs === 1) {
      try {
        await verifyBucket(s.client, where.bucket, opts.endpoint ?? 'AWS S3')
      } catch (err) {
        if (release(s)) s.dispose()
        throw err
      }
      log.debug({ bucket: where.bucket, prefix: where.prefix, endpoint: opts.endpoint, blockSize: s.blockSize }, 'S3 store opened')
      if (s.recovered.length > 0) {
        log.info({ files: s.recovered.length, dir: s.stagingDir }, 'took over the files a dead predecessor had staged and not uploaded; they are uploaded on the usual schedule')
        abortStale(s, s.recovered)
        // Closed or not before the crash, nobody knows: each commits commit_delay from now, unless written first.
        for (const st of s.staged.values()) schedule(s, st)
      }
      log.info('S3: hard links are not supported (link(2) answers EPERM); rename is a copy and a delete; see README "S3"')
    }
    return new S3Store(s)
  }

  #meta (): Session {
    if (this.#closed) throw new FsError(E.EIO, 'the store is closed')
    this.#s.counters.metaCalls++
    return this.#s
  }

  async root (): Promise<ObjectAttr> { return await names.getattr(this.#meta(), this.#s.root) }

  async lookup (parent: ObjectId, name: string): Promise<ObjectAttr | null> {
    const a = await names.lookup(this.#meta(), parent, name)
    if (a !== null && !isDirId(a.id)) this.#s.stale.note(a.id)
    return a
  }

  async getattr (id: ObjectId): Promise<ObjectAttr> {
    const a = await names.getattr(this.#meta(), id)
    if (!isDirId(id)) this.#s.stale.note(id)
    return a
  }

  async list (dir: ObjectId, after: string | null, limit: number): Promise<ListPage> {
    const s = this.#meta()
    if (!isDirId(dir)) throw new FsError(E.ENOTDIR)
    const page = await listPage(s, dir, after, limit)
    // Entries with their own attributes may reach the kernel (readdirplus).
    for (const e of page.entries) if (e.partial === undefined && !isDirId(e.attr.id)) s.stale.note(e.attr.id)
    return page
  }

  /** Changes by other clients (stale.ts); this instance's listeners go when it closes. */
  onStale (listener: (e: StaleEvent) => void, cacheMs: number): () => void {
    const off = this.#s.stale.listen(listener, cacheMs)
    this.#unlisten.add(off)
    return () => {
      this.#unlisten.delete(off)
      off()
    }
  }

  async create (parent: ObjectId, name: string, spec: CreateSpec): Promise<ObjectAttr> { return await names.create(this.#meta(), parent, name, spec) }

  async createUnnamed (parent: ObjectId, spec: CreateSpec): Promise<ObjectAttr> { return await names.createUnnamed(this.#meta(), parent, spec) }

  async link (): Promise<ObjectAttr> {
    this.#meta()
    return names.refuseLink()
  }

  async remove (parent: ObjectId, name: string, dir: boolean): Promise<RemoveResult> { return await names.remove(this.#meta(), parent, name, dir) }

  /**
   * An unlinked file kept for its open handles (names.ts removeFile) goes
   * with its staged data. Any other orphan was deleted at its unlink.
   */
  async reclaim (id: ObjectId): Promise<void> {
    const s = this.#s
    const st = s.staged.get(id)
    if (st === undefined || !st.unlinked) return
    s.staged.delete(id)
    await st.exclusive(async () => { await st.discard() })
  }

  async rename (parent: ObjectId, name: string, newParent: ObjectId, newName: string, flags: number): Promise<RenameResult> {
    return await rename(this.#meta(), parent, name, newParent, newName, flags)
  }

  async setattr (id: ObjectId, changes: SetAttr): Promise<ObjectAttr> { return await attrs.setattr(this.#meta(), id, changes) }

  async readlink (id: ObjectId): Promise<string> {
    const s = this.#meta()
    const attr = await names.getattr(s, id)
    if ((attr.mode & S_IFMT) !== S_IFLNK) throw new FsError(E.EINVAL)
    const data = await readBlock(s, id, 0, 0, attr.size)
    return Buffer.from(data ?? new Uint8Array(0)).toString('utf8')
  }

  async readBlock (id: ObjectId, index: number, offset: number, length: number): Promise<Uint8Array | null> {
    const s = this.#s
    s.counters.readCalls++
    const data = await readBlock(s, id, index, offset, length)
    if (data !== null) s.counters.bytesRead += data.byteLength
    return data
  }

  async writeBlocks (id: ObjectId, blocks: BlockWrite[], minSize: number, mtime: Timespec): Promise<ObjectAttr> {
    const s = this.#s
    s.counters.writeCalls++
    for (const b of blocks) s.counters.bytesWritten += b.data.byteLength
    if (isDirId(id)) throw new FsError(E.EISDIR)
    // withStaged takes the staged file before its first await: see files.ts.
    return await withStaged(s, id, async () => await stageCommitted(s, id), async st => {
      // A writer is busy: no commit until it closes the file again.
      clearTimeout(st.timer)
      st.timer = undefined
      await st.writeBlocks(blocks, s.blockSize)
      const sizeBefore = st.attr.size
      st.attr = { ...st.attr, size: Math.max(st.attr.size, minSize), mtime, ctime: mtime }
      st.dirty = true
      // Before the write is acknowledged: what a successor needs to read it back after a crash.
      st.saveAfterWrite(sizeBefore)
      // Parts this write completed start uploading; waits while the upload buffer is full.
      await streamAhead(s, st, blocks.map(b => b.index))
      return { ...st.attr }
    }) as ObjectAttr
  }

  /** Punching a hole writes zeros: an object has no holes. Blocks of length 0 read as zeros. */
  async dropBlocks (id: ObjectId, first: number, last: number): Promise<void> {
    const s = this.#meta()
    const size = (await names.getattr(s, id)).size
    const end = Math.min(last, Math.ceil(size / s.blockSize) - 1)
    if (end < first) return
    const blocks = Array.from({ length: end - first + 1 }, (_, i) => ({ index: first + i, data: new Uint8Array(0) }))
    await withStaged(s, id, async () => await stageCommitted(s, id), async st => {
      await st.writeBlocks(blocks, s.blockSize)
      st.dirty = true
      st.save()
    })
  }

  /** Every byte of an object is data: no hole but the one at the end. */
  async seekBlock (_id: ObjectId, from: number, limit: number, data: boolean): Promise<number | null> {
    this.#meta()
    return data && from < limit ? from : null
  }

  /** fsync: upload now. */
  async sync (id: ObjectId): Promise<void> {
    await syncFile(this.#meta(), id)
  }

  /** close(2) of a written file: upload after commit_delay. */
  async flush (id: ObjectId): Promise<void> {
    await flushFile(this.#meta(), id)
  }

  async getxattr (id: ObjectId, name: string): Promise<Uint8Array> { return await attrs.getxattr(this.#meta(), id, name) }
  async setxattr (id: ObjectId, name: string, value: Uint8Array, flags: number): Promise<void> { await attrs.setxattr(this.#meta(), id, name, value, flags) }
  async listxattr (id: ObjectId): Promise<string[]> { return await attrs.listxattr(this.#meta(), id) }
  async removexattr (id: ObjectId, name: string): Promise<void> { await attrs.removexattr(this.#meta(), id, name) }

  /** S3 has no capacity to report: a petabyte, never full, as s3fs and mountpoint-s3 do. */
  async statfs (): Promise<StoreStatfs> {
    this.#meta()
    const blocks = Math.floor(2 ** 50 / this.blockSize)
    return { bsize: this.blockSize, blocks, bfree: blocks, bavail: blocks, files: 2 ** 32, ffree: 2 ** 32, namelen: 255 }
  }

  counters (): StoreCounters {
    const b = this.#s.backend
    return { ...this.#s.counters, backend: { ...b, byOperation: { ...b.byOperation }, staged: this.#s.staged.size } }
  }

  /** The last instance uploads every staged file before letting go. */
  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    for (const off of this.#unlisten) off()
    this.#unlisten.clear()
    const s = this.#s
    if (!release(s)) return
    // Unlinked files still open are nobody's to keep once the mount goes.
    for (const st of [...s.staged.values()].filter(st => st.unlinked)) await this.reclaim(st.key as ObjectId)
    const pending = [...s.staged.values()].filter(st => !st.removed)
    const results = await Promise.allSettled(pending.map(async st => { await commitNow(s, st) }))
    const failed = results.filter(r => r.status === 'rejected').length
    await s.commits.onIdle()
    if (failed > 0) {
      log.error({ failed, dir: s.stagingDir }, 'files written could not be uploaded; their staged data stays in the staging directory')
      s.client.destroy()
      return
    }
    s.dispose()
  }
}
