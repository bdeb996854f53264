// The write journal: what the daemon acknowledged to the kernel but has not
// stored yet, on local disk, so that a restarted serving process (the keeper
// restarts it after kill -9) can replay it into the store before serving.
//
// Plain write(2), no fsync: the page cache outlives the process, which is
// the failure this covers; power loss is out of scope (fsync is the user's
// tool for that, and it reaches the store). One record per WRITE, appended
// on the supervisor thread with one pwritev of a reused header and the
// kernel's own buffer. The journal is a sequence of segment files; a
// segment is deleted once every write it recorded is stored and every older
// segment is gone, so what is left on disk is always a suffix of the
// history, which replay (journal-replay.ts) applies in order.
//
// Segment file: the 8 bytes "OBJFSJ01", then records (empty until its first
// record). Record, little-endian:
//   0  u32  record length, header + id + data
//   4  u32  crc32 of bytes [8, length)
//   8  u8   kind: 1 write, 2 size, 3 zero
//   9  u8   id length in bytes (n), low 8 bits
//   10 u16  id length, the bits above (0 in the ids up to 255 bytes the
//           first format allowed; S3 keys reach 1,024 bytes and more)
//   12 u64  time of the change, ms since the epoch (the mtime replay gives)
//   20 u64  write, zero: offset; size: the new size
//   28 u64  write: data length; zero: range length; size: 0
//   36      id (n bytes, utf8), then the written bytes (write only)
import { closeSync, ftruncateSync, mkdirSync, openSync, readdirSync, unlinkSync, writeSync, writevSync } from 'node:fs'
import { join } from 'node:path'
import { crc32 } from 'node:zlib'
import { logger } from '../log.ts'
import type { ObjectId } from '../store/types.ts'

const log = logger('journal')

export const MAGIC = Buffer.from('OBJFSJ01', 'latin1')
const HEADER = 36
export const KIND_WRITE = 1
export const KIND_SIZE = 2
const KIND_ZERO = 3
const MAX_ID = 16 * 1024
const TWO32 = 0x1_0000_0000

const segmentName = (n: number): string => `${String(n).padStart(6, '0')}.jrnl`

/** Segment files in `dir`, oldest first; none when `dir` does not exist. */
export function segmentsIn (dir: string): Array<{ n: number, path: string }> {
  let names: string[]
  try {
    names = readdirSync(dir)
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') return []
    throw err
  }
  return names.filter(f => /^\d+\.jrnl$/.test(f))
    .map(f => ({ n: Number(f.slice(0, -'.jrnl'.length)), path: join(dir, f) }))
    .sort((a, b) => a.n - b.n)
}

export interface JournalRecord {
  kind: number
  id: ObjectId
  /** ms since the epoch. */
  time: number
  /** write, zero: offset; size: the new size. */
  a: number
  /** write: data length; zero: range length. */
  b: number
  /** write only: a view into the segment's bytes. */
  data: Uint8Array | undefined
}

const getU64 = (buf: Buffer, pos: number): number => buf.readUInt32LE(pos) + buf.readUInt32LE(pos + 4) * TWO32
const putU64 = (buf: Buffer, pos: number, v: number): void => {
  buf.writeUInt32LE(v % TWO32, pos)
  buf.writeUInt32LE(Math.floor(v / TWO32), pos + 4)
}

/** The record at `pos`, or why there is none (a torn tail or damage). */
export function decodeRecord (buf: Buffer, pos: number): { record: JournalRecord, next: number } | { bad: string } {
  if (buf.byteLength - pos < HEADER) return { bad: `${buf.byteLength - pos} bytes left, less than a record header` }
  const length = buf.readUInt32LE(pos)
  if (length < HEADER || length > buf.byteLength - pos) return { bad: `record length ${length} with ${buf.byteLength - pos} bytes left` }
  if (crc32(buf.subarray(pos + 8, pos + length)) !== buf.readUInt32LE(pos + 4)) return { bad: 'checksum mismatch' }
  const kind = buf[pos + 8]
  const n = buf[pos + 9] + buf.readUInt16LE(pos + 10) * 256
  const time = getU64(buf, pos + 12)
  const a = getU64(buf, pos + 20)
  const b = getU64(buf, pos + 28)
  const dataLength = length - HEADER - n
  if (dataLength < 0 || !Number.isSafeInteger(a) || !Number.isSafeInteger(b)) return { bad: 'bad field values' }
  if (kind === KIND_WRITE ? b !== dataLength : (kind !== KIND_SIZE && kind !== KIND_ZERO) || dataLength !== 0) return { bad: `bad kind ${kind} for its length` }
  const id = buf.toString('utf8', pos + HEADER, pos + HEADER + n) as ObjectId
  const data = kind === KIND_WRITE ? buf.subarray(pos + HEADER + n, pos + length) : undefined
  return { record: { kind, id, time, a, b, data }, next: pos + length }
}

