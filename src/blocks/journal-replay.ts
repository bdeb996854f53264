// Replaying the write journal (journal.ts) into the store, before a
// restarted serving process takes requests.
//
// What is on disk is a suffix of the history, and the store holds
// everything before it plus any part of it: blocks stored before the crash,
// and every size and zero record (the ops apply those to the store before
// recording them). Applying the suffix in order onto that state gives the
// state the kernel was told about, whatever part the store already had: a
// later write of a range wins, a truncation recorded after a write cuts it
// again. Replaying twice (a crash during replay) is as good as once.
//
// Records go to an in-memory image of the blocks they touch, loaded from
// the store on first touch, and a file is written back only where its image
// differs from the store: most of a journal is data the store already
// holds, and rewriting it would stamp replay's mtime over times set since
// (rsync sets the mtime after writing), and cost a block write per record.
import { readFileSync, unlinkSync } from 'node:fs'
import { blockCount, blockOf, spans } from './range.ts'
import { timespecOf } from '../time.ts'
import { errno as E, toErrno } from '../errors.ts'
import type { BlockWrite, ObjectId, ObjectStore } from '../store/types.ts'
import { KIND_SIZE, KIND_WRITE, MAGIC, decodeRecord, segmentsIn, type JournalRecord } from './journal.ts'

/** What replay needs of the store: the embedded store itself, opened before the pool. */
export type ReplayStore = Pick<ObjectStore, 'blockSize' | 'getattr' | 'readBlock' | 'writeBlocks' | 'setattr' | 'dropBlocks' | 'seekBlock'>

export interface ReplayResult {
  segments: number
  records: number
  /** Written bytes the records carried. */
  bytes: number
  /** Records of objects that no longer exist (unlinked and freed). */
  skipped: number
  /** Write-backs that changed the store; the other files held everything already. */
  repaired: number
  /** Where the valid records of the last segment end, when the crash cut its last record short. */
  torn: { segment: string, offset: number, reason: string } | undefined
}

export interface ReplayOptions {
  /** Block images held at most before writing them back (bytes). */
  memory?: number
}

/**
 * Apply every segment in `dir` to `store`, then delete them. Throws, and
 * deletes nothing, when a segment other than the last is damaged: only the
 * last record appended can be torn by a crash, so anything else needs a
 * person, not a guess.
 */
export async function replayJournal (dir: string, store: ReplayStore, opts: ReplayOptions = {}): Promise<ReplayResult> {
  const segments = segmentsIn(dir)
  const image = new Image(store, opts.memory ?? 64 * 1024 * 1024)
  const result: ReplayResult = { segments: segments.length, records: 0, bytes: 0, skipped: 0, repaired: 0, torn: undefined }
  for (const [i, seg] of segments.entries()) {
    const buf = readFileSync(seg.path)
    let pos = 0
    let bad: string | undefined
    // Empty: created, and the process died before its first record.
    if (buf.byteLength > 0) {
      if (buf.byteLength >= MAGIC.byteLength && buf.subarray(0, MAGIC.byteLength).equals(MAGIC)) pos = MAGIC.byteLength
      else if (buf.byteLength < MAGIC.byteLength && MAGIC.subarray(0, buf.byteLength).equals(buf)) bad = 'segment header cut short'
      else throw new Error(`${seg.path} is not a journal segment`)
    }
    while (bad === undefined && pos < buf.byteLength) {
      const r = decodeRecord(buf, pos)
      if ('bad' in r) {
        bad = r.bad
        break
      }
      result.records++
      if (r.record.kind === KIND_WRITE) result.bytes += r.record.b
      if (!await image.apply(r.record)) result.skipped++
      pos = r.next
    }
    if (bad === undefined) continue
    if (i !== segments.length - 1) throw new Error(`journal segment ${seg.path} is damaged at byte ${pos}: ${bad}`)
    result.torn = { segment: seg.path, offset: pos, reason: bad }
  }
  await image.flush()
  result.repaired = image.repaired
  // Oldest first: a crash meanwhile leaves a suffix, which replays correctly.
  for (const seg of segments) unlinkSync(seg.path)
  return result
}

/** A block's content from its start; bytes past `length` read as zeros (and are zeros in `data`). */
interface Known {
  data: Uint8Array
  length: number
}

