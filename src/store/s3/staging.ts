// A file being written: its new content staged on local disk until it is
// committed as a new version of the object (write.ts).
//
// The content is three layers, top first: blocks written here (in a sparse
// staging file, each with its own content length), the base version on the
// server (the object this edit started from, up to `baseLimit`, which only
// ever shrinks), then zeros. A file created here has no base; O_TRUNC
// drops it.
//
// All changes to one staged file run one at a time (`exclusive`), so a
// commit reads a consistent staging file and a write never lands in the
// middle of an upload. The staging file is opened per call: the daemon
// never holds a descriptor per file.
//
// Everything else a successor needs to take the file over after a crash of
// this process is saved next to it (`save`, manifest.ts; recover.ts).
//
// Parts uploaded while the file is still written (stream.ts) read the
// staging file outside that section; every change therefore marks the
// blocks it touches, when it starts and when it ends (`generation`,
// `busyIn`), so that an upload can tell it read bytes that changed.
import { existsSync } from 'node:fs'
import { open, rm } from 'node:fs/promises'
import type { ObjectAttr, Timespec } from '../types.ts'
import { dropManifest, writeManifest } from './manifest.ts'
import type { Stream } from './stream.ts'

export interface Base {
  etag: string
  size: number
}

export class Staged {
  key: string
  attr: ObjectAttr
  xattrs: Map<string, Uint8Array>
  contentType: string | undefined
  /** The version whose bytes show where nothing was written here. */
  base: Base | null
  /** Bytes of the base still visible (truncation only lowers it). */
  baseLimit: number
  /** An object exists at `key` on the server (a commit replaces it, a rename away deletes it). */
  onServer: boolean
  /** Blocks written here: index -> content length. */
  readonly blocks = new Map<number, number>()
  readonly path: string
  #created = false
  /** Changed since the last commit. */
  dirty = true
  /** errno of a failed background commit, reported by the next flush or fsync. */
  error = 0
  /** Unlinked or replaced: nothing may commit it any more. */
  removed = false
  /** Unlinked with all its content here: kept under an unlinked id for the handles still open on it (`keepUnlinked`). */
  unlinked = false
  /** Committed and let go: whoever still holds it looks the key up again. */
  retired = false
  timer: NodeJS.Timeout | undefined
  /** The multipart upload under way while the file is written (stream.ts). */
  stream: Stream | undefined
  #chain: Promise<unknown> = Promise.resolve()
  /** Change counter, and the count at which each block last changed (started or finished changing). */
  #seq = 0
  readonly #changedAt = new Map<number, number>()
  /** Blocks [first, last) a change is writing now (one at a time: changes are exclusive). */
  #busy: { first: number, last: number } | undefined
  /** The manifest lacks a block map change (a read after a crash needs it) / only newer times (saved at flush). */
  #shapeChanged = false
  #timesStale = false

  constructor (key: string, attr: ObjectAttr, path: string, base: Base | null, onServer: boolean, xattrs = new Map<string, Uint8Array>(), contentType?: string) {
    this.key = key
    this.attr = attr
    this.path = path
    this.base = base
    this.baseLimit = base?.size ?? 0
    this.onServer = onServer
    this.xattrs = xattrs
    this.contentType = contentType
  }

  /**
   * Save what a successor needs to take this file over (manifest.ts).
   * Nothing once unlinked, replaced or committed: its manifest is gone.
   */
  save (): void {
    if (this.removed || this.retired) return
    writeManifest(this, this.stream?.uploadId)
    this.#shapeChanged = false
    this.#timesStale = false
  }

