// Request decoding: bytes from /dev/fuse into typed objects named after the
// kernel struct members. Layout only, no semantics: the codec never checks
// that a mode is sane or a nodeid exists (polyfuse src/op/decoder.rs).
//
// Numbers: u64 fields become JS numbers, exact below 2^53. fh, nodeid and
// unique are issued by us or counted by the kernel and stay far below that;
// a file offset above 2^53 (pread at 2^62) rounds but stays past any real
// EOF. lock_owner is an opaque kernel pointer-derived value: it is a bigint.
// Names are UTF-8, decoded non-fatally: a non-UTF-8 name comes back with
// U+FFFD in place of the bad bytes (object store keys are UTF-8 anyway).
//
// unique: a request the kernel resends after FUSE_NOTIFY_RESEND has bit 63
// set (FUSE_UNIQUE_RESEND), which a number cannot hold next to the low
// bits. It decodes as the negative of the rest: -10 is "request 10, resent".
// Kernel uniques are otherwise positive, so the sign is free, the value stays
// one number (a Map key, a log field), and encode.ts writes bit 63 back for
// any negative unique, so every reply to it echoes the kernel's value.
import { FsError, errno as E } from '../errors.ts'
import {
  ACCESS_IN_SIZE, BATCH_FORGET_IN_SIZE, COMPAT_INIT_IN_SIZE, COPY_FILE_RANGE_IN_SIZE,
  CREATE_IN_SIZE, FALLOCATE_IN_SIZE, FLUSH_IN_SIZE, FORGET_IN_SIZE, FORGET_ONE_SIZE,
  FSYNC_IN_SIZE, FUSE_COMPAT_SETXATTR_IN_SIZE, GETATTR_IN_SIZE, GETXATTR_IN_SIZE,
  IN_HEADER_SIZE, INIT_IN_SIZE, INTERRUPT_IN_SIZE, LINK_IN_SIZE, LSEEK_IN_SIZE,
  MKDIR_IN_SIZE, MKNOD_IN_SIZE, OPEN_IN_SIZE, READ_IN_SIZE, RELEASE_IN_SIZE,
  RENAME2_IN_SIZE, RENAME_IN_SIZE, SETATTR_IN_SIZE, SETXATTR_IN_SIZE, STATX_IN_SIZE, WRITE_IN_SIZE,
  FUSE_UNIQUE_RESEND,
} from './abi.ts'

/** The kernel sent bytes we cannot parse. Maps to EIO: the request is unanswerable. */
export class DecodeError extends FsError {
  constructor (message: string) {
    super(E.EIO, message, 'OBJFS_ERR_PROTOCOL')
    this.name = 'DecodeError'
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: false })
const TWO_32 = 2 ** 32
/**
 * FUSE_UNIQUE_RESEND as bit 31 of the field's high u32, which is how the
 * codec reads it here and encode.ts writes it. Not in abi.ts, whose every
 * number test/unit/abi-sizes.test.ts pins against <linux/fuse.h>.
 */
export const UNIQUE_RESEND_HI = Number(FUSE_UNIQUE_RESEND >> 32n)

/**
 * A little-endian cursor over one request body. take() checks bounds once per
 * struct; the field readers then address inside the span it claimed.
 */
export class Reader {
  readonly bytes: Uint8Array
  readonly view: DataView
  pos = 0

  constructor (bytes: Uint8Array) {
    this.bytes = bytes
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  }

  get remaining (): number { return this.bytes.length - this.pos }

  /**
   * Claim n bytes and return where they start; throws if the body is short.
   * Fields are then read at fixed offsets from that start, struct-style.
   */
  take (n: number, what: string): number {
    if (n > this.remaining) {
      throw new DecodeError(`truncated ${what}: need ${n} bytes at ${this.pos}, have ${this.remaining}`)
    }
    const at = this.pos
    this.pos += n
    return at
  }

  u16 (at: number): number { return this.view.getUint16(at, true) }
  u32 (at: number): number { return this.view.getUint32(at, true) }
  u64 (at: number): number {
    return this.view.getUint32(at, true) + this.view.getUint32(at + 4, true) * TWO_32
  }

  /** Signed: setattr times are time64_t carried in a uint64_t slot. */
  i64 (at: number): number {
    return this.view.getUint32(at, true) + this.view.getInt32(at + 4, true) * TWO_32
  }

