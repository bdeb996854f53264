// Reply and notification encoding: typed objects into the bytes one write()
// of /dev/fuse carries. Layout only; field names follow the kernel structs.
// Struct offsets are pinned against <linux/fuse.h> by test/unit/abi-sizes.test.ts.
import { Buffer } from 'node:buffer'
import {
  ATTR_OUT_SIZE, CREATE_OUT_SIZE, ENTRY_OUT_SIZE, FUSE_NAME_OFFSET, FUSE_NAME_OFFSET_DIRENTPLUS,
  FUSE_NOTIFY_DELETE, FUSE_NOTIFY_INVAL_ENTRY, FUSE_NOTIFY_INVAL_INODE, FUSE_NOTIFY_RESEND,
  GETXATTR_OUT_SIZE, INIT_OUT_SIZE, LSEEK_OUT_SIZE, NOTIFY_DELETE_OUT_SIZE, NOTIFY_INVAL_ENTRY_OUT_SIZE,
  NOTIFY_INVAL_INODE_OUT_SIZE, OPEN_OUT_SIZE, OUT_HEADER_SIZE, STATFS_OUT_SIZE, WRITE_OUT_SIZE,
  fuseRecAlign,
} from './abi.ts'
import { UNIQUE_RESEND_HI, isResent } from './decode.ts'

const TWO_32 = 2 ** 32
const utf8 = new TextEncoder()

/** Writer.alloc's slab: pieces up to a quarter of it, never handed out twice, so they stay zero until written. */
const SLAB_SIZE = 64 * 1024
const SLAB_PIECE_MAX = SLAB_SIZE / 4
let slab = new DataView(new ArrayBuffer(SLAB_SIZE))
let slabUsed = 0

/**
 * A little-endian cursor over a fresh, zero-filled buffer. Padding and
 * reserved fields are skipped, so they stay zero. Numbers wider than 32 bits
 * are split by arithmetic, exact below 2^53, so the hot path never builds a bigint.
 */
export class Writer {
  readonly bytes: Uint8Array
  /** A view of the whole buffer `bytes` is in, which starts at `base` in it. */
  readonly view: DataView
  readonly base: number
  pos: number

  constructor (bytes: Uint8Array, pos = 0, view?: DataView) {
    this.bytes = bytes
    this.view = view ?? new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    this.base = view === undefined ? 0 : bytes.byteOffset - view.byteOffset
    this.pos = pos
  }

  /**
   * A fresh, zero-filled buffer of `size` bytes. Small ones are cut from a
   * shared slab with one DataView: a Uint8Array and a DataView of their own
   * took 0.8 us a buffer (a malloc, and the ArrayBuffer V8 makes only when
   * asked for), 0.05 us cut from a slab, and every reply takes one or two.
   */
  static alloc (size: number): Writer {
    if (size > SLAB_PIECE_MAX) return new Writer(new Uint8Array(size))
    if (slabUsed + size > SLAB_SIZE) {
      slab = new DataView(new ArrayBuffer(SLAB_SIZE))
      slabUsed = 0
    }
    const bytes = new Uint8Array(slab.buffer, slabUsed, size)
    // Pieces start 8-aligned, as fresh buffers do.
    slabUsed += (size + 7) & ~7
    return new Writer(bytes, 0, slab)
  }

  u16 (v: number): this { this.view.setUint16(this.base + this.pos, v, true); this.pos += 2; return this }
  // setUint32 applies ToUint32, so flag words with bit 31 set (negative after `|`) encode right.
  u32 (v: number): this { this.view.setUint32(this.base + this.pos, v, true); this.pos += 4; return this }
  i32 (v: number): this { this.view.setInt32(this.base + this.pos, v, true); this.pos += 4; return this }
  u64 (v: number): this {
    const at = this.base + this.pos
    this.view.setUint32(at, v >>> 0, true)
    this.view.setUint32(at + 4, Math.floor(v / TWO_32), true)
    this.pos += 8
    return this
  }

  /** Two's complement; for times before 1970 and notify offsets. */
  i64 (v: number): this {
    const at = this.base + this.pos
    this.view.setUint32(at, v >>> 0, true)
    this.view.setInt32(at + 4, Math.floor(v / TWO_32), true)
    this.pos += 8
    return this
  }