interface FileImage {
  id: ObjectId
  /** The store's size. */
  storedSize: number
  /** The size after the records applied so far. */
  size: number
  /** The lowest size a record cut to since loading (Infinity: none): store bytes past it are gone. */
  cut: number
  /** Blocks records touched, and the block holding the lowest cut. */
  blocks: Map<number, Known>
  /** ms of the newest record, the mtime of what is written back. */
  time: number
}

const EMPTY = new Uint8Array(0)
/** Images and ids of vanished objects held at most; past these, write back / forget and go on. */
const MAX_FILES = 10_000
const MAX_MISSING = 100_000
const WRITE_BATCH = 64


class Image {
  /** Write-backs that changed the store. */
  repaired = 0
  readonly #store: ReplayStore
  readonly #bs: number
  readonly #memory: number
  readonly #files = new Map<ObjectId, FileImage>()
  readonly #missing = new Set<ObjectId>()
  /** Bytes of block images held. */
  #held = 0
  readonly #zeros: Uint8Array

  constructor (store: ReplayStore, memory: number) {
    this.#store = store
    this.#bs = store.blockSize
    this.#memory = memory
    this.#zeros = new Uint8Array(store.blockSize)
  }

  /** Apply one record; false when its object no longer exists. */
  async apply (r: JournalRecord): Promise<boolean> {
    const f = await this.#file(r.id)
    if (f === undefined) return false
    f.time = r.time
    if (r.kind === KIND_WRITE) await this.#write(f, r.a, r.data as Uint8Array)
    else if (r.kind === KIND_SIZE) await this.#resize(f, r.a)
    else await this.#zero(f, r.a, r.b)
    if (this.#held > this.#memory || this.#files.size > MAX_FILES) await this.flush()
    return true
  }

  /** Write every image back where it differs from the store, and forget them. */
  async flush (): Promise<void> {
    for (const f of this.#files.values()) if (await this.#writeBack(f)) this.repaired++
    this.#files.clear()
    this.#held = 0
  }

  async #file (id: ObjectId): Promise<FileImage | undefined> {
    const f = this.#files.get(id)
    if (f !== undefined) return f
    if (this.#missing.has(id)) return undefined
    let size: number
    try {
      size = (await this.#store.getattr(id)).size
    } catch (err) {
      if (toErrno(err) !== E.ENOENT) throw err
      if (this.#missing.size >= MAX_MISSING) this.#missing.clear()
      this.#missing.add(id)
      return undefined
    }
    const image: FileImage = { id, storedSize: size, size, cut: Infinity, blocks: new Map(), time: 0 }
    this.#files.set(id, image)
    return image
  }

  async #write (f: FileImage, offset: number, data: Uint8Array): Promise<void> {
    const bs = this.#bs
    for (const s of spans(offset, data.byteLength, bs)) {
      // A whole block overwritten needs nothing from the store.
      const k = s.length === bs && !f.blocks.has(s.index) ? this.#fresh(f, s.index) : await this.#block(f, s.index)
      this.#grow(k, s.offset + s.length)
      k.data.set(data.subarray(s.pos, s.pos + s.length), s.offset)
      k.length = Math.max(k.length, s.offset + s.length)
    }
    f.size = Math.max(f.size, offset + data.byteLength)
  }

  /** Truncate or extend: a cut zeroes the image past it, and the store's bytes past it no longer count. */
  async #resize (f: FileImage, size: number): Promise<void> {
    if (size >= f.size) {
      f.size = size
      return
    }
    const index = blockOf(size, this.#bs)
    const within = size - index * this.#bs
    if (within > 0) {
      const k = await this.#block(f, index)
      if (k.length > within) {
        k.data.fill(0, within, k.length)
        k.length = within
      }
    }
    for (const [i, k] of f.blocks) {
      if (i * this.#bs < size) continue
      this.#held -= k.data.byteLength
      f.blocks.delete(i)
    }
    f.cut = Math.min(f.cut, size)
    f.size = size
  }

  /** Zero a range within the size: whole blocks become holes. */
  async #zero (f: FileImage, offset: number, length: number): Promise<void> {
    const end = Math.min(offset + length, f.size)
    for (const s of spans(offset, Math.max(0, end - offset), this.#bs)) {
      if (s.length === this.#bs) {
        this.#held -= f.blocks.get(s.index)?.data.byteLength ?? 0
        f.blocks.set(s.index, { data: EMPTY, length: 0 })
        continue
      }
      const k = await this.#block(f, s.index)
      if (k.length > s.offset) k.data.fill(0, s.offset, Math.min(k.length, s.offset + s.length))
    }
  }

  #fresh (f: FileImage, index: number): Known {
    const k = { data: EMPTY, length: 0 }
    f.blocks.set(index, k)
    return k
  }

  /** The image of a block, loaded from the store on first touch. */
  async #block (f: FileImage, index: number): Promise<Known> {
    const known = f.blocks.get(index)
    if (known !== undefined) return known
    const got = await this.#stored(f, index, Math.min(f.storedSize, f.cut))
    const k = got === null ? { data: EMPTY, length: 0 } : { data: got, length: got.byteLength }
    this.#held += k.data.byteLength
    f.blocks.set(index, k)
    return k
  }

  /** A copy of the store's bytes of block `index` below `end`; null when there are none. */
  async #stored (f: FileImage, index: number, end: number): Promise<Uint8Array | null> {
    const visible = Math.min(this.#bs, end - index * this.#bs)
    if (visible <= 0) return null
    const got = await this.#store.readBlock(f.id, index, 0, visible)
    if (got === null || got.byteLength === 0) return null
    return got.slice(0, Math.min(visible, got.byteLength))
  }

  #grow (k: Known, need: number): void {
    if (k.data.byteLength >= need) return
    const data = new Uint8Array(Math.min(this.#bs, Math.max(need, 2 * k.data.byteLength)))
    data.set(k.data.subarray(0, k.length))
    this.#held += data.byteLength - k.data.byteLength
    k.data = data
  }

  /** Make the store hold the image; true if anything had to change. */
  async #writeBack (f: FileImage): Promise<boolean> {
    const mtime = timespecOf(f.time)
    let changed = false
    // The cut itself only when the store keeps something past it the image does not cover.
    if (f.cut < f.storedSize && (f.size < f.storedSize || await this.#strayPastCut(f))) {
      f.storedSize = (await this.#store.setattr(f.id, { size: f.cut, mtime })).size
      changed = true
    }
    const writes: BlockWrite[] = []
    const holes: number[] = []
    for (const [index, k] of [...f.blocks].sort((a, b) => a[0] - b[0])) {
      if (this.#same(k.data.subarray(0, k.length), await this.#stored(f, index, f.storedSize))) continue
      if (k.length === 0) holes.push(index)
      else writes.push({ index, data: k.data.subarray(0, k.length) })
    }
    // f.size >= f.storedSize here: sizes below the store's came with a cut, applied above.
    for (let i = 0; i < writes.length; i += WRITE_BATCH) {
      f.storedSize = (await this.#store.writeBlocks(f.id, writes.slice(i, i + WRITE_BATCH), f.size, mtime)).size
    }
    for (const index of holes) await this.#store.dropBlocks(f.id, index, index)
    // Dropping blocks stamps the time of now; an extension past the last block written needs the size.
    const resize = f.storedSize !== f.size
    if (holes.length > 0 || resize) await this.#store.setattr(f.id, { size: f.size, mtime })
    return changed || writes.length > 0 || holes.length > 0 || resize
  }

  /** Does the store hold a data block wholly past the cut that no image covers? */
  async #strayPastCut (f: FileImage): Promise<boolean> {
    const limit = blockCount(f.storedSize, this.#bs)
    let i = await this.#store.seekBlock(f.id, blockCount(f.cut, this.#bs), limit, true)
    while (i !== null) {
      if (!f.blocks.has(i)) return true
      i = await this.#store.seekBlock(f.id, i + 1, limit, true)
    }
    return false
  }

  /** Equal content, a shorter side reading as zeros. */
  #same (a: Uint8Array, b: Uint8Array | null): boolean {
    const other = b ?? EMPTY
    const n = Math.min(a.byteLength, other.byteLength)
    const zeros = (x: Uint8Array): boolean => Buffer.compare(x, this.#zeros.subarray(0, x.byteLength)) === 0
    return Buffer.compare(a.subarray(0, n), other.subarray(0, n)) === 0 && zeros(a.subarray(n)) && zeros(other.subarray(n))
  }
}
