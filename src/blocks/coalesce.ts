// The write-coalescing buffer, owned by the main thread.
//
// Writes land in per-file dirty blocks (SharedArrayBuffer-backed, so a
// worker stores them without a copy). A block is handed to the store when a
// write reaches its end (the sequential writer moved on), and every block of
// a file on flush, fsync, release, setattr of size or times, and when the
// dirty budget is exceeded (oldest blocks first). Readers overlay dirty and
// in-flight blocks on what the store holds, so written data is visible at
// once. State changes happen in synchronous stretches only; after every
// await the state is looked up again.
//
// With a journal (journal.ts), every write is recorded before it is
// buffered, and each dirty block pins the journal segments holding its
// writes until the store has it, so a crash of the process loses nothing
// acknowledged and the journal on disk stays about two segments long.
//
// A write of exactly one whole block that nothing buffers may instead go
// straight to the store from the request's own memory, answered once
// stored (`direct`): no journal record, no checksum, no copy. A 1 GiB
// write (fio, 1 MiB) spent 0.75 s of the supervisor's CPU on those three.
// Replay applies what the journal holds over the store, so a block stored
// this way must not have older records on disk that replay would lay over
// it: only files with no record in a segment still on disk qualify.
import { spans, type Span } from './range.ts'
import { untilAborted } from '../abortable.ts'
import { FsError, toErrno } from '../errors.ts'
import { nowTimespec } from '../time.ts'
import type { Journal } from './journal.ts'
import { logger } from '../log.ts'
import type { BlockWrite, ObjectAttr, ObjectId, Timespec } from '../store/types.ts'

const log = logger('coalesce')

export interface DirtyBlock {
  index: number
  /**
   * A whole block of memory. Bytes past `length` are left from the buffer's
   * last use: everything that reads or extends the block goes by `length`.
   */
  data: Uint8Array
  /** Content length from the start of the block. */
  length: number
  /** How far the buffer may hold bytes of an earlier use (past `length`, they are never read). */
  stale: number
  /** Journal segments holding writes to this block, each pinned once until it is stored. */
  segments?: number[]
}

export interface DirtyFile {
  /** The size readers see, buffered writes included. */
  size: number
  /** The size the store has acknowledged. */
  storedSize: number
  /** Attributes from the newest completed store write. */
  attr: ObjectAttr | undefined
  mtime: Timespec
  /** Blocks still taking writes. */
  blocks: Map<number, DirtyBlock>
  /** Blocks being stored; a write to one waits, a read serves from it. */
  sealed: Map<number, { block: DirtyBlock, done: Promise<void> }>
  /** errno of a failed store write, reported by the next flush or fsync. */
  error: number
}

/** What the coalescer needs of the file it buffers; the inode satisfies it. */
export interface Buffered {
  id: ObjectId
  attr: ObjectAttr
  dirty: DirtyFile | undefined
  readonly size: number
}

export interface CoalescerHooks {
  /** A file's dirty state is gone; its inode may now be dropped. */
  settled: (file: Buffered) => void
}

export interface CoalescerOptions {
  /** Record writes for replay after a crash (stores with stable ids); none: no cost. */
  journal?: Journal
  /** Store whole-block writes at once, unbuffered (stores that write blocks in place). */
  direct?: boolean
}

/** What a read needs of the FUSE request it serves (a Req). */
interface ReadReq { signal?: AbortSignal, afterReply?: () => void }

type BlockIO = {
  /** `awaited`: a request waits on this write (the pool may then run it in this thread). */
  writeBlocks: (id: ObjectId, blocks: BlockWrite[], minSize: number, mtime: Timespec, opts?: { awaited?: boolean }) => Promise<ObjectAttr>
  /** The pool withdraws a queued call whose request `signal` aborts. */
  readBlock: (id: ObjectId, index: number, offset: number, length: number, opts?: { signal?: AbortSignal, reply?: ReadReq }) => Promise<Uint8Array | null>
  /** Start reading a block that a READ is about to ask for (the pool's read-ahead.ts). */
  readAhead?: (id: ObjectId, index: number) => void
}