  /**
   * A reply's unique. A resent request's decodes negative (decode.ts): its
   * reply carries FUSE_UNIQUE_RESEND again, or the kernel finds no request
   * to complete and the caller waits on.
   */
  unique (v: number): this {
    const resent = isResent(v)
    const rest = Math.abs(v)
    const at = this.base + this.pos
    this.view.setUint32(at, rest >>> 0, true)
    this.view.setUint32(at + 4, (resent ? UNIQUE_RESEND_HI : 0) + Math.floor(rest / TWO_32), true)
    this.pos += 8
    return this
  }

  skip (n: number): this { this.pos += n; return this }
  raw (src: Uint8Array): this { this.bytes.set(src, this.pos); this.pos += src.length; return this }
}

/* ----------------------------------------------------------------- header */

/**
 * fuse_out_header. `len` includes these 16 bytes; `error` is -errno, 0, or a
 * notify code; `unique` as decoded, negative for a resent request.
 */
export function encodeOutHeader (len: number, error: number, unique: number): Uint8Array {
  return Writer.alloc(OUT_HEADER_SIZE).u32(len).i32(error).unique(unique).bytes
}

/** The whole reply to a failed request: a bare header. `errno` is positive. */
export function replyError (unique: number, errno: number): Uint8Array {
  return encodeOutHeader(OUT_HEADER_SIZE, -errno, unique)
}

/** Header and body in one buffer, for replies small enough that a copy is cheaper than writev. */
export function replyOf (unique: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(OUT_HEADER_SIZE + body.length)
  new Writer(out).u32(out.length).i32(0).unique(unique).raw(body)
  return out
}

/** The header alone, for writev([header, data]): READ data is never copied. */
export function replyHeaderFor (unique: number, bodyLength: number): Uint8Array {
  return encodeOutHeader(OUT_HEADER_SIZE + bodyLength, 0, unique)
}

/* --------------------------------------------------------- attr and entry */

export interface Attr {
  ino: number, size: number, blocks: number
  /** Seconds since the epoch, signed: the kernel reads these slots as time64_t. */
  atime: number, mtime: number, ctime: number
  atimensec: number, mtimensec: number, ctimensec: number
  mode: number, nlink: number, uid: number, gid: number, rdev: number, blksize: number
  /** FUSE_ATTR_* bits. */
  flags: number
}

/** struct fuse_attr (88 bytes) at `offset`; returns the offset after it. */
export function writeAttr (view: DataView, offset: number, attr: Attr): number {
  const w = new Writer(new Uint8Array(view.buffer, view.byteOffset, view.byteLength), offset)
  putAttr(w, attr)
  return w.pos
}

function putAttr (w: Writer, a: Attr): void {
  w.u64(a.ino).u64(a.size).u64(a.blocks).i64(a.atime).i64(a.mtime).i64(a.ctime)
  w.u32(a.atimensec).u32(a.mtimensec).u32(a.ctimensec)
  w.u32(a.mode).u32(a.nlink).u32(a.uid).u32(a.gid).u32(a.rdev).u32(a.blksize).u32(a.flags)
}

export interface EntryOut {
  /** 0 in a LOOKUP reply is a cacheable negative entry; in readdirplus, "kernel: skip me". */
  nodeid: number, generation: number
  /** Cache timeouts: whole seconds here, the fraction in the *_nsec fields. */
  entry_valid: number, attr_valid: number, entry_valid_nsec: number, attr_valid_nsec: number
  attr: Attr
}

function putEntryOut (w: Writer, e: EntryOut): void {
  w.u64(e.nodeid).u64(e.generation).u64(e.entry_valid).u64(e.attr_valid)
  w.u32(e.entry_valid_nsec).u32(e.attr_valid_nsec)
  putAttr(w, e.attr)
}

/** LOOKUP, MKNOD, MKDIR, SYMLINK, LINK reply body (128 bytes). */
export function encodeEntryOut (entry: EntryOut): Uint8Array {
  const w = Writer.alloc(ENTRY_OUT_SIZE)
  putEntryOut(w, entry)
  return w.bytes
}

export interface AttrOut { attr_valid: number, attr_valid_nsec: number, attr: Attr }

/** GETATTR, SETATTR reply body (104 bytes). */
export function encodeAttrOut (out: AttrOut): Uint8Array {
  const w = Writer.alloc(ATTR_OUT_SIZE).u64(out.attr_valid).u32(out.attr_valid_nsec).skip(4)
  putAttr(w, out.attr)
  return w.bytes
}

/* ------------------------------------------------------------- file I/O */

