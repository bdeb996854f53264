// The supervisor's side of the worker pool: an ObjectStore whose every call
// runs in a piscina worker thread.
//
// Calls queue in a p-queue first, piscina second. The p-queue holds at most
// the work that is not yet running, so an INTERRUPT (AbortSignal) removes a
// queued call cleanly; a call already handed to piscina runs to the end,
// because aborting a running piscina task kills its worker thread.
import { fileURLToPath } from 'node:url'
import { Piscina } from 'piscina'
import PQueue from 'p-queue'
import { ReadBuffers } from '../blocks/read-buffers.ts'
import { FsError, errno as E } from '../errors.ts'
import type {
  BlockWrite, CreateSpec, ListPage, ObjectAttr, ObjectId, ObjectStore, RemoveResult,
  RenameResult, SetAttr, StoreCapabilities, StoreCounters, StoreStatfs, Timespec,
} from '../store/types.ts'
import type { StoreMethod, StoreTask, TaskResult, WorkerSetup } from './protocol.ts'
import { ReadAhead, rangeOf } from './read-ahead.ts'

const workerFile = fileURLToPath(new URL('./tasks/store-call.ts', import.meta.url))

export interface PoolOptions {
  threads: number
  setup: WorkerSetup
  blockSize: number
  capabilities: StoreCapabilities
  /**
   * An instance of the store opened in this thread. When given, metadata
   * calls and small block I/O run here directly: for the embedded store a
   * SQLite statement takes microseconds, less than the two thread hops a
   * pool round trip costs (bench/README.md has the figures).
   */
  inline?: ObjectStore
  /** Block I/O up to this many bytes runs inline (with `inline`). */
  inlineIoBytes?: number
  /** Every call runs inline and no worker thread starts (capabilities.inlineOnly; needs `inline`). */
  inlineOnly?: boolean
  /** The largest read asked for (the kernel's max_pages): the size of a pooled read buffer; default the block size. */
  maxRead?: number
}

/** Per-call options: the signal of the FUSE request being served. */
export interface CallOptions {
  signal?: AbortSignal
  /**
   * readBlock: the request the bytes answer. A read served by a worker may
   * then return a view of a pooled buffer (read-buffers.ts), lent until
   * `reply.afterReply`.
   */
  reply?: { afterReply?: () => void }
}

export class PooledStore implements ObjectStore {
  readonly blockSize: number
  readonly capabilities: StoreCapabilities
  /** Absent for inline-only stores. */
  readonly #pool: Piscina | undefined
  readonly #queue: PQueue
  readonly #counters: StoreCounters = { readCalls: 0, bytesRead: 0, writeCalls: 0, bytesWritten: 0, metaCalls: 0 }
  readonly #inline: ObjectStore | undefined
  readonly #inlineIo: number
  readonly #readBuffers: ReadBuffers
  readonly #ahead = new ReadAhead()
  /** Store calls by where they ran, for the stats. */
  readonly calls = { inline: 0, worker: 0 }

