// Blocks read ahead of the READ that will ask for them.
//
// Whole blocks are read with O_DIRECT (store/local/direct.ts), past the
// host's page cache and so past its read-ahead: without this, each READ's
// worker read its block from a cold disk while nothing else went on. (When
// every block was a file of its own, where the host's read-ahead stopped
// at each, a cold 1 GiB read took 1.5 s; with the block files already in
// the page cache, 0.85 s.) When the coalescer sees a file read block after
// block, the pool reads the next blocks into pooled buffers while the
// current one is answered, and the READ that asks for one takes its buffer
// as it would its own.
import type { Lease } from '../blocks/read-buffers.ts'
import type { ObjectId } from '../store/types.ts'

/**
 * Blocks held ahead, across files, each in a pooled buffer of a block: the
 * coalescer's two for each of 8 files read side by side (a data loader's
 * workers reading their shards). Full, the table reads no more ahead until
 * a block is taken, passed or stale, rather than letting its oldest go for
 * a newer one, which threw away blocks read for one file before its READ
 * came. Four `dd`s of 256 MiB files at once: 550-650 MiB/s with room for
 * four, 1,120-1,360 with sixteen; twelve `dd`s: 470-570 MiB/s with sixteen
 * letting the oldest go, 1,040-1,230 reading no more ahead (README,
 * session 24).
 */
export const KEEP = 16
/**
 * A block not asked for this soon was not what the reader wanted next:
 * read-ahead is for the READ about to come, not a cache.
 */
const FRESH_MS = 1000

export interface Ahead {
  id: ObjectId
  index: number
  /** Its second hold is the READ's that takes it (or this table's until then). */
  lease: Lease
  /** The block's byte count, null for a hole; a rejection is for the READ to meet again. */
  read: Promise<number | null>
  /** When it was asked for (performance.now()). */
  at: number
}

export class ReadAhead {
  /** Oldest first. */
  readonly #blocks = new Map<string, Ahead>()

  /**
   * Read block `index` of `id` ahead with `begin`, unless it is held
   * already or the table is full once blocks nobody asked for in time are
   * let go.
   */
  start (id: ObjectId, index: number, begin: () => Pick<Ahead, 'lease' | 'read'>): void {
    const k = key(id, index)
    if (this.#blocks.has(k) || !this.#room()) return
    this.#blocks.set(k, { id, index, ...begin(), at: performance.now() })
  }

  #room (): boolean {
    if (this.#blocks.size < KEEP) return true
    const now = performance.now()
    // Oldest first: the stale ones lead.
    for (const [k, a] of this.#blocks) {
      if (now - a.at < FRESH_MS) break
      this.#blocks.delete(k)
      a.lease.done()
    }
    return this.#blocks.size < KEEP
  }

  /**
   * The block read ahead, if it was and is fresh; the caller now holds its
   * lease. What was read ahead of `id` behind it is let go: the reader is
   * past it.
   */
  take (id: ObjectId, index: number): Ahead | undefined {
    if (this.#blocks.size === 0) return undefined
    let taken: Ahead | undefined
    const now = performance.now()
    for (const [k, a] of this.#blocks) {
      if (a.id !== id || a.index > index) continue
      this.#blocks.delete(k)
      if (a.index === index && now - a.at < FRESH_MS) taken = a
      else a.lease.done()
    }
    return taken
  }

  /** `id` changed or went: what was read of it ahead is stale. */
  drop (id: ObjectId): void {
    for (const [k, a] of this.#blocks) {
      if (a.id !== id) continue
      this.#blocks.delete(k)
      a.lease.done()
    }
  }
}

const key = (id: ObjectId, index: number): string => `${index}:${id}`

/** Of a whole block's `n` bytes in `buf`, the ones a read of [offset, offset+length) gets. */
export function rangeOf (buf: Uint8Array, n: number, offset: number, length: number): Uint8Array {
  return buf.subarray(offset, Math.max(offset, Math.min(n, offset + length)))
}