export interface OpenOut {
  fh: number
  /** FOPEN_* bits. */
  open_flags: number
  /** 7.40 FOPEN_PASSTHROUGH backing file id; the slot was padding before, 0 is harmless. */
  backing_id?: number
}

function putOpenOut (w: Writer, o: OpenOut): void {
  w.u64(o.fh).u32(o.open_flags).i32(o.backing_id ?? 0)
}

/** OPEN, OPENDIR reply body (16 bytes). */
export function encodeOpenOut (open: OpenOut): Uint8Array {
  const w = Writer.alloc(OPEN_OUT_SIZE)
  putOpenOut(w, open)
  return w.bytes
}

/** CREATE reply body: entry_out then open_out (144 bytes). */
export function encodeCreateOut (entry: EntryOut, open: OpenOut): Uint8Array {
  const w = Writer.alloc(CREATE_OUT_SIZE)
  putEntryOut(w, entry)
  putOpenOut(w, open)
  return w.bytes
}

/** WRITE and COPY_FILE_RANGE reply body: bytes accepted. */
export function encodeWriteOut (size: number): Uint8Array {
  return Writer.alloc(WRITE_OUT_SIZE).u32(size).bytes
}

/** GETXATTR/LISTXATTR reply to a size-0 probe: the size the value would need. */
export function encodeGetxattrOut (size: number): Uint8Array {
  return Writer.alloc(GETXATTR_OUT_SIZE).u32(size).bytes
}

/** LISTXATTR data reply: each name followed by its NUL. */
export function encodeXattrNames (names: readonly string[]): Uint8Array {
  return utf8.encode(names.map(n => n + '\0').join(''))
}

export function encodeLseekOut (offset: number): Uint8Array {
  return Writer.alloc(LSEEK_OUT_SIZE).u64(offset).bytes
}

export interface StatfsOut {
  blocks: number, bfree: number, bavail: number, files: number, ffree: number
  bsize: number, namelen: number, frsize: number
}

/** STATFS reply body: struct fuse_kstatfs (80 bytes). */
export function encodeStatfsOut (s: StatfsOut): Uint8Array {
  const w = Writer.alloc(STATFS_OUT_SIZE)
  w.u64(s.blocks).u64(s.bfree).u64(s.bavail).u64(s.files).u64(s.ffree)
  return w.u32(s.bsize).u32(s.namelen).u32(s.frsize).bytes
}

export interface InitOut {
  major: number, minor: number, max_readahead: number
  /** Low 32 flag bits; must include FUSE_INIT_EXT for the kernel to read flags2. */
  flags: number
  /** FUSE_*_FLAGS2 bits. */
  flags2: number
  max_background: number, congestion_threshold: number, max_write: number, time_gran: number
  max_pages: number, map_alignment: number
  /** 7.40, meaningful with FUSE_PASSTHROUGH only. */
  max_stack_depth: number
  /** 7.43, seconds, meaningful with FUSE_REQUEST_TIMEOUT only. */
  request_timeout?: number
}

/** INIT reply body (64 bytes). */
export function encodeInitOut (o: InitOut): Uint8Array {
  const w = Writer.alloc(INIT_OUT_SIZE)
  w.u32(o.major).u32(o.minor).u32(o.max_readahead).u32(o.flags)
  w.u16(o.max_background).u16(o.congestion_threshold).u32(o.max_write).u32(o.time_gran)
  w.u16(o.max_pages).u16(o.map_alignment).u32(o.flags2).u32(o.max_stack_depth)
  return w.u16(o.request_timeout ?? 0).bytes
}

/* ---------------------------------------------------------------- dirents */

/** fs/fuse/fuse_i.h: the kernel fails the whole READDIR with EIO past this. */
const FUSE_NAME_MAX = 1024

/** The buffer a DirentWriter starts with; it doubles up to the capacity as records come. */
const DIRENT_START = 4096

/**
 * Packs fuse_dirent (READDIR) or fuse_direntplus (READDIRPLUS) records into
 * the kernel's buffer size. Records are 8-byte aligned with zero padding. A
 * record that does not fit is refused whole, so the caller can resume at it.
 * The buffer grows as needed: kernels ask for up to max_pages (1 MiB), and
 * a zero-filled 1 MiB per READDIRPLUS was a fifth of the supervisor's CPU
 * in rsync runs into the mount, whose directories hold a few entries.
 */
export class DirentWriter {
  readonly capacity: number
  private w: Writer
  private count = 0

