// The redo log of a group of changes not yet committed (group.ts).
//
// A change answered to the kernel must survive kill -9 of the daemon: the
// keeper's next daemon serves a kernel that still holds what it was told.
// A SQLite commit per change did that at ~25 us each (two writes per WAL
// page, six fcntl locks); one write(2) here does it for a few. The record is
// the change's writing statements with their arguments, which carry every
// choice (uuid, ino, times) the change made: run again in order on the
// committed state, they make the same rows. Not fsynced, like the WAL under
// synchronous=NORMAL: sync() commits the group and fsyncs that.
//
// One file per store instance (redo-<token>.log), written from offset 0
// again after each group commit, so its blocks stay allocated (a rewrite
// needs no room on a full disk). A record: magic, payload length, seq,
// crc32 of the payload, then the payload (its steps, below). Reading stops
// at the first record that is torn, has a bad crc, or does not follow its
// predecessor's seq: what lies beyond is an older round's leftovers.
import { closeSync, openSync, readdirSync, readFileSync, unlinkSync } from 'node:fs'
import { join } from 'node:path'
import { crc32 } from 'node:zlib'
import { writeAll } from './fd.ts'

/** A statement of statements.ts by name, and its arguments. */
export type Step = [statement: string, args: unknown[]]

export interface RedoRecord {
  seq: number
  steps: Step[]
}

const MAGIC = 0x6f646572 // "redo" on disk (a little-endian u32)
const HEADER = 20
const PREFIX = 'redo-'
const SUFFIX = '.log'

export const redoPath = (dir: string, token: string): string => join(dir, `${PREFIX}${token}${SUFFIX}`)

/** The tokens of the redo logs in a store directory. */
export function redoTokens (dir: string): string[] {
  return readdirSync(dir).filter(n => n.startsWith(PREFIX) && n.endsWith(SUFFIX)).map(n => n.slice(PREFIX.length, -SUFFIX.length))
}

// Argument tags of the payload. A step: name (u8 length, latin1), argument
// count (u8), then each argument: tag, and its value (f64; u32 length and
// UTF-8 or bytes; i64). v8.serialize cost ~5 us a record, a third of the
// group's saving; this costs well under one.
const NULL = 0
const NUMBER = 1
const TEXT = 2
const BYTES = 3
const BIGINT = 4

/** Grows by doubling; reused from record to record (the serving thread only). */
class Writer {
  buf = Buffer.allocUnsafe(4096)
  at = 0

  room (n: number): void {
    if (this.at + n <= this.buf.byteLength) return
    let size = this.buf.byteLength * 2
    while (size < this.at + n) size *= 2
    const next = Buffer.allocUnsafe(size)
    this.buf.copy(next, 0, 0, this.at)
    this.buf = next
  }

  u8 (v: number): void { this.room(1); this.buf[this.at++] = v }
  u32 (v: number): void { this.room(4); this.buf.writeUInt32LE(v, this.at); this.at += 4 }
  f64 (v: number): void { this.room(8); this.buf.writeDoubleLE(v, this.at); this.at += 8 }
  i64 (v: bigint): void { this.room(8); this.buf.writeBigInt64LE(v, this.at); this.at += 8 }
  /** `s`, which is `n` bytes in `encoding`. */
  chars (s: string, n: number, encoding: 'utf8' | 'latin1'): void { this.room(n); this.at += this.buf.write(s, this.at, encoding) }
  bytes (b: Uint8Array): void { this.room(b.byteLength); this.buf.set(b, this.at); this.at += b.byteLength }

  arg (a: unknown): void {
    if (a === null || a === undefined) {
      this.u8(NULL)
    } else if (typeof a === 'number') {
      this.u8(NUMBER)
      this.f64(a)
    } else if (typeof a === 'bigint') {
      this.u8(BIGINT)
      this.i64(a)
    } else if (typeof a === 'string') {
      const n = Buffer.byteLength(a, 'utf8')
      this.u8(TEXT)
      this.u32(n)
      this.chars(a, n, 'utf8')
    } else if (ArrayBuffer.isView(a)) {
      this.u8(BYTES)
      this.u32(a.byteLength)
      this.bytes(new Uint8Array(a.buffer, a.byteOffset, a.byteLength))
    } else {
      throw new TypeError(`a statement argument the redo log cannot hold: ${typeof a}`)
    }
  }
}