  u64big (at: number): bigint { return this.view.getBigUint64(at, true) }

  /** A request's unique: negative when FUSE_UNIQUE_RESEND is set (see the top of this file). */
  unique (at: number): number {
    const hi = this.view.getUint32(at + 4, true)
    const rest = this.view.getUint32(at, true) + (hi & ~UNIQUE_RESEND_HI) * TWO_32
    return (hi & UNIQUE_RESEND_HI) !== 0 ? -rest : rest
  }

  /** A NUL-terminated string; the cursor moves past the NUL. */
  cstring (what: string): string {
    const end = this.bytes.indexOf(0, this.pos)
    if (end < 0) throw new DecodeError(`${what} lacks its NUL terminator`)
    const s = utf8.decode(this.bytes.subarray(this.pos, end))
    this.pos = end + 1
    return s
  }

  /** A zero-copy view of the next n bytes. */
  slice (n: number, what: string): Uint8Array {
    const at = this.take(n, what)
    return this.bytes.subarray(at, at + n)
  }
}

/* ----------------------------------------------------------------- header */

export interface InHeader {
  len: number, opcode: number
  /** Negative for a request resent after FUSE_NOTIFY_RESEND (see isResent). */
  unique: number
  nodeid: number
  uid: number, gid: number, pid: number
  /** Length of the extensions after the body, in 8-byte units. */
  total_extlen: number
}

/** The 40-byte header; `buf` is what one read() of /dev/fuse returned. */
export function decodeInHeader (buf: Uint8Array): InHeader {
  const r = new Reader(buf)
  const at = r.take(IN_HEADER_SIZE, 'fuse_in_header')
  const h: InHeader = {
    len: r.u32(at),
    opcode: r.u32(at + 4),
    unique: r.unique(at + 8),
    nodeid: r.u64(at + 16),
    uid: r.u32(at + 24),
    gid: r.u32(at + 28),
    pid: r.u32(at + 32),
    total_extlen: r.u16(at + 36),
  }
  if (h.len < IN_HEADER_SIZE) throw new DecodeError(`fuse_in_header.len ${h.len} < ${IN_HEADER_SIZE}`)
  if (h.len > buf.length) throw new DecodeError(`fuse_in_header.len ${h.len} > ${buf.length} bytes read`)
  if (h.total_extlen * 8 > h.len - IN_HEADER_SIZE) {
    throw new DecodeError(`total_extlen ${h.total_extlen} overruns len ${h.len}`)
  }
  return h
}

/**
 * The kernel resent this request after FUSE_NOTIFY_RESEND: a serving process
 * read it before and died, possibly after doing the work. -0 counts too
 * (bit 63 over a zero rest, which no kernel sends, still echoes as it came).
 */
export function isResent (unique: number): boolean {
  return unique < 0 || Object.is(unique, -0)
}

/**
 * fuse_in_header.unique of a request's bytes without decoding the header
 * (at least 16 bytes): the u64 as on the wire, so a resent unique reads
 * above 2^63, not negative as in InHeader.unique.
 */
export function wireUniqueOf (buf: Uint8Array): number {
  return new Reader(buf).u64(8)
}

/* ------------------------------------------------------------ INIT, names */

export interface InitIn { major: number, minor: number, max_readahead: number, flags: number, flags2: number }

/** Kernels before 7.36 send the 16-byte form: flags2 reads as 0. */
export function decodeInitIn (body: Uint8Array): InitIn {
  const r = new Reader(body)
  const full = body.length >= INIT_IN_SIZE
  const at = r.take(full ? INIT_IN_SIZE : COMPAT_INIT_IN_SIZE, 'fuse_init_in')
  return {
    major: r.u32(at),
    minor: r.u32(at + 4),
    max_readahead: r.u32(at + 8),
    flags: r.u32(at + 12),
    flags2: full ? r.u32(at + 16) : 0,
  }
}

export interface NameIn { name: string }

/** LOOKUP, UNLINK, RMDIR, REMOVEXATTR: the body is one NUL-terminated name. */
export function decodeName (body: Uint8Array): NameIn {
  return { name: new Reader(body).cstring('name') }
}

export interface SymlinkIn { name: string, target: string }

/** The new entry's name comes first, then the link target (kernel fuse_symlink()). */
export function decodeSymlinkIn (body: Uint8Array): SymlinkIn {
  const r = new Reader(body)
  const name = r.cstring('symlink name')
  return { name, target: r.cstring('symlink target') }
}