interface JournalOptions {
  /** Start a new segment once the current one would grow past this (bytes). */
  segmentBytes?: number
  /** The clock records are stamped with (tests pin it). */
  now?: () => number
}

interface Segment {
  n: number
  /** Writes recorded here and not yet stored: one per dirty block holding some, one per WRITE in progress. */
  pins: number
}

/**
 * The appending side, owned by the main thread. Holds one fd: the segment
 * being appended to.
 */
export class Journal {
  readonly dir: string
  readonly segmentBytes: number
  readonly #now: () => number
  #fd = -1
  /** The segment appended to (never deleted; none once closed), and its length. */
  #cur: Segment | undefined
  #bytes = 0
  /** Segments on disk, oldest first. */
  readonly #live = new Map<number, Segment>()
  /** The newest segment holding a record of each object, while it is on disk. */
  readonly #lastOf = new Map<ObjectId, number>()
  /** Set when a failed append could not be undone: the segment's tail is garbage, so nothing more may follow it. */
  #broken: Error | undefined
  readonly #head = Buffer.alloc(HEADER + 4 * MAX_ID)

  constructor (dir: string, opts: JournalOptions = {}) {
    this.dir = dir
    this.segmentBytes = opts.segmentBytes ?? 64 * 1024 * 1024
    this.#now = opts.now ?? Date.now
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    // Numbering restarts at 1, and a leftover would be deleted as unpinned.
    const left = segmentsIn(dir)
    if (left.length > 0) throw new Error(`the journal ${dir} holds ${left.length} segments not replayed (replayJournal first)`)
    this.#open(1)
  }

  /**
   * Record a write; returns its segment, pinned once for the caller, who
   * pins it again for each block the data lands in and then unpins once.
   */
  appendWrite (id: ObjectId, offset: number, data: Uint8Array): number {
    this.#append(KIND_WRITE, id, offset, data.byteLength, data)
    const s = this.#cur as Segment
    s.pins++
    return s.n
  }

  /**
   * Record a truncate or extend the store has applied: replaying an older
   * write must not bring back what it cut.
   */
  appendSize (id: ObjectId, size: number): void {
    this.#append(KIND_SIZE, id, size, 0, undefined)
  }

  /** Record a range the store zeroed (punch hole, zero range). */
  appendZero (id: ObjectId, offset: number, length: number): void {
    this.#append(KIND_ZERO, id, offset, length, undefined)
  }