  /** After a write: save when its block map or size changed, else only note the newer times. */
  saveAfterWrite (sizeBefore: number): void {
    if (this.#shapeChanged || this.attr.size !== sizeBefore) this.save()
    else this.#timesStale = true
  }

  /** At flush: save times that writes changed since the last save. */
  saveIfStale (): void {
    if (this.#timesStale) this.save()
  }

  /** Unlinked or replaced: nothing may commit it any more, and a successor must not find it (its files go at discard). */
  drop (): void {
    this.removed = true
    dropManifest(this.path)
  }

  /**
   * After `drop`, in the exclusive section: instead of being discarded,
   * live on under `id` (keys.ts), read and written like any staged file,
   * never committed, until reclaimed. Only a file with no base: every
   * byte of it is here, none on the server it is about to leave.
   */
  async keepUnlinked (id: string): Promise<void> {
    this.unlinked = true
    this.key = id
    this.attr = { ...this.attr, id: id as ObjectAttr['id'], nlink: 0 }
    clearTimeout(this.timer)
    this.timer = undefined
    const stream = this.stream
    this.stream = undefined
    if (stream !== undefined) await stream.abort()
  }

  /** Taken over from a dead predecessor (recover.ts): blocks its staging file holds. */
  restore (blocks: Iterable<[number, number]>): void {
    this.#created = existsSync(this.path)
    for (const [index, len] of blocks) {
      this.blocks.set(index, len)
      this.#changedAt.set(index, ++this.#seq)
    }
  }

  /** Run `fn` after every earlier change of this file, and before any later one. */
  exclusive<T> (fn: () => Promise<T>): Promise<T> {
    const run = this.#chain.then(fn, fn)
    this.#chain = run.catch(() => {})
    return run
  }

  /** The latest change to blocks [first, last): equal before and after a read means the read saw no change, if none was busy. */
  generation (first: number, last: number): number {
    let g = 0
    for (let i = first; i < last; i++) g = Math.max(g, this.#changedAt.get(i) ?? 0)
    return g
  }

  /** A change is writing into blocks [first, last) now. */
  busyIn (first: number, last: number): boolean {
    const b = this.#busy
    return b !== undefined && b.first < last && first < b.last
  }

  /** Run a change of the blocks `marked` names, within [first, last), marking them before and after. */
  async #changing<T> (first: number, last: number, marked: () => Iterable<number>, fn: () => Promise<T>): Promise<T> {
    const mark = (): void => {
      const seq = ++this.#seq
      for (const i of marked()) this.#changedAt.set(i, seq)
    }
    this.#busy = { first, last }
    mark()
    try {
      return await fn()
    } finally {
      mark()
      this.#busy = undefined
    }
  }

  /** Store whole blocks (each at most blockSize bytes; shorter is the block's content up to its end). */
  async writeBlocks (blocks: Array<{ index: number, data: Uint8Array }>, bs: number): Promise<void> {
    if (blocks.length === 0) return
    let first = Infinity
    let last = -Infinity
    for (const b of blocks) {
      first = Math.min(first, b.index)
      last = Math.max(last, b.index + 1)
    }
    await this.#changing(first, last, () => blocks.map(b => b.index), async () => { await this.#write(blocks, bs) })
  }

  async #write (blocks: Array<{ index: number, data: Uint8Array }>, bs: number): Promise<void> {
    const fh = await open(this.path, this.#created ? 'r+' : 'w+', 0o600)
    this.#created = true
    try {
      for (const b of blocks) {
        const pos = b.index * bs
        if (b.data.byteLength > 0) await fh.write(b.data, 0, b.data.byteLength, pos)
        // A shorter rewrite leaves no stale tail: what it no longer covers reads as zeros.
        const had = this.blocks.get(b.index)
        const before = had ?? 0
        if (before > b.data.byteLength) await fh.write(new Uint8Array(before - b.data.byteLength), 0, before - b.data.byteLength, pos + b.data.byteLength)
        if (had !== b.data.byteLength) this.#shapeChanged = true
        this.blocks.set(b.index, b.data.byteLength)
      }
    } finally {
      await fh.close()
    }
  }

  /**
   * Bytes [offset, offset+length) of block `index` as staged, or undefined
   * when the block is not written here (the caller asks the base). A read
   * past a short block's content reads short.
   */
  async readLocal (index: number, offset: number, length: number, bs: number): Promise<Uint8Array | undefined> {
    const len = this.blocks.get(index)
    if (len === undefined) return undefined
    const n = Math.max(0, Math.min(length, len - offset))
    const out = new Uint8Array(n)
    if (n === 0) return out
    const fh = await open(this.path, 'r')
    try {
      const { bytesRead } = await fh.read(out, 0, n, index * bs + offset)
      return bytesRead === n ? out : out.subarray(0, bytesRead)
    } finally {
      await fh.close()
    }
  }

  /** Truncate or extend to `size`: blocks past it go, the base is cut, the block at the end keeps its head. */
  async resize (size: number, bs: number): Promise<void> {
    const from = Math.floor(size / bs)
    // Every block ever written has a mark: those from the new end on change.
    const cut = (): number[] => [...this.#changedAt.keys()].filter(i => i >= from)
    if (size < this.attr.size) await this.#changing(from, Infinity, cut, async () => { await this.#shrink(size, bs) })
    this.attr = { ...this.attr, size }
  }

  async #shrink (size: number, bs: number): Promise<void> {
    for (const [index, len] of this.blocks) {
      const start = index * bs
      if (start >= size) this.blocks.delete(index)
      else if (start + len > size) this.blocks.set(index, size - start)
    }
    this.baseLimit = Math.min(this.baseLimit, size)
    // Nothing of the old version shows any more: the file is new content
    // (a rename before its upload then moves it without a copy).
    if (this.baseLimit === 0) this.base = null
    if (this.#created) {
      const fh = await open(this.path, 'r+')
      try {
        await fh.truncate(size)
      } finally {
        await fh.close()
      }
    }
  }

  setTimes (mtime: Timespec, ctime: Timespec): void {
    this.attr = { ...this.attr, mtime, ctime }
  }

  /** Drop the staging file, and the multipart upload under way if any (no parts left behind). */
  async discard (): Promise<void> {
    clearTimeout(this.timer)
    this.timer = undefined
    const stream = this.stream
    this.stream = undefined
    // The manifest first: a successor must never find one without its data.
    dropManifest(this.path)
    if (stream !== undefined) await stream.abort()
    if (this.#created) await rm(this.path, { force: true })
    this.#created = false
    this.blocks.clear()
  }
}