/* ---------------------------------------------------------------- forgets */

export interface ForgetIn { nlookup: number }

export function decodeForgetIn (body: Uint8Array): ForgetIn {
  const r = new Reader(body)
  return { nlookup: r.u64(r.take(FORGET_IN_SIZE, 'fuse_forget_in')) }
}

export interface ForgetOne { nodeid: number, nlookup: number }
export interface BatchForgetIn { count: number, forgets: ForgetOne[] }

export function decodeBatchForgetIn (body: Uint8Array): BatchForgetIn {
  const r = new Reader(body)
  const count = r.u32(r.take(BATCH_FORGET_IN_SIZE, 'fuse_batch_forget_in'))
  if (count * FORGET_ONE_SIZE > r.remaining) {
    throw new DecodeError(`batch_forget count ${count} needs ${count * FORGET_ONE_SIZE} bytes, have ${r.remaining}`)
  }
  const forgets: ForgetOne[] = new Array(count)
  for (let i = 0; i < count; i++) {
    const at = r.take(FORGET_ONE_SIZE, 'fuse_forget_one')
    forgets[i] = { nodeid: r.u64(at), nlookup: r.u64(at + 8) }
  }
  return { count, forgets }
}

/* ------------------------------------------------------- attrs and access */

export interface GetattrIn { getattr_flags: number, fh: number }

export function decodeGetattrIn (body: Uint8Array): GetattrIn {
  const r = new Reader(body)
  const at = r.take(GETATTR_IN_SIZE, 'fuse_getattr_in')
  return { getattr_flags: r.u32(at), fh: r.u64(at + 8) }
}

export interface SetattrIn {
  /** FATTR_* bits: only the fields named here are meaningful. */
  valid: number, fh: number, size: number, lock_owner: bigint
  /** Signed seconds: the kernel stores time64_t in these uint64_t slots (pre-1970 is negative). */
  atime: number, mtime: number, ctime: number
  atimensec: number, mtimensec: number, ctimensec: number
  mode: number, uid: number, gid: number
}

export function decodeSetattrIn (body: Uint8Array): SetattrIn {
  const r = new Reader(body)
  const at = r.take(SETATTR_IN_SIZE, 'fuse_setattr_in')
  return {
    valid: r.u32(at),
    fh: r.u64(at + 8),
    size: r.u64(at + 16),
    lock_owner: r.u64big(at + 24),
    atime: r.i64(at + 32),
    mtime: r.i64(at + 40),
    ctime: r.i64(at + 48),
    atimensec: r.u32(at + 56),
    mtimensec: r.u32(at + 60),
    ctimensec: r.u32(at + 64),
    mode: r.u32(at + 68),
    uid: r.u32(at + 76),
    gid: r.u32(at + 80),
  }
}

export interface AccessIn { mask: number }

export function decodeAccessIn (body: Uint8Array): AccessIn {
  const r = new Reader(body)
  return { mask: r.u32(r.take(ACCESS_IN_SIZE, 'fuse_access_in')) }
}

export interface StatxIn { getattr_flags: number, fh: number, sx_flags: number, sx_mask: number }

/** 7.39+: struct fuse_statx_in {getattr_flags, reserved, fh, sx_flags, sx_mask}. */
export function decodeStatxIn (body: Uint8Array): StatxIn {
  const r = new Reader(body)
  const at = r.take(STATX_IN_SIZE, 'fuse_statx_in')
  return { getattr_flags: r.u32(at), fh: r.u64(at + 8), sx_flags: r.u32(at + 16), sx_mask: r.u32(at + 20) }
}

/* ----------------------------------------------------- namespace changes */

export interface MknodIn { mode: number, rdev: number, umask: number, name: string }

export function decodeMknodIn (body: Uint8Array): MknodIn {
  const r = new Reader(body)
  const at = r.take(MKNOD_IN_SIZE, 'fuse_mknod_in')
  return { mode: r.u32(at), rdev: r.u32(at + 4), umask: r.u32(at + 8), name: r.cstring('mknod name') }
}

export interface MkdirIn { mode: number, umask: number, name: string }