/**
 * Blocks read ahead of a file read block after block. A cold 1 GiB read
 * (1 MiB blocks, two workers): 1.5 s without, 1.2 s with one, 1.05 s with
 * two, 1.15 s with three. Session 30, with direct I/O and one data file
 * per object: 2, 3, 4 and 6 blocks each read 940-1,560 MiB/s over five
 * interleaved runs of three, within the noise (README).
 */
const READ_AHEAD_BLOCKS = 2
/**
 * Readers of one file told apart by where each left off, so that each gets
 * its read-ahead: with only the last block read, four readers of a quarter
 * of a 1 GiB file each took turns and none looked sequential.
 */
const READ_STREAMS = 8

export class Coalescer {
  readonly blockSize: number
  readonly limit: number
  /** Bytes held by dirty and in-flight blocks. */
  dirtyBytes = 0
  /** Block reads served from buffered blocks (hits) and from the store (misses), for the stats. */
  readHits = 0
  readMisses = 0
  /** Per file, the block each of its recent readers read last, oldest first (READ_STREAMS at most). */
  readonly #lastRead = new WeakMap<Buffered, number[]>()
  readonly #io: BlockIO
  readonly #hooks: CoalescerHooks
  /** Open dirty blocks, oldest first, for pushing back under pressure. */
  readonly #order = new Map<DirtyBlock, Buffered>()
  readonly #files = new Set<Buffered>()
  /** Block buffers ready for reuse, at most a budget's worth; bytes up to `stale` are not cleared. */
  readonly #spare: Array<{ data: Uint8Array, stale: number }> = []
  /** A block of zeros to clear parts of a buffer from (never written, so never resident). */
  readonly #zeros: Uint8Array
  /** errno of a file's last direct write, when it failed: logged once until one succeeds. */
  readonly #failing = new WeakMap<Buffered, number>()
  /** Completed store writes per file: a partial write reloads its base if this moved meanwhile. */
  readonly #epochs = new WeakMap<Buffered, number>()
  #waiters: Array<() => void> = []
  readonly #journal: Journal | undefined
  /** The journal segment of the latest write recorded (0: none yet). */
  #segment = 0
  readonly #direct: boolean

  constructor (io: BlockIO, blockSize: number, limit: number, hooks: CoalescerHooks, opts: CoalescerOptions = {}) {
    this.#io = io
    this.blockSize = blockSize
    // Room for at least two blocks, or a writer could wait for room forever.
    this.limit = Math.max(limit, 2 * blockSize)
    this.#hooks = hooks
    this.#journal = opts.journal
    this.#direct = opts.direct === true
    this.#zeros = new Uint8Array(blockSize)
  }