  /** One more holder of segment `n`, which the caller already holds. */
  pin (n: number): void {
    (this.#live.get(n) as Segment).pins++
  }

  /** A holder of segment `n` is stored; delete what no longer has a holder. */
  unpin (n: number): void {
    const s = this.#live.get(n) as Segment
    s.pins--
    if (s.pins === 0) this.#collect()
  }

  /** Segments on disk (for stats and tests). */
  get segments (): number {
    return this.#live.size
  }

  /**
   * Does a segment on disk hold a record of `id`? Replay would apply it
   * over whatever the store holds (the coalescer's whole-block writes).
   */
  holds (id: ObjectId): boolean {
    return this.#lastOf.has(id)
  }

  /**
   * Close the segment; remove every segment if everything recorded is
   * stored (after the coalescer drained). A failed store write leaves them
   * all for the next start to replay.
   */
  close (): void {
    if (this.#fd >= 0) closeSync(this.#fd)
    this.#fd = -1
    this.#cur = undefined
    this.#collect()
    if (this.#live.size > 0) log.warn({ dir: this.dir, segments: this.#live.size }, 'journal segments kept: some written data was not stored')
  }

  #append (kind: number, id: ObjectId, a: number, b: number, data: Uint8Array | undefined): void {
    if (this.#broken !== undefined) throw this.#broken
    if (this.#fd < 0) throw new Error('the journal is closed')
    const h = this.#head
    if (id.length > MAX_ID) throw new Error(`object id of ${id.length} characters`)
    const n = h.write(id, HEADER, 'utf8')
    if (n > MAX_ID) throw new Error(`object id of ${n} bytes`)
    const head = HEADER + n
    const length = head + (data?.byteLength ?? 0)
    if (length >= TWO32) throw new Error(`journal record of ${length} bytes`)
    if (this.#bytes > MAGIC.byteLength && this.#bytes + length > this.segmentBytes) this.#rotate()
    // Written with the first record, not at creation: a failed magic then stays retryable.
    if (this.#bytes === 0) this.#put(MAGIC, undefined, MAGIC.byteLength)
    h.writeUInt32LE(length, 0)
    h[8] = kind
    h[9] = n & 0xff
    h.writeUInt16LE(n >>> 8, 10)
    putU64(h, 12, this.#now())
    putU64(h, 20, a)
    putU64(h, 28, b)
    let crc = crc32(h.subarray(8, head))
    if (data !== undefined) crc = crc32(data, crc)
    h.writeUInt32LE(crc, 4)
    this.#put(h.subarray(0, head), data, length)
    this.#lastOf.set(id, (this.#cur as Segment).n)
  }

  /** Write a record at the end of the segment, whole or not at all. */
  #put (head: Uint8Array, data: Uint8Array | undefined, length: number): void {
    const at = this.#bytes
    try {
      let done = data === undefined ? writeSync(this.#fd, head, 0, head.byteLength, at) : writevSync(this.#fd, [head, data], at)
      // A regular file writes short only when full or interrupted; finish or fail.
      while (done < length) {
        const part = done < head.byteLength ? head.subarray(done) : (data as Uint8Array).subarray(done - head.byteLength)
        const wrote = writeSync(this.#fd, part, 0, part.byteLength, at + done)
        if (wrote === 0) throw Object.assign(new Error('journal write made no progress'), { code: 'ENOSPC' })
        done += wrote
      }
    } catch (err) {
      // A torn record may only ever be the last thing in the journal.
      try {
        ftruncateSync(this.#fd, at)
      } catch (cut) {
        this.#broken = err as Error
        log.error({ dir: this.dir, err: String(cut) }, 'a failed journal append could not be undone; no more writes are accepted')
      }
      throw err
    }
    this.#bytes += length
  }

  #open (n: number): void {
    this.#fd = openSync(join(this.dir, segmentName(n)), 'wx', 0o600)
    this.#bytes = 0
    this.#cur = { n, pins: 0 }
    this.#live.set(n, this.#cur)
  }

  #rotate (): void {
    closeSync(this.#fd)
    this.#fd = -1
    const next = (this.#cur as Segment).n + 1
    this.#cur = undefined
    this.#open(next)
    this.#collect()
  }

  /**
   * Delete unpinned closed segments from the oldest on, stopping at the
   * first still needed: deleting a newer one first would let replay apply
   * an older write over a newer stored one.
   */
  #collect (): void {
    let deleted = false
    for (const s of this.#live.values()) {
      if (s === this.#cur || s.pins > 0) break
      try {
        unlinkSync(join(this.dir, segmentName(s.n)))
      } catch (err) {
        if ((err as { code?: string }).code !== 'ENOENT') {
          log.warn({ dir: this.dir, segment: s.n, err: String(err) }, 'could not delete a journal segment; retrying later')
          break
        }
      }
      this.#live.delete(s.n)
      deleted = true
    }
    if (!deleted) return
    const oldest = this.#live.keys().next().value ?? Infinity
    for (const [id, n] of this.#lastOf) if (n < oldest) this.#lastOf.delete(id)
  }
}