export function decodeMkdirIn (body: Uint8Array): MkdirIn {
  const r = new Reader(body)
  const at = r.take(MKDIR_IN_SIZE, 'fuse_mkdir_in')
  return { mode: r.u32(at), umask: r.u32(at + 4), name: r.cstring('mkdir name') }
}

export interface RenameIn { newdir: number, oldname: string, newname: string }

export function decodeRenameIn (body: Uint8Array): RenameIn {
  const r = new Reader(body)
  const newdir = r.u64(r.take(RENAME_IN_SIZE, 'fuse_rename_in'))
  const oldname = r.cstring('rename oldname')
  return { newdir, oldname, newname: r.cstring('rename newname') }
}

export interface Rename2In { newdir: number, flags: number, oldname: string, newname: string }

export function decodeRename2In (body: Uint8Array): Rename2In {
  const r = new Reader(body)
  const at = r.take(RENAME2_IN_SIZE, 'fuse_rename2_in')
  const newdir = r.u64(at)
  const flags = r.u32(at + 8)
  const oldname = r.cstring('rename2 oldname')
  return { newdir, flags, oldname, newname: r.cstring('rename2 newname') }
}

export interface LinkIn { oldnodeid: number, newname: string }

export function decodeLinkIn (body: Uint8Array): LinkIn {
  const r = new Reader(body)
  const oldnodeid = r.u64(r.take(LINK_IN_SIZE, 'fuse_link_in'))
  return { oldnodeid, newname: r.cstring('link newname') }
}

/* ------------------------------------------------------------ file I/O */

export interface OpenIn { flags: number, open_flags: number }

/** OPEN and OPENDIR. */
export function decodeOpenIn (body: Uint8Array): OpenIn {
  const r = new Reader(body)
  const at = r.take(OPEN_IN_SIZE, 'fuse_open_in')
  return { flags: r.u32(at), open_flags: r.u32(at + 4) }
}

export interface CreateIn { flags: number, mode: number, umask: number, open_flags: number, name: string }

/** CREATE and TMPFILE. */
export function decodeCreateIn (body: Uint8Array): CreateIn {
  const r = new Reader(body)
  const at = r.take(CREATE_IN_SIZE, 'fuse_create_in')
  return {
    flags: r.u32(at),
    mode: r.u32(at + 4),
    umask: r.u32(at + 8),
    open_flags: r.u32(at + 12),
    name: r.cstring('create name'),
  }
}

export interface ReadIn {
  fh: number, offset: number, size: number, read_flags: number, lock_owner: bigint, flags: number
}

/** READ, READDIR and READDIRPLUS. */
export function decodeReadIn (body: Uint8Array): ReadIn {
  const r = new Reader(body)
  const at = r.take(READ_IN_SIZE, 'fuse_read_in')
  return {
    fh: r.u64(at),
    offset: r.u64(at + 8),
    size: r.u32(at + 16),
    read_flags: r.u32(at + 20),
    lock_owner: r.u64big(at + 24),
    flags: r.u32(at + 32),
  }
}

export interface WriteIn {
  fh: number, offset: number, size: number, write_flags: number, lock_owner: bigint, flags: number
  /** Exactly `size` bytes, a view into the request buffer: copy before the buffer is reused. */
  data: Uint8Array
}

export function decodeWriteIn (body: Uint8Array): WriteIn {
  const r = new Reader(body)
  const at = r.take(WRITE_IN_SIZE, 'fuse_write_in')
  const size = r.u32(at + 16)
  return {
    fh: r.u64(at),
    offset: r.u64(at + 8),
    size,
    write_flags: r.u32(at + 20),
    lock_owner: r.u64big(at + 24),
    flags: r.u32(at + 32),
    data: r.slice(size, 'write data'),
  }
}

export interface ReleaseIn { fh: number, flags: number, release_flags: number, lock_owner: bigint }

/** RELEASE and RELEASEDIR. */
export function decodeReleaseIn (body: Uint8Array): ReleaseIn {
  const r = new Reader(body)
  const at = r.take(RELEASE_IN_SIZE, 'fuse_release_in')
  return { fh: r.u64(at), flags: r.u32(at + 8), release_flags: r.u32(at + 12), lock_owner: r.u64big(at + 16) }
}

export interface FlushIn { fh: number, lock_owner: bigint }

export function decodeFlushIn (body: Uint8Array): FlushIn {
  const r = new Reader(body)
  const at = r.take(FLUSH_IN_SIZE, 'fuse_flush_in')
  return { fh: r.u64(at), lock_owner: r.u64big(at + 16) }
}