  constructor (opts: PoolOptions) {
    this.blockSize = opts.blockSize
    this.capabilities = opts.capabilities
    this.#inline = opts.inline
    this.#inlineIo = opts.inline === undefined ? -1 : (opts.inlineIoBytes ?? 0)
    this.#readBuffers = new ReadBuffers(Math.min(opts.blockSize, opts.maxRead ?? opts.blockSize))
    this.#pool = opts.inlineOnly === true && opts.inline !== undefined ? undefined : new Piscina({
      filename: workerFile,
      minThreads: opts.threads,
      maxThreads: opts.threads,
      concurrentTasksPerWorker: 1,
      idleTimeout: Infinity,
      workerData: opts.setup,
      execArgv: ['--disable-warning=ExperimentalWarning'],
    })
    // Twice the threads: a worker finds its next task waiting in piscina's
    // queue instead of idling for a round trip through the main thread.
    this.#queue = new PQueue({ concurrency: opts.threads * 2 })
  }

  /** Calls waiting for a worker (queued, not running): the pool's queue depth. */
  get queued (): number {
    return this.#queue.size + (this.#pool?.queueSize ?? 0)
  }

  /** The daemon is idle: the inline instance does some of the work it put off (ObjectStore.tidy). */
  tidy (): boolean {
    return this.#inline?.tidy?.() ?? false
  }

  async #call<T> (method: StoreMethod, args: unknown[], opts?: CallOptions, into?: Uint8Array): Promise<T> {
    const pool = this.#pool
    // Inline-only: called before any await, so the store sees calls in the order they were made.
    if (pool === undefined) return await this.#here<T>(method, args)
    // p-queue races a running task against its signal; the request's
    // signal may only withdraw a call that has not started.
    const signal = opts?.signal
    if (signal?.aborted === true) throw new FsError(E.EINTR)
    const queued = signal === undefined ? undefined : new AbortController()
    let started = false
    const withdraw = (): void => { if (!started) queued?.abort(signal?.reason) }
    signal?.addEventListener('abort', withdraw, { once: true })
    const task: StoreTask = { method, args, into }
    const freedBefore = this.#inline?.heldFreed
    const run = async (): Promise<TaskResult | Uint8Array> => {
      this.calls.worker++
      // The worker must see every change answered so far, and must not wait for the inline instance's write lock.
      const release = this.#inline?.hold?.()
      try {
        return await (pool.run(task) as Promise<TaskResult | Uint8Array>)
      } finally {
        release?.()
      }
    }
    try {
      let result = await this.#queue.add(async () => { started = true; return await run() }, { signal: queued?.signal })
      if (result instanceof Uint8Array) return result as T
      if (result === undefined) throw new FsError(E.EINTR)
      if (!result.ok && result.errno === E.ENOSPC && this.#roomFreedSince(freedBefore)) result = await run() as TaskResult
      if (!result.ok) throw new FsError(result.errno, result.message)
      return result.value as T
    } finally {
      signal?.removeEventListener('abort', withdraw)
    }
  }

  /**
   * A full disk may be room the inline instance holds back (the local store
   * frees unlinked files in batches): a call that failed for want of room
   * is worth one more try once that was freed, now or while the call ran
   * (by its timer, or for another call that failed alike in another worker).
   */
  #roomFreedSince (mark: number | undefined): boolean {
    this.#inline?.freeHeld?.()
    return this.#inline?.heldFreed !== mark
  }

  async #meta<T> (method: StoreMethod, args: unknown[], opts?: CallOptions): Promise<T> {
    this.#counters.metaCalls++
    if (this.#inline !== undefined) return await this.#here<T>(method, args)
    return await this.#call<T>(method, args, opts)
  }

  async #io<T> (method: StoreMethod, args: unknown[]): Promise<T> {
    this.#counters.metaCalls++
    return await this.#call<T>(method, args)
  }

  async #here<T> (method: StoreMethod, args: unknown[]): Promise<T> {
    const store = this.#inline as ObjectStore
    this.calls.inline++
    return await (store[method] as (...a: unknown[]) => Promise<T>).apply(store, args)
  }

  root (): Promise<ObjectAttr> { return this.#meta('root', []) }
  lookup (parent: ObjectId, name: string, opts?: CallOptions): Promise<ObjectAttr | null> { return this.#meta('lookup', [parent, name], opts) }
  getattr (id: ObjectId, opts?: CallOptions): Promise<ObjectAttr> { return this.#meta('getattr', [id], opts) }
  byIno (ino: number): Promise<ObjectAttr | null> { return this.#meta('byIno', [ino]) }
  list (dir: ObjectId, after: string | null, limit: number, opts?: CallOptions): Promise<ListPage> { return this.#meta('list', [dir, after, limit], opts) }
  create (parent: ObjectId, name: string, spec: CreateSpec, opts?: CallOptions): Promise<ObjectAttr> { return this.#meta('create', [parent, name, spec], opts) }
  createUnnamed (parent: ObjectId, spec: CreateSpec, opts?: CallOptions): Promise<ObjectAttr> { return this.#meta('createUnnamed', [parent, spec], opts) }
  link (id: ObjectId, parent: ObjectId, name: string, opts?: CallOptions): Promise<ObjectAttr> { return this.#meta('link', [id, parent, name], opts) }
  remove (parent: ObjectId, name: string, dir: boolean, opts?: CallOptions): Promise<RemoveResult> { return this.#meta('remove', [parent, name, dir], opts) }
  // Inline like the other metadata calls: in a worker, its write transaction
  // contended with the supervisor's for SQLite's lock, and the supervisor
  // slept in the busy handler (unlink took 370 us a file, rm -rf 0.05x of
  // passthrough_ll). Deleting block files is one unlink(2) per block.
  reclaim (id: ObjectId): Promise<void> {
    this.#ahead.drop(id)
    return this.#meta('reclaim', [id])
  }

  rename (parent: ObjectId, name: string, newParent: ObjectId, newName: string, flags: number, opts?: CallOptions): Promise<RenameResult> {
    return this.#meta('rename', [parent, name, newParent, newName, flags], opts)
  }

  async setattr (id: ObjectId, changes: SetAttr, opts?: CallOptions): Promise<ObjectAttr> {
    if (changes.size === undefined) return await this.#meta('setattr', [id, changes], opts)
    return await this.#changing(id, this.#meta('setattr', [id, changes], opts))
  }

  readlink (id: ObjectId, opts?: CallOptions): Promise<string> { return this.#meta('readlink', [id], opts) }

  async readBlock (id: ObjectId, index: number, offset: number, length: number, opts?: CallOptions): Promise<Uint8Array | null> {
    this.#counters.readCalls++
    const args = [id, index, offset, length]
    let data: Uint8Array | null
    if (length <= this.#inlineIo) data = await this.#here<Uint8Array | null>('readBlock', args)
    else if (this.#pool === undefined || length > this.#readBuffers.size) data = await this.#call<Uint8Array | null>('readBlock', args, opts)
    else data = await this.#readShared(id, index, offset, length, opts)
    if (data !== null) this.#counters.bytesRead += data.byteLength
    return data
  }

  /**
   * A block read in a worker through shared memory: taken from what was
   * read ahead if it was. For a READ (`opts.reply`) the bytes stay in the
   * pooled buffer, lent to the reply; otherwise they are copied out.
   */
  async #readShared (id: ObjectId, index: number, offset: number, length: number, opts?: CallOptions): Promise<Uint8Array | null> {
    const reply = opts?.reply
    const ahead = this.#ahead.take(id, index)
    if (ahead !== undefined) {
      if (reply !== undefined) reply.afterReply = ahead.lease.done
      const n = await ahead.read.then(n => n, () => undefined)
      if (n !== undefined) {
        const got = n === null ? null : rangeOf(ahead.lease.buf, n, offset, length)
        if (reply !== undefined) return got
        const copy = got?.slice() ?? null
        ahead.lease.done()
        return copy
      }
      // Failed ahead: read again, and meet the error as this read's own.
      ahead.lease.done()
    }
    if (reply === undefined) return await this.#call<Uint8Array | null>('readBlock', [id, index, offset, length], opts)
    const lease = this.#readBuffers.lend()
    reply.afterReply = lease.done
    const call = this.#call<number | null>('readBlock', [id, index, offset, length], opts, lease.buf)
    call.then(lease.done, lease.done)
    const n = await call
    return n === null ? null : lease.buf.subarray(0, n)
  }

  /**
   * Read block `index` of `id` ahead of the READ that will ask for it
   * (read-ahead.ts): the coalescer's call, when a file is read block after
   * block. Only where a pooled buffer holds a whole block.
   */
  readAhead (id: ObjectId, index: number): void {
    if (this.#pool === undefined || this.#readBuffers.size !== this.blockSize) return
    this.#ahead.start(id, index, () => {
      const lease = this.#readBuffers.lend()
      const read = this.#call<number | null>('readBlock', [id, index, 0, this.blockSize], undefined, lease.buf)
      read.then(lease.done, lease.done)
      return { lease, read }
    })
  }

  /** A change to `id`'s blocks: what was read of it ahead, before or while it ran, is stale. */
  async #changing<T> (id: ObjectId, change: Promise<T>): Promise<T> {
    try {
      return await change
    } finally {
      this.#ahead.drop(id)
    }
  }

  /**
   * `awaited`: a request waits for this write. With no worker busy, a
   * thread hop would buy no concurrency, only its latency: a 1 GiB fio
   * write (1 MiB, one at a time) answered each WRITE in 1.70-1.74 ms
   * inline against 1.90-1.96 ms through a worker (README, session 7).
   */
  async writeBlocks (id: ObjectId, blocks: BlockWrite[], minSize: number, mtime: Timespec, opts?: { awaited?: boolean }): Promise<ObjectAttr> {
    this.#counters.writeCalls++
    let bytes = 0
    for (const b of blocks) bytes += b.data.byteLength
    this.#counters.bytesWritten += bytes
    const idle = opts?.awaited === true && this.#queue.size === 0 && this.#queue.pending === 0
    if (this.#inline !== undefined && (bytes <= this.#inlineIo || idle)) return await this.#changing(id, this.#here('writeBlocks', [id, blocks, minSize, mtime]))
    // Dirty blocks live in SharedArrayBuffers: the worker sees the same
    // memory, so nothing is copied or detached on the way.
    return await this.#changing(id, this.#call('writeBlocks', [id, blocks, minSize, mtime]))
  }

  async dropBlocks (id: ObjectId, first: number, last: number): Promise<void> { await this.#changing(id, this.#meta('dropBlocks', [id, first, last])) }
  seekBlock (id: ObjectId, from: number, limit: number, data: boolean): Promise<number | null> { return this.#meta('seekBlock', [id, from, limit, data]) }
  sync (id: ObjectId): Promise<void> { return this.#io('sync', [id]) }
  /** Whole-object stores commit on close; they are inline-only, so this never crosses threads. */
  async flush (id: ObjectId): Promise<void> { await this.#inline?.flush?.(id) }
  getxattr (id: ObjectId, name: string): Promise<Uint8Array> { return this.#meta('getxattr', [id, name]) }
  setxattr (id: ObjectId, name: string, value: Uint8Array, flags: number): Promise<void> { return this.#meta('setxattr', [id, name, value, flags]) }
  listxattr (id: ObjectId): Promise<string[]> { return this.#meta('listxattr', [id]) }
  removexattr (id: ObjectId, name: string): Promise<void> { return this.#meta('removexattr', [id, name]) }
  statfs (): Promise<StoreStatfs> { return this.#meta('statfs', []) }

  counters (): StoreCounters {
    const backend = this.#inline?.counters().backend
    return backend === undefined ? { ...this.#counters } : { ...this.#counters, backend }
  }

  /** Let queued and running calls finish, close every worker's store instance, then stop the threads. */
  async close (): Promise<void> {
    await this.#queue.onIdle()
    const pool = this.#pool
    if (pool !== undefined) {
      const arrived = new SharedArrayBuffer(4)
      const threads = pool.threads.length
      await Promise.all(Array.from({ length: threads }, async () => await pool.run({ method: 'close', arrived, threads })))
      await pool.destroy()
    }
    await this.#inline?.close()
  }
}
