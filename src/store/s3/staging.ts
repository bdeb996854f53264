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
import { open, rm } from 'node:fs/promises'
import type { ObjectAttr, Timespec } from '../types.ts'

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
  /** Committed and let go: whoever still holds it looks the key up again. */
  retired = false
  timer: NodeJS.Timeout | undefined
  #chain: Promise<unknown> = Promise.resolve()

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

  /** Run `fn` after every earlier change of this file, and before any later one. */
  exclusive<T> (fn: () => Promise<T>): Promise<T> {
    const run = this.#chain.then(fn, fn)
    this.#chain = run.catch(() => {})
    return run
  }

  /** Store whole blocks (each at most blockSize bytes; shorter is the block's content up to its end). */
  async writeBlocks (blocks: Array<{ index: number, data: Uint8Array }>, bs: number): Promise<void> {
    if (blocks.length === 0) return
    const fh = await open(this.path, this.#created ? 'r+' : 'w+', 0o600)
    this.#created = true
    try {
      for (const b of blocks) {
        const pos = b.index * bs
        if (b.data.byteLength > 0) await fh.write(b.data, 0, b.data.byteLength, pos)
        // A shorter rewrite leaves no stale tail: what it no longer covers reads as zeros.
        const before = this.blocks.get(b.index) ?? 0
        if (before > b.data.byteLength) await fh.write(new Uint8Array(before - b.data.byteLength), 0, before - b.data.byteLength, pos + b.data.byteLength)
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
    if (size < this.attr.size) {
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
    this.attr = { ...this.attr, size }
  }

  setTimes (mtime: Timespec, ctime: Timespec): void {
    this.attr = { ...this.attr, mtime, ctime }
  }

  /** Drop the staging file. */
  async discard (): Promise<void> {
    clearTimeout(this.timer)
    this.timer = undefined
    if (this.#created) await rm(this.path, { force: true })
    this.#created = false
    this.blocks.clear()
  }
}