const writer = new Writer()

/** The record's bytes; a view of a buffer the next call reuses. */
export function encodeRecord (r: RedoRecord): Buffer {
  const w = writer
  w.at = HEADER
  w.u32(r.steps.length)
  for (const [name, args] of r.steps) {
    w.u8(name.length)
    w.chars(name, name.length, 'latin1')
    w.u8(args.length)
    for (const a of args) w.arg(a)
  }
  const out = w.buf.subarray(0, w.at)
  out.writeUInt32LE(MAGIC, 0)
  out.writeUInt32LE(w.at - HEADER, 4)
  out.writeDoubleLE(r.seq, 8)
  out.writeUInt32LE(crc32(out.subarray(HEADER)), 16)
  return out
}

function decodeSteps (p: Buffer): Step[] {
  let at = 0
  const steps: Step[] = []
  const count = p.readUInt32LE(at)
  at += 4
  for (let i = 0; i < count; i++) {
    const nameLen = p[at++]
    const name = p.toString('latin1', at, at + nameLen)
    at += nameLen
    const argc = p[at++]
    const args: unknown[] = []
    for (let j = 0; j < argc; j++) {
      const tag = p[at++]
      if (tag === NULL) {
        args.push(null)
      } else if (tag === NUMBER) {
        args.push(p.readDoubleLE(at))
        at += 8
      } else if (tag === BIGINT) {
        args.push(p.readBigInt64LE(at))
        at += 8
      } else if (tag === TEXT || tag === BYTES) {
        const n = p.readUInt32LE(at)
        at += 4
        // Bytes are copied out: the file's buffer is not kept.
        args.push(tag === TEXT ? p.toString('utf8', at, at + n) : Uint8Array.prototype.slice.call(p, at, at + n))
        at += n
      } else {
        throw new Error(`redo record: unknown argument tag ${tag}`)
      }
    }
    steps.push([name, args])
  }
  if (at !== p.byteLength) throw new Error('redo record: trailing bytes')
  return steps
}

/** The records of `buf` from its start, as far as they are whole and in sequence. */
export function decodeRecords (buf: Buffer): RedoRecord[] {
  const out: RedoRecord[] = []
  for (let at = 0; at + HEADER <= buf.byteLength;) {
    if (buf.readUInt32LE(at) !== MAGIC) break
    const length = buf.readUInt32LE(at + 4)
    const seq = buf.readDoubleLE(at + 8)
    const end = at + HEADER + length
    if (end > buf.byteLength) break
    const payload = buf.subarray(at + HEADER, end)
    if (crc32(payload) !== buf.readUInt32LE(at + 16)) break
    if (out.length > 0 && seq !== out[out.length - 1].seq + 1) break
    out.push({ seq, steps: decodeSteps(payload) })
    at = end
  }
  return out
}

export function readRedo (path: string): RedoRecord[] {
  return decodeRecords(readFileSync(path))
}

export class RedoLog {
  readonly path: string
  readonly #fd: number
  #end = 0

  constructor (dir: string, token: string) {
    this.path = redoPath(dir, token)
    this.#fd = openSync(this.path, 'w', 0o600)
  }

  /** Bytes written since the last restart. */
  get size (): number {
    return this.#end
  }

  /** Write one record after the last; throws (ENOSPC, EIO) if it is not all written. */
  append (r: RedoRecord): void {
    const buf = encodeRecord(r)
    writeAll(this.#fd, buf, this.#end)
    this.#end += buf.byteLength
  }

  /** Everything written is committed: start again at the beginning. */
  restart (): void {
    this.#end = 0
  }

  /** What this round wrote. */
  records (): RedoRecord[] {
    return this.#end === 0 ? [] : decodeRecords(readFileSync(this.path).subarray(0, this.#end))
  }

  /** Close and delete: everything in it is committed. */
  remove (): void {
    closeSync(this.#fd)
    unlinkSync(this.path)
  }
}