  constructor (capacity: number) {
    this.capacity = capacity
    this.w = Writer.alloc(Math.min(capacity, DIRENT_START))
  }

  /** Records written so far. */
  get length (): number { return this.count }

  /** One fuse_dirent. `off` is the cookie the kernel sends back to continue after this entry. */
  add (ino: number, off: number, type: number, name: string): boolean {
    const namelen = nameLength(name)
    if (!this.fits(FUSE_NAME_OFFSET + namelen)) return false
    this.putDirent(ino, off, type, name, namelen)
    return true
  }

  /** One fuse_direntplus; the dirent's ino is entry.attr.ino. */
  addPlus (entry: EntryOut, off: number, type: number, name: string): boolean {
    const namelen = nameLength(name)
    if (!this.fits(FUSE_NAME_OFFSET_DIRENTPLUS + namelen)) return false
    putEntryOut(this.w, entry)
    this.putDirent(entry.attr.ino, off, type, name, namelen)
    return true
  }

  /** The bytes written: a view, no copy. */
  finish (): Uint8Array { return this.w.bytes.subarray(0, this.w.pos) }

  private fits (unpadded: number): boolean {
    const need = this.w.pos + fuseRecAlign(unpadded)
    if (need > this.capacity) return false
    if (need > this.w.bytes.byteLength) {
      let size = this.w.bytes.byteLength
      while (size < need) size *= 2
      const bigger = new Uint8Array(Math.min(size, this.capacity))
      bigger.set(this.w.bytes.subarray(0, this.w.pos))
      this.w = new Writer(bigger, this.w.pos)
    }
    return true
  }

  private putDirent (ino: number, off: number, type: number, name: string, namelen: number): void {
    const w = this.w
    w.u64(ino).u64(off).u32(namelen).u32(type)
    utf8.encodeInto(name, w.bytes.subarray(w.pos, w.pos + namelen))
    w.pos = fuseRecAlign(w.pos + namelen)
    this.count++
  }
}

/** UTF-8 length without encoding; throws for names the kernel would reject with EIO. */
function nameLength (name: string): number {
  const n = Buffer.byteLength(name, 'utf8')
  if (n === 0 || n > FUSE_NAME_MAX || name.includes('/')) {
    throw new RangeError(`dirent name the kernel rejects: ${JSON.stringify(name.slice(0, 64))} (${n} bytes)`)
  }
  return n
}

/* ---------------------------------------------------------- notifications */
// Unsolicited writes: out header with unique 0 and error = notify code.

function notify (code: number, bodySize: number, name?: Uint8Array): Writer {
  const len = OUT_HEADER_SIZE + bodySize + (name === undefined ? 0 : name.length + 1)
  return Writer.alloc(len).u32(len).i32(code).u64(0)
}

/** Drop cached data of `ino` (a nodeid) in [off, off+len); len <= 0 means to the end, off < 0 attrs only. */
export function encodeNotifyInvalInode (ino: number, off: number, len: number): Uint8Array {
  return notify(FUSE_NOTIFY_INVAL_INODE, NOTIFY_INVAL_INODE_OUT_SIZE).u64(ino).i64(off).i64(len).bytes
}

/** Drop the dentry `name` under `parent`. The kernel requires the trailing NUL. */
export function encodeNotifyInvalEntry (parent: number, name: string, flags = 0): Uint8Array {
  const n = utf8.encode(name)
  const w = notify(FUSE_NOTIFY_INVAL_ENTRY, NOTIFY_INVAL_ENTRY_OUT_SIZE, n)
  return w.u64(parent).u32(n.length).u32(flags).raw(n).bytes
}

/** `name` under `parent`, nodeid `child`, was deleted behind the kernel's back. */
export function encodeNotifyDelete (parent: number, child: number, name: string): Uint8Array {
  const n = utf8.encode(name)
  const w = notify(FUSE_NOTIFY_DELETE, NOTIFY_DELETE_OUT_SIZE, n)
  return w.u64(parent).u64(child).u32(n.length).skip(4).raw(n).bytes
}

/**
 * 7.40, no body: ask the kernel to queue again every request a daemon on this
 * connection read and never answered (needs FUSE_HAS_RESEND in INIT's flags2).
 * They come back with FUSE_UNIQUE_RESEND in their unique.
 */
export function encodeNotifyResend (): Uint8Array {
  return notify(FUSE_NOTIFY_RESEND, 0).bytes
}