export interface FsyncIn { fh: number, fsync_flags: number }

/** FSYNC and FSYNCDIR. */
export function decodeFsyncIn (body: Uint8Array): FsyncIn {
  const r = new Reader(body)
  const at = r.take(FSYNC_IN_SIZE, 'fuse_fsync_in')
  return { fh: r.u64(at), fsync_flags: r.u32(at + 8) }
}

export interface FallocateIn { fh: number, offset: number, length: number, mode: number }

export function decodeFallocateIn (body: Uint8Array): FallocateIn {
  const r = new Reader(body)
  const at = r.take(FALLOCATE_IN_SIZE, 'fuse_fallocate_in')
  return { fh: r.u64(at), offset: r.u64(at + 8), length: r.u64(at + 16), mode: r.u32(at + 24) }
}

export interface LseekIn { fh: number, offset: number, whence: number }

export function decodeLseekIn (body: Uint8Array): LseekIn {
  const r = new Reader(body)
  const at = r.take(LSEEK_IN_SIZE, 'fuse_lseek_in')
  return { fh: r.u64(at), offset: r.u64(at + 8), whence: r.u32(at + 16) }
}

export interface CopyFileRangeIn {
  fh_in: number, off_in: number, nodeid_out: number, fh_out: number, off_out: number, len: number, flags: number
}

/** COPY_FILE_RANGE and COPY_FILE_RANGE_64 share the request struct. */
export function decodeCopyFileRangeIn (body: Uint8Array): CopyFileRangeIn {
  const r = new Reader(body)
  const at = r.take(COPY_FILE_RANGE_IN_SIZE, 'fuse_copy_file_range_in')
  return {
    fh_in: r.u64(at),
    off_in: r.u64(at + 8),
    nodeid_out: r.u64(at + 16),
    fh_out: r.u64(at + 24),
    off_out: r.u64(at + 32),
    len: r.u64(at + 40),
    flags: r.u64(at + 48),
  }
}

/* ------------------------------------------------------------------ xattr */

/** What INIT settled that changes how a request's body reads. */
export interface Wire {
  /** FUSE_SETXATTR_EXT: SETXATTR's struct has setxattr_flags (FUSE_SETXATTR_ACL_KILL_SGID). */
  setxattrExt: boolean
}

export interface SetxattrIn { size: number, flags: number, setxattr_flags: number, name: string, value: Uint8Array }

/**
 * The struct (8 bytes, or 16 with FUSE_SETXATTR_EXT), then name\0, then
 * `size` value bytes (a view, no copy).
 */
export function decodeSetxattrIn (body: Uint8Array, wire: Wire): SetxattrIn {
  const r = new Reader(body)
  const at = wire.setxattrExt ? r.take(SETXATTR_IN_SIZE, 'fuse_setxattr_in') : r.take(FUSE_COMPAT_SETXATTR_IN_SIZE, 'fuse_setxattr_in (compat)')
  const size = r.u32(at)
  const flags = r.u32(at + 4)
  const setxattr_flags = wire.setxattrExt ? r.u32(at + 8) : 0
  const name = r.cstring('xattr name')
  return { size, flags, setxattr_flags, name, value: r.slice(size, 'xattr value') }
}

export interface GetxattrIn { size: number, name: string }

export function decodeGetxattrIn (body: Uint8Array): GetxattrIn {
  const r = new Reader(body)
  const size = r.u32(r.take(GETXATTR_IN_SIZE, 'fuse_getxattr_in'))
  return { size, name: r.cstring('xattr name') }
}

export interface ListxattrIn { size: number }

/** Same struct as GETXATTR, without a name. */
export function decodeListxattrIn (body: Uint8Array): ListxattrIn {
  const r = new Reader(body)
  return { size: r.u32(r.take(GETXATTR_IN_SIZE, 'fuse_getxattr_in')) }
}

/* -------------------------------------------------------------- interrupt */

/** `unique` carries the target's resend bit, so it matches the target's InHeader.unique. */
export interface InterruptIn { unique: number }

export function decodeInterruptIn (body: Uint8Array): InterruptIn {
  const r = new Reader(body)
  return { unique: r.unique(r.take(INTERRUPT_IN_SIZE, 'fuse_interrupt_in')) }
}
