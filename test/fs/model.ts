// The reference model for random-operation tests (mountpoint-s3's
// reftests): an in-memory filesystem of names, files and open handles with
// POSIX semantics, and a seeded generator of operations that are valid in
// the model's current state. The fake-kernel test (test/fs/model.test.ts)
// and the real-mount test (test/mount/model.test.ts) both replay its
// operations and compare every read, size and link count with it.

/** mulberry32: tiny, fast, and a failure replays from its seed. */
export class Rng {
  #a: number
  constructor (seed: number) { this.#a = seed >>> 0 }
  next (): number {
    let x = (this.#a = (this.#a + 0x6d2b79f5) >>> 0)
    x = Math.imul(x ^ (x >>> 15), x | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return ((x ^ (x >>> 14)) >>> 0) / 2 ** 32
  }

  /** Integer in [lo, hi]. */
  int (lo: number, hi: number): number { return lo + Math.floor(this.next() * (hi - lo + 1)) }
  pick<T> (xs: readonly T[]): T { return xs[Math.floor(this.next() * xs.length)] }
  chance (p: number): boolean { return this.next() < p }
  bytes (n: number): Uint8Array {
    const out = new Uint8Array(n)
    // A random start and stride: distinct writes are told apart by their bytes.
    let v = this.int(1, 250)
    const step = this.int(1, 250)
    for (let i = 0; i < n; i++) { out[i] = v; v = (v + step) % 251 + 1 }
    return out
  }
}

export const FALLOC_FL_KEEP_SIZE = 0x01
export const FALLOC_FL_PUNCH_HOLE = 0x02
export const FALLOC_FL_ZERO_RANGE = 0x10
export const RENAME_NOREPLACE = 1

export class FileNode {
  data = new Uint8Array(0)
  nlink = 1
  readonly serial: number
  constructor (serial: number) { this.serial = serial }
  get size (): number { return this.data.byteLength }

  resize (size: number): void {
    if (size === this.size) return
    const next = new Uint8Array(size)
    next.set(this.data.subarray(0, Math.min(size, this.size)))
    this.data = next
  }

  write (offset: number, bytes: Uint8Array): void {
    if (offset + bytes.byteLength > this.size) this.resize(offset + bytes.byteLength)
    this.data.set(bytes, offset)
  }

  zero (from: number, to: number): void {
    if (to > from) this.data.fill(0, from, Math.min(to, this.size))
  }
}

export type Op =
  | { op: 'create', path: string, h: number }
  | { op: 'open', path: string, h: number }
  | { op: 'close', h: number }
  | { op: 'write', h: number, offset: number, data: Uint8Array }
  | { op: 'read', h: number, offset: number, length: number }
  | { op: 'truncate', h: number, size: number }
  | { op: 'fallocate', h: number, mode: number, offset: number, length: number }
  | { op: 'fsync', h: number }
  | { op: 'fstat', h: number }
  | { op: 'stat', path: string }
  | { op: 'rename', from: string, to: string, flags: number }
  | { op: 'link', from: string, to: string }
  | { op: 'unlink', path: string }
  /** Requests in flight at once: disjoint writes and reads on one file through several handles. */
  | { op: 'concurrent', ops: Array<Extract<Op, { op: 'write' | 'read' }>> }
  /** The kernel drops what it caches (FORGET; drop_caches on a mount). */
  | { op: 'forget' }

/** An operation and what the model says it must do: an errno, or the bytes or attributes to see. */
export type Step = Op & { errno?: number }

export const DIRS = ['', 'd0', 'd1']
const NAMES = ['f0', 'f1', 'f2', 'f3', 'f4', 'f5']
export const ENOENT = 2
export const EEXIST = 17

export const describe = (s: Step): string => {
  const { data, ops, ...rest } = s as Step & { data?: Uint8Array, ops?: unknown[] }
  const extra = data !== undefined ? ` +${data.byteLength} bytes` : ops !== undefined ? ` ${ops.map(o => describe(o as Step)).join(' | ')}` : ''
  return `${JSON.stringify(rest)}${extra}`
}

export interface ModelLimits {
  blockSize: number
  /** Files stay below this many bytes. */
  maxSize: number
  maxHandles: number
}

export class FsModel {
  readonly names = new Map<string, FileNode>()
  readonly handles = new Map<number, FileNode>()
  readonly limits: ModelLimits
  #serial = 0
  #nextHandle = 1

  constructor (limits: ModelLimits) { this.limits = limits }

  /** Bytes a read of [offset, offset+length) returns. */
  read (h: number, offset: number, length: number): Uint8Array {
    const n = this.handles.get(h) as FileNode
    return n.data.slice(Math.min(offset, n.size), Math.min(offset + length, n.size))
  }

  /** Change the model as `s` does (a step expected to fail changes nothing). */
  apply (s: Step): void {
    if (s.errno !== undefined) return
    switch (s.op) {
      case 'create': {
        const n = new FileNode(this.#serial++)
        this.names.set(s.path, n)
        this.handles.set(s.h, n)
        return
      }
      case 'open': this.handles.set(s.h, this.names.get(s.path) as FileNode); return
      case 'close': this.handles.delete(s.h); return
      case 'write': (this.handles.get(s.h) as FileNode).write(s.offset, s.data); return
      case 'truncate': (this.handles.get(s.h) as FileNode).resize(s.size); return
      case 'fallocate': return this.#fallocate(this.handles.get(s.h) as FileNode, s.mode, s.offset, s.length)
      case 'rename': return this.#rename(s.from, s.to)
      case 'link': {
        const n = this.names.get(s.from) as FileNode
        n.nlink++
        this.names.set(s.to, n)
        return
      }
      case 'unlink': {
        const n = this.names.get(s.path) as FileNode
        n.nlink--
        this.names.delete(s.path)
        return
      }
      case 'concurrent': for (const o of s.ops) this.apply(o); return
      default:
    }
  }

  /** fallocate(2) as Linux does it: allocation shows only as a new size; punch and zero read as zeros. */
  #fallocate (n: FileNode, mode: number, offset: number, length: number): void {
    const end = offset + length
    if ((mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) !== 0) n.zero(offset, end)
    if ((mode & FALLOC_FL_KEEP_SIZE) === 0 && end > n.size) n.resize(end)
  }

  #rename (from: string, to: string): void {
    const src = this.names.get(from) as FileNode
    const dst = this.names.get(to)
    // Two names of one file: POSIX says do nothing.
    if (dst === src) return
    if (dst !== undefined) dst.nlink--
    this.names.set(to, src)
    this.names.delete(from)
  }

  newHandle (): number { return this.#nextHandle++ }
}

/** The next operation, valid in the model's state (or one that must fail, with its errno). */
export function nextStep (m: FsModel, rng: Rng): Step {
  const { blockSize: bs, maxSize } = m.limits
  const paths = DIRS.flatMap(d => NAMES.map(n => d === '' ? n : `${d}/${n}`))
  const existing = [...m.names.keys()]
  const absent = paths.filter(p => !m.names.has(p))
  const handles = [...m.handles.keys()]
  // Offsets and lengths near block boundaries find the off-by-ones.
  const offset = (size: number): number => rng.chance(0.3)
    ? Math.max(0, Math.min(maxSize - 1, rng.int(0, Math.ceil(size / bs) + 1) * bs + rng.pick([-1, 0, 0, 1]) * rng.int(0, 3)))
    : rng.int(0, Math.min(maxSize - 1, size + bs))
  const length = (): number => rng.chance(0.2) ? rng.pick([1, bs - 1, bs, bs + 1, 2 * bs]) : rng.int(1, 3 * bs)
  const clip = (at: number, n: number): number => Math.max(1, Math.min(n, maxSize - at))
  const roll = rng.int(0, 99)
  const h = handles.length > 0 ? rng.pick(handles) : -1
  const size = h >= 0 ? (m.handles.get(h) as FileNode).size : 0

  if (handles.length === 0 || (roll < 8 && handles.length < m.limits.maxHandles)) {
    if (absent.length > 0 && (existing.length === 0 || rng.chance(0.5))) return { op: 'create', path: rng.pick(absent), h: m.newHandle() }
    if (existing.length > 0) return { op: 'open', path: rng.pick(existing), h: m.newHandle() }
    return { op: 'stat', path: rng.pick(paths), errno: ENOENT }
  }
  if (roll < 13) return { op: 'close', h }
  if (roll < 38) {
    const at = offset(size)
    return { op: 'write', h, offset: at, data: rng.bytes(clip(at, length())) }
  }
  if (roll < 60) return { op: 'read', h, offset: offset(size), length: length() }
  if (roll < 66) return { op: 'truncate', h, size: rng.chance(0.5) ? rng.int(0, size) : rng.int(size, maxSize) }
  if (roll < 71) {
    const at = offset(size)
    return { op: 'fallocate', h, mode: rng.pick([0, FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, FALLOC_FL_ZERO_RANGE, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE]), offset: at, length: clip(at, length()) }
  }
  if (roll < 74) return { op: 'fsync', h }
  if (roll < 77) return { op: 'fstat', h }
  if (roll < 80 && existing.length > 0) return { op: 'stat', path: rng.pick(existing) }
  if (roll < 84 && existing.length > 0) {
    const from = rng.pick(existing)
    const to = rng.pick(paths)
    if (m.names.has(to) && to !== from && rng.chance(0.2)) return { op: 'rename', from, to, flags: RENAME_NOREPLACE, errno: EEXIST }
    return { op: 'rename', from, to, flags: 0 }
  }
  if (roll < 87 && existing.length > 0) {
    const from = rng.pick(existing)
    if (absent.length === 0 || rng.chance(0.15)) return { op: 'link', from, to: rng.pick(existing), errno: EEXIST }
    return { op: 'link', from, to: rng.pick(absent) }
  }
  if (roll < 91) {
    if (existing.length === 0 || rng.chance(0.1)) return absent.length > 0 ? { op: 'unlink', path: rng.pick(absent), errno: ENOENT } : { op: 'forget' }
    return { op: 'unlink', path: rng.pick(existing) }
  }
  if (roll < 97) return concurrent(m, rng, h)
  return { op: 'forget' }
}

/**
 * Writes to disjoint ranges of one file through every handle open on it,
 * and reads of ranges below the old size that no write touches: whatever
 * order they run in, the outcome is the same, so the model can say it.
 */
function concurrent (m: FsModel, rng: Rng, h: number): Step {
  const node = m.handles.get(h) as FileNode
  const hs = [...m.handles].filter(([, n]) => n === node).map(([k]) => k)
  const bs = m.limits.blockSize
  const span = Math.max(2 * bs, Math.min(m.limits.maxSize, node.size + bs))
  const slots = rng.int(2, 6)
  const width = Math.floor(span / slots)
  const ops: Array<Extract<Op, { op: 'write' | 'read' }>> = []
  for (let i = 0; i < slots; i++) {
    const start = i * width
    const at = start + rng.int(0, Math.max(0, width - 2))
    const len = rng.int(1, start + width - at)
    const hh = rng.pick(hs)
    if (at + len <= node.size && rng.chance(0.4)) ops.push({ op: 'read', h: hh, offset: at, length: len })
    else ops.push({ op: 'write', h: hh, offset: at, data: rng.bytes(len) })
  }
  return { op: 'concurrent', ops }
}

/**
 * Seeds to run: OBJFS_SEED replays one; otherwise `count` fresh ones,
 * printed so a failure replays, after `regressions`: seeds that once found
 * a bug, run every time so it stays fixed.
 */
export function seeds (count: number, regressions: number[] = []): number[] {
  const fixed = process.env.OBJFS_SEED
  if (fixed !== undefined && fixed !== '') return fixed.split(',').map(Number)
  const base = (Date.now() ^ (process.pid << 8)) >>> 0
  return [...regressions, ...Array.from({ length: count }, (_, i) => (base + i * 0x9e3779b9) >>> 0)]
}

/** OBJFS_SOAK=1: the long variant for local soak runs. */
export const soak = (): boolean => process.env.OBJFS_SOAK !== undefined && process.env.OBJFS_SOAK !== '' && process.env.OBJFS_SOAK !== '0'