  /**
   * Buffer `data` at `offset`. Resolves once the bytes are in memory and
   * visible to readers, or, for a write that qualifies (`direct`), once stored.
   * An aborted `signal` ends a wait for room in the budget with EINTR, as
   * long as nothing of the write is buffered yet.
   */
  async write (file: Buffered, offset: number, data: Uint8Array, signal?: AbortSignal): Promise<void> {
    if (this.#storesDirect(file, offset, data.byteLength)) {
      await this.#writeDirect(file, offset / this.blockSize, data)
      return
    }
    // A write that needs a new block waits for room before it changes
    // anything (no record, no byte buffered), so that it can still give up:
    // Ctrl-C on a writer of a slow store. Room taken meanwhile by another
    // writer is waited for below, past the point of giving up.
    while (this.#spent() && this.#needsBlock(file, offset, data.byteLength)) await untilAborted(this.#room(), signal)
    // Recorded before the spans' first await, as a record must exist before
    // any block holds the write's bytes.
    const seg = this.#journal === undefined || data.byteLength === 0 ? 0 : this.#record(this.#journal, file, offset, data)
    try {
      for (const s of spans(offset, data.byteLength, this.blockSize)) {
        let block = await this.#writable(file, s)
        // Resuming after the await takes a tick, in which the budget may have
        // sealed the block: take it only if it is still open.
        while (file.dirty?.blocks.get(s.index) !== block) block = await this.#writable(file, s)
        // From here to the end of the iteration nothing awaits: the block stays open.
        const d = file.dirty as DirtyFile
        // A write past the end of the block leaves a gap that reads as zeros.
        this.#clear(block.data, block.length, s.offset)
        block.data.set(data.subarray(s.pos, s.pos + s.length), s.offset)
        block.length = Math.max(block.length, s.offset + s.length)
        if (seg !== 0) this.#pin(block, seg)
        d.size = Math.max(d.size, s.index * this.blockSize + s.offset + s.length)
        d.mtime = nowTimespec()
        if (s.offset + s.length === this.blockSize) {
          this.#seal(file, [block])
        } else {
          // Most recently written last: the budget pushes out the coldest block first.
          this.#order.delete(block)
          this.#order.set(block, file)
          // Over the budget writers wait for room, and only a stored block
          // makes room: no later write or flush may come to seal these (the
          // writers waiting may be all there is), so store some now, or hang.
          if (this.#waiters.length > 0 || this.#spent()) this.#relieve()
        }
      }
    } finally {
      // The blocks hold the segment now (or the write failed and nothing needs it).
      if (seg !== 0) this.#journal?.unpin(seg)
    }
  }

  /**
   * A truncate or extend the store has applied (SETATTR, O_TRUNC,
   * fallocate): journaled so that replaying an older write cuts it again.
   */
  journalSize (id: ObjectId, size: number): void {
    this.#journal?.appendSize(id, size)
  }

  /** A range the store now reads as zeros (punch hole, zero range). */
  journalZero (id: ObjectId, offset: number, length: number): void {
    this.#journal?.appendZero(id, offset, length)
  }

  /** Journal a write; returns its segment, pinned for the write's duration. */
  #record (journal: Journal, file: Buffered, offset: number, data: Uint8Array): number {
    const seg = journal.appendWrite(file.id, offset, data)
    if (seg !== this.#segment) {
      this.#segment = seg
      // A new segment began. Open blocks still holding writes from two
      // segments back go to the store now, or a block rewritten in place
      // forever (a database page) would keep every segment on disk.
      for (const [block, f] of this.#order) {
        if (block.segments?.some(n => n < seg - 1) === true) this.#seal(f, [block])
      }
    }
    return seg
  }

  /** `block` holds a write recorded in segment `seg`. */
  #pin (block: DirtyBlock, seg: number): void {
    const held = block.segments
    if (held === undefined) block.segments = [seg]
    else if (held.includes(seg)) return
    else held.push(seg)
    this.#journal?.pin(seg)
  }

  /** Does this write qualify to go to the store unbuffered (see the top)? */
  #storesDirect (file: Buffered, offset: number, length: number): boolean {
    if (!this.#direct || length !== this.blockSize || offset % this.blockSize !== 0) return false
    const index = offset / this.blockSize
    if (file.dirty?.blocks.has(index) === true || file.dirty?.sealed.has(index) === true) return false
    return this.#journal?.holds(file.id) !== true
  }

  /**
   * Store one whole block from the request's memory, which stays lent
   * until the reply: readers and writers of the block meanwhile find it
   * in flight. A failure is this write's own error; nothing changed.
   */
  async #writeDirect (file: Buffered, index: number, data: Uint8Array): Promise<void> {
    const d = this.#dirtyOf(file)
    const end = (index + 1) * this.blockSize
    const mtime = nowTimespec()
    d.mtime = mtime
    const stored = this.#io.writeBlocks(file.id, [{ index, data }], end, mtime, { awaited: true })
    const block: DirtyBlock = { index, data, length: data.byteLength, stale: 0 }
    d.sealed.set(index, { block, done: stored.then(() => {}, () => {}) })
    try {
      d.attr = await stored
      d.storedSize = Math.max(d.storedSize, end)
      d.size = Math.max(d.size, end)
      this.#failing.delete(file)
    } catch (err) {
      const errno = toErrno(err)
      if (this.#failing.get(file) !== errno) log.error({ id: file.id, errno, err: String(err) }, 'storing written data failed')
      this.#failing.set(file, errno)
      throw Object.assign(err instanceof FsError ? err : new FsError(errno, String(err)), { logged: true })
    } finally {
      this.#epochs.set(file, (this.#epochs.get(file) ?? 0) + 1)
      if (d.sealed.get(index)?.block === block) d.sealed.delete(index)
      this.#release(file)
    }
  }

  /**
   * The open dirty block for a span. Waits for a block in flight, loads the
   * stored bytes a partial write must keep, and waits for room in the
   * budget; the final checks and the creation happen with no await between
   * them, so concurrent writers can neither overrun the budget nor create
   * the same block twice.
   */
  async #writable (file: Buffered, s: Span): Promise<DirtyBlock> {
    let base: Uint8Array | null | undefined
    let epoch = -1
    for (;;) {
      const d = this.#dirtyOf(file)
      const open = d.blocks.get(s.index)
      if (open !== undefined) return open
      const sealed = d.sealed.get(s.index)
      if (sealed !== undefined) { await sealed.done; continue }
      const start = s.index * this.blockSize
      const keep = !(s.offset === 0 && s.length === this.blockSize) && start < d.storedSize
      // A store write of this file that finished while we loaded may have changed the block.
      if (keep && (base === undefined || epoch !== (this.#epochs.get(file) ?? 0))) {
        epoch = this.#epochs.get(file) ?? 0
        base = await this.#io.readBlock(file.id, s.index, 0, this.blockSize)
        continue
      }
      if (this.#spent()) { await this.#room(); continue }
      return this.#newBlock(file, d, s.index, keep ? base ?? null : null, keep ? Math.min(this.blockSize, d.storedSize - start) : 0)
    }
  }

  /**
   * Bytes [offset, offset+length) as readers must see them, clipped at the
   * size. The request's aborted signal (FUSE_INTERRUPT) ends the wait with
   * EINTR. With a request, the bytes may be in a pooled buffer lent until
   * its afterReply (the pool's read-buffers.ts).
   */
  async read (file: Buffered, offset: number, length: number, req?: ReadReq): Promise<Uint8Array> {
    const signal = req?.signal
    const size = file.size
    if (offset >= size || length === 0) return new Uint8Array(0)
    const n = Math.min(length, size - offset)
    const parts = spans(offset, n, this.blockSize)
    const buffered = (index: number): DirtyBlock | undefined => file.dirty?.blocks.get(index) ?? file.dirty?.sealed.get(index)?.block
    if (parts.length === 1 && buffered(parts[0].index) === undefined) {
      const s = parts[0]
      this.readMisses++
      this.#readOn(file, s.index, buffered)
      const got = await untilAborted(this.#io.readBlock(file.id, s.index, s.offset, s.length, { signal, reply: req }), signal)
      if (got !== null && got.byteLength === s.length) return got   // the common case: no copy
      const out = new Uint8Array(s.length)
      if (got !== null) out.set(got)
      return out
    }
    const out = new Uint8Array(n)
    await Promise.all(parts.map(async s => {
      const b = buffered(s.index)
      if (b !== undefined) {
        this.readHits++
        copyContent(out, b, s)
        return
      }
      this.readMisses++
      const got = await untilAborted(this.#io.readBlock(file.id, s.index, s.offset, s.length, { signal }), signal)
      // Copy from memory once more if the block was dirtied while the store answered.
      const late = buffered(s.index)
      if (late !== undefined) copyContent(out, late, s)
      else if (got !== null) out.set(got.subarray(0, Math.min(got.byteLength, s.length)), s.pos)
    }))
    return out
  }

  /** A file read block after block: its next blocks, unless buffered here, are read ahead. */
  #readOn (file: Buffered, index: number, buffered: (index: number) => DirtyBlock | undefined): void {
    let heads = this.#lastRead.get(file)
    if (heads === undefined) this.#lastRead.set(file, heads = [])
    // A loop, not findIndex: no closure made for every READ.
    let at = -1
    for (let i = 0; i < heads.length && at < 0; i++) if (heads[i] === index - 1 || heads[i] === index) at = i
    if (at < 0) {
      if (heads.length >= READ_STREAMS) heads.shift()
      heads.push(index)
      return
    }
    heads[at] = index
    for (let i = index + 1; i <= index + READ_AHEAD_BLOCKS && i * this.blockSize < file.size; i++) {
      if (buffered(i) === undefined) this.#io.readAhead?.(file.id, i)
    }
  }

  /**
   * Store every buffered block of `file`; rejects with the errno of a failed
   * earlier store write. An aborted `signal` stops the wait with EINTR; the
   * writes go on and an error stays for the next flush to report.
   */
  async flush (file: Buffered, signal?: AbortSignal): Promise<void> {
    await this.#store(file, signal)
    const d = file.dirty
    if (d !== undefined && d.error !== 0) {
      const errno = d.error
      d.error = 0
      this.#release(file)
      // Logged when the store write failed (#seal): `logged` keeps the dispatcher from saying it twice.
      throw Object.assign(new FsError(errno, 'an earlier write could not be stored'), { logged: true })
    }
  }

  /**
   * Object ids are about to change (a rename where ids are keys). The
   * journal names objects by the id they had when written: what it holds
   * is stored first. Without a journal, rekeying the table is enough.
   */
  async idsChanging (): Promise<void> {
    // Not flush: an earlier failed write stays for its own file's next close to report.
    if (this.#journal !== undefined) await Promise.all([...this.#files].map(async f => { await this.#store(f) }))
  }

  /** Store every buffered block of `file`; the errno of a failed store write stays in it. */
  async #store (file: Buffered, signal?: AbortSignal): Promise<void> {
    for (;;) {
      const d = file.dirty
      if (d === undefined) return
      if (d.blocks.size > 0) this.#seal(file, [...d.blocks.values()])
      if (d.sealed.size === 0) return
      await untilAborted(Promise.all([...d.sealed.values()].map(async x => await x.done)), signal)
    }
  }

  /** Flush every file (unmount, shutdown). Errors were already logged per file. */
  async drain (): Promise<void> {
    await Promise.all([...this.#files].map(async f => await this.flush(f).catch(() => {})))
  }

  #dirtyOf (file: Buffered): DirtyFile {
    if (file.dirty === undefined) {
      file.dirty = { size: file.attr.size, storedSize: file.attr.size, attr: undefined, mtime: nowTimespec(), blocks: new Map(), sealed: new Map(), error: 0 }
      this.#files.add(file)
    }
    return file.dirty
  }

  #newBlock (file: Buffered, d: DirtyFile, index: number, base: Uint8Array | null, length: number): DirtyBlock {
    const spare = this.#spare.pop()
    const data = spare?.data ?? new Uint8Array(new SharedArrayBuffer(this.blockSize))
    // Only the stored content up to the size: past it the file reads zeros.
    const copied = base === null ? 0 : Math.min(base.byteLength, length)
    if (copied > 0) data.set((base as Uint8Array).subarray(0, copied))
    // A stored block shorter than the size there reads as zeros to `length`.
    const stale = spare?.stale ?? 0
    this.#clear(data, copied, Math.min(length, stale))
    const block: DirtyBlock = { index, data, length, stale }
    // Not in #order until written: the budget must not seal a block its writer has not filled yet.
    d.blocks.set(index, block)
    this.dirtyBytes += this.blockSize
    this.#wakeWaiters()
    return block
  }

  /** Hand blocks to the store; they stay readable until it answers. */
  #seal (file: Buffered, blocks: DirtyBlock[]): void {
    const d = file.dirty as DirtyFile
    let minSize = 0
    for (const b of blocks) {
      d.blocks.delete(b.index)
      this.#order.delete(b)
      minSize = Math.max(minSize, b.index * this.blockSize + b.length)
    }
    const writes = blocks.map(b => ({ index: b.index, data: b.data.subarray(0, b.length) }))
    const done = this.#io.writeBlocks(file.id, writes, minSize, d.mtime).then(
      attr => {
        d.storedSize = Math.max(d.storedSize, minSize)
        d.attr = attr
        // Stored: the journal may let go. A failed write keeps its segments for replay.
        if (this.#journal !== undefined) for (const b of blocks) for (const n of b.segments ?? []) this.#journal.unpin(n)
      },
      err => {
        const errno = toErrno(err)
        if (d.error === 0) log.error({ id: file.id, errno, err: String(err) }, 'storing written data failed')
        d.error = errno
      },
    ).finally(() => {
      this.#epochs.set(file, (this.#epochs.get(file) ?? 0) + 1)
      for (const b of blocks) {
        if (d.sealed.get(b.index)?.block === b) d.sealed.delete(b.index)
        this.#recycle(b)
      }
      this.dirtyBytes -= blocks.length * this.blockSize
      this.#wakeWaiters()
      this.#release(file)
    })
    for (const b of blocks) d.sealed.set(b.index, { block: b, done })
  }

  /**
   * Keep a stored block's memory for the next one: SharedArrayBuffers live
   * outside the JS heap, and allocating one per block let the daemon's RSS
   * grow past 1.3 GiB in a 1 GiB sequential write before a GC came round.
   * Nothing references the block any more (readers copy synchronously).
   */
  #recycle (b: DirtyBlock): void {
    if (this.#spare.length >= this.limit / this.blockSize) return
    // Not cleared: a block is filled from its start, and a gap is cleared
    // when a write leaves one. Clearing every buffer here cost 0.12 ms a
    // MiB of a sequential write that overwrites all of it anyway (CPU profile).
    this.#spare.push({ data: b.data, stale: Math.max(b.stale, b.length) })
  }

  /** Zeros in [from, to) of a block buffer. */
  #clear (data: Uint8Array, from: number, to: number): void {
    // Copied from zeros, not fill(0): fill on shared memory goes byte by
    // byte, 0.38 ms a MiB against 0.10.
    if (to > from) data.set(this.#zeros.subarray(0, to - from), from)
  }

  /** Drop a file's dirty state once nothing is buffered, in flight or unreported. */
  #release (file: Buffered): void {
    const d = file.dirty
    if (d === undefined || d.blocks.size > 0 || d.sealed.size > 0 || d.error !== 0) return
    // A store write changes size and times only; modes changed by a SETATTR
    // while the data was buffered are newer than the write's answer.
    file.attr = d.attr === undefined
      ? { ...file.attr, size: d.storedSize }
      : { ...file.attr, size: d.storedSize, mtime: d.attr.mtime, ctime: d.attr.ctime }
    file.dirty = undefined
    this.#files.delete(file)
    this.#hooks.settled(file)
  }

  /** Push the coldest open blocks to the store, then wait for one store write to finish. */
  async #room (): Promise<void> {
    this.#relieve()
    if (this.#spent()) await new Promise<void>(resolve => this.#waiters.push(resolve))
  }

  /** Whether a write of [offset, offset+length) would have to open a block. */
  #needsBlock (file: Buffered, offset: number, length: number): boolean {
    const open = file.dirty?.blocks
    if (open === undefined) return length > 0
    for (const s of spans(offset, length, this.blockSize)) if (!open.has(s.index)) return true
    return false
  }

  /** No room for one more block. */
  #spent (): boolean {
    return this.dirtyBytes + this.blockSize > this.limit
  }

  /** Seal the coldest open blocks until at most half the budget stays open. */
  #relieve (): void {
    for (const [block, file] of this.#order) {
      if (this.#order.size * this.blockSize <= this.limit / 2) break
      this.#seal(file, [block])
    }
  }

  /**
   * After every change of dirtyBytes: wake writers waiting for room (they
   * re-check). Only they wait: every other request goes on being read and
   * answered while the store catches up.
   */
  #wakeWaiters (): void {
    if (this.#waiters.length > 0 && !this.#spent()) {
      const w = this.#waiters
      this.#waiters = []
      for (const resolve of w) resolve()
    }
  }
}

/** A dirty block's bytes of span `s` into `out` (zeros already): past its `length` the block reads as zeros. */
function copyContent (out: Uint8Array, b: DirtyBlock, s: Span): void {
  const end = Math.min(s.offset + s.length, b.length)
  if (end > s.offset) out.set(b.data.subarray(s.offset, end), s.pos)
}
