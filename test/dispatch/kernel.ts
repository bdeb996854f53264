// A fake kernel: request buffers laid out by hand from the structs in
// <linux/fuse.h> (not with the daemon's codec, so a codec bug cannot hide
// behind itself), and a parser for the replies the daemon writes back.
//
// Opcode numbers are the kernel's; abi.ts's copies are pinned against the
// header by test/unit/abi-sizes.test.ts.

export const FUSE_LOOKUP = 1
export const FUSE_FORGET = 2
export const FUSE_GETATTR = 3
export const FUSE_SETATTR = 4
export const FUSE_SYMLINK = 6
export const FUSE_MKNOD = 8
export const FUSE_MKDIR = 9
export const FUSE_UNLINK = 10
export const FUSE_RMDIR = 11
export const FUSE_RENAME = 12
export const FUSE_LINK = 13
export const FUSE_OPEN = 14
export const FUSE_READ = 15
export const FUSE_WRITE = 16
export const FUSE_RELEASE = 18
export const FUSE_FLUSH = 25
export const FUSE_OPENDIR = 27
export const FUSE_RELEASEDIR = 29
export const FUSE_CREATE = 35
export const FUSE_INTERRUPT = 36
export const FUSE_BATCH_FORGET = 42
export const FUSE_READDIRPLUS = 44
export const FUSE_RENAME2 = 45
export const FUSE_TMPFILE = 51
export const FUSE_SETXATTR = 21
export const FUSE_GETXATTR = 22
export const FUSE_LISTXATTR = 23

// FATTR_* bits of fuse_setattr_in.valid.
export const FATTR_MODE = 1 << 0
export const FATTR_SIZE = 1 << 3
export const FATTR_ATIME = 1 << 4
export const FATTR_MTIME = 1 << 5

/** fuse.h 7.40: bit 63 of unique marks a request resent after FUSE_NOTIFY_RESEND. */
export const FUSE_UNIQUE_RESEND = 1n << 63n

export const IN_HEADER = 40
export const OUT_HEADER = 16
export const ROOT = 1

const utf8 = new TextEncoder()
const TWO_32 = 2 ** 32

/** Little-endian field writer over a growing byte list. */
class Bytes {
  readonly #out: number[] = []

  u16 (v: number): this { this.#out.push(v & 0xff, (v >>> 8) & 0xff); return this }
  u32 (v: number): this {
    for (let i = 0; i < 4; i++) this.#out.push((v >>> (8 * i)) & 0xff)
    return this
  }

  u64 (v: number): this { return this.u32(v % TWO_32).u32(Math.floor(v / TWO_32)) }
  /** Two's complement, any 64-bit value (times the kernel carries as time64_t). */
  i64 (v: bigint): this {
    let x = BigInt.asUintN(64, v)
    for (let i = 0; i < 8; i++) { this.#out.push(Number(x & 0xffn)); x >>= 8n }
    return this
  }

  /** A unique; negative is this file's key for a resent request: -U is U | FUSE_UNIQUE_RESEND. */
  unique (v: number): this {
    return v < 0 ? this.i64(FUSE_UNIQUE_RESEND | BigInt(-v)) : this.u64(v)
  }

  zeros (n: number): this { for (let i = 0; i < n; i++) this.#out.push(0); return this }
  raw (b: Uint8Array): this { for (const x of b) this.#out.push(x); return this }
  /** A name as the kernel sends it: UTF-8 and a NUL. */
  name (s: string): this { return this.raw(utf8.encode(s)).zeros(1) }
  get bytes (): Uint8Array { return Uint8Array.from(this.#out) }
}

export interface Caller { uid?: number, gid?: number, pid?: number }

let nextUnique = 2

/** A fresh request id; the kernel's increase the same way (INIT had the first). */
export const newUnique = (): number => (nextUnique += 2)

export interface Request {
  /** Negative for a resent request (see resent()): the key replies are matched by. */
  unique: number
  opcode: number
  nodeid: number
  bytes: Uint8Array
}

/**
 * struct fuse_in_header (40 bytes), then the body:
 * len u32, opcode u32, unique u64, nodeid u64, uid u32, gid u32, pid u32,
 * total_extlen u16, padding u16.
 */
export function request (opcode: number, nodeid: number, body: Uint8Array, who: Caller = {}, unique = newUnique()): Request {
  const bytes = new Bytes()
    .u32(IN_HEADER + body.byteLength)
    .u32(opcode)
    .unique(unique)
    .u64(nodeid)
    .u32(who.uid ?? 0)
    .u32(who.gid ?? 0)
    .u32(who.pid ?? 4242)
    .u16(0) // total_extlen
    .u16(0) // padding
    .raw(body)
    .bytes
  return { unique, opcode, nodeid, bytes }
}

/* ------------------------------------------------------------ bodies */

export const body = {
  /** LOOKUP, UNLINK, RMDIR: the name. */
  name: (name: string): Uint8Array => new Bytes().name(name).bytes,
  /** fuse_getattr_in: getattr_flags u32, dummy u32, fh u64. */
  getattr: (flags = 0, fh = 0): Uint8Array => new Bytes().u32(flags).u32(0).u64(fh).bytes,
  /**
   * fuse_setattr_in (88 bytes): valid u32, padding u32, fh u64, size u64, lock_owner u64,
   * atime u64, mtime u64, ctime u64, atimensec u32, mtimensec u32, ctimensec u32,
   * mode u32, unused4 u32, uid u32, gid u32, unused5 u32.
   */
  setattr: (valid: number, f: { fh?: number, size?: number, atime?: bigint, mtime?: bigint, ctime?: bigint, mode?: number, uid?: number, gid?: number } = {}): Uint8Array =>
    new Bytes().u32(valid).u32(0).u64(f.fh ?? 0).u64(f.size ?? 0).u64(0)
      .i64(f.atime ?? 0n).i64(f.mtime ?? 0n).i64(f.ctime ?? 0n).u32(0).u32(0).u32(0)
      .u32(f.mode ?? 0).u32(0).u32(f.uid ?? 0).u32(f.gid ?? 0).u32(0).bytes,
  /** fuse_mkdir_in: mode u32, umask u32; then the name. */
  mkdir: (name: string, mode = 0o755, umask = 0o022): Uint8Array => new Bytes().u32(mode).u32(umask).name(name).bytes,
  /** fuse_create_in: flags u32, mode u32, umask u32, open_flags u32; then the name. */
  create: (name: string, mode = 0o100644, flags = 0o102 /* O_RDWR|O_CREAT */, umask = 0o022): Uint8Array =>
    new Bytes().u32(flags).u32(mode).u32(umask).u32(0).name(name).bytes,
  /** fuse_open_in: flags u32, open_flags u32. */
  open: (flags = 0): Uint8Array => new Bytes().u32(flags).u32(0).bytes,
  /** fuse_write_in: fh u64, offset u64, size u32, write_flags u32, lock_owner u64, flags u32, padding u32; then the data. */
  write: (fh: number, offset: number, data: Uint8Array, writeFlags = 0): Uint8Array =>
    new Bytes().u64(fh).u64(offset).u32(data.byteLength).u32(writeFlags).u64(0).u32(0o2).u32(0).raw(data).bytes,
  /** fuse_read_in (READ, READDIR, READDIRPLUS): fh u64, offset u64, size u32, read_flags u32, lock_owner u64, flags u32, padding u32. */
  read: (fh: number, offset: number, size: number): Uint8Array =>
    new Bytes().u64(fh).u64(offset).u32(size).u32(0).u64(0).u32(0).u32(0).bytes,
  /** fuse_flush_in: fh u64, unused u32, padding u32, lock_owner u64. */
  flush: (fh: number, lockOwner = 0x1234): Uint8Array => new Bytes().u64(fh).u32(0).u32(0).u64(lockOwner).bytes,
  /** fuse_release_in: fh u64, flags u32, release_flags u32, lock_owner u64. */
  release: (fh: number, flags = 0o2): Uint8Array => new Bytes().u64(fh).u32(flags).u32(0).u64(0).bytes,
  /** fuse_forget_in: nlookup u64. */
  forget: (nlookup: number): Uint8Array => new Bytes().u64(nlookup).bytes,
  /** fuse_batch_forget_in: count u32, dummy u32; then fuse_forget_one {nodeid u64, nlookup u64} each. */
  batchForget: (items: Array<{ nodeid: number, nlookup: number }>): Uint8Array => {
    const b = new Bytes().u32(items.length).u32(0)
    for (const f of items) b.u64(f.nodeid).u64(f.nlookup)
    return b.bytes
  },
  /** fuse_interrupt_in: unique u64. */
  interrupt: (unique: number): Uint8Array => new Bytes().unique(unique).bytes,
  /** fuse_rename2_in: newdir u64, flags u32, padding u32; then oldname, newname. */
  rename2: (newdir: number, oldname: string, newname: string, flags = 0): Uint8Array =>
    new Bytes().u64(newdir).u32(flags).u32(0).name(oldname).name(newname).bytes,
  /** fuse_rename_in: newdir u64; then oldname, newname. */
  rename: (newdir: number, oldname: string, newname: string): Uint8Array =>
    new Bytes().u64(newdir).name(oldname).name(newname).bytes,
  /** fuse_mknod_in: mode u32, rdev u32, umask u32, padding u32; then the name. */
  mknod: (name: string, mode: number, rdev = 0, umask = 0o022): Uint8Array =>
    new Bytes().u32(mode).u32(rdev).u32(umask).u32(0).name(name).bytes,
  /** SYMLINK: the new entry's name, then the target, each with its NUL. */
  symlink: (name: string, target: string): Uint8Array => new Bytes().name(name).name(target).bytes,
  /** fuse_link_in: oldnodeid u64; then the new name. */
  link: (oldnodeid: number, newname: string): Uint8Array => new Bytes().u64(oldnodeid).name(newname).bytes,
  /** fuse_getxattr_in (GETXATTR, LISTXATTR): size u32, padding u32; GETXATTR then the name. */
  getxattr: (size: number, name?: string): Uint8Array => {
    const b = new Bytes().u32(size).u32(0)
    return (name === undefined ? b : b.name(name)).bytes
  },
  /** The compat fuse_setxattr_in: size u32, flags u32; then the name and the value. */
  setxattr: (name: string, value: Uint8Array, flags = 0): Uint8Array =>
    new Bytes().u32(value.byteLength).u32(flags).name(name).raw(value).bytes,
}

/* ------------------------------------------------------------ requests */

export const req = {
  lookup: (parent: number, name: string): Request => request(FUSE_LOOKUP, parent, body.name(name)),
  getattr: (nodeid: number): Request => request(FUSE_GETATTR, nodeid, body.getattr()),
  setattr: (nodeid: number, valid: number, f?: Parameters<typeof body.setattr>[1]): Request => request(FUSE_SETATTR, nodeid, body.setattr(valid, f)),
  mkdir: (parent: number, name: string, mode?: number): Request => request(FUSE_MKDIR, parent, body.mkdir(name, mode)),
  create: (parent: number, name: string, mode?: number): Request => request(FUSE_CREATE, parent, body.create(name, mode)),
  /** O_TMPFILE: CREATE's body, under the name the kernel gives every such dentry. */
  tmpfile: (parent: number, mode?: number): Request => request(FUSE_TMPFILE, parent, body.create('/', mode)),
  open: (nodeid: number, flags = 0o2): Request => request(FUSE_OPEN, nodeid, body.open(flags)),
  opendir: (nodeid: number): Request => request(FUSE_OPENDIR, nodeid, body.open(0)),
  write: (nodeid: number, fh: number, offset: number, data: Uint8Array): Request => request(FUSE_WRITE, nodeid, body.write(fh, offset, data)),
  read: (nodeid: number, fh: number, offset: number, size: number): Request => request(FUSE_READ, nodeid, body.read(fh, offset, size)),
  readdirplus: (nodeid: number, fh: number, offset: number, size: number): Request => request(FUSE_READDIRPLUS, nodeid, body.read(fh, offset, size)),
  flush: (nodeid: number, fh: number): Request => request(FUSE_FLUSH, nodeid, body.flush(fh)),
  release: (nodeid: number, fh: number): Request => request(FUSE_RELEASE, nodeid, body.release(fh)),
  releasedir: (nodeid: number, fh: number): Request => request(FUSE_RELEASEDIR, nodeid, body.release(fh, 0)),
  forget: (nodeid: number, nlookup: number): Request => request(FUSE_FORGET, nodeid, body.forget(nlookup)),
  batchForget: (items: Array<{ nodeid: number, nlookup: number }>): Request => request(FUSE_BATCH_FORGET, 0, body.batchForget(items)),
  interrupt: (target: number): Request => request(FUSE_INTERRUPT, 0, body.interrupt(target)),
  unlink: (parent: number, name: string): Request => request(FUSE_UNLINK, parent, body.name(name)),
  rename2: (parent: number, oldname: string, newdir: number, newname: string, flags = 0): Request =>
    request(FUSE_RENAME2, parent, body.rename2(newdir, oldname, newname, flags)),
  rename: (parent: number, oldname: string, newdir: number, newname: string): Request =>
    request(FUSE_RENAME, parent, body.rename(newdir, oldname, newname)),
  rmdir: (parent: number, name: string): Request => request(FUSE_RMDIR, parent, body.name(name)),
  mknod: (parent: number, name: string, mode: number): Request => request(FUSE_MKNOD, parent, body.mknod(name, mode)),
  symlink: (parent: number, name: string, target: string): Request => request(FUSE_SYMLINK, parent, body.symlink(name, target)),
  link: (nodeid: number, parent: number, newname: string): Request => request(FUSE_LINK, parent, body.link(nodeid, newname)),
  getxattr: (nodeid: number, name: string, size: number): Request => request(FUSE_GETXATTR, nodeid, body.getxattr(size, name)),
  listxattr: (nodeid: number, size: number): Request => request(FUSE_LISTXATTR, nodeid, body.getxattr(size)),
  setxattr: (nodeid: number, name: string, value: Uint8Array): Request => request(FUSE_SETXATTR, nodeid, body.setxattr(name, value)),
}

/**
 * The same request as the kernel resends it after FUSE_NOTIFY_RESEND: the
 * same bytes with FUSE_UNIQUE_RESEND set in unique. Its key is -unique.
 */
export function resent (r: Request): Request {
  if (r.unique <= 0) throw new Error(`unique ${r.unique} is resent already`)
  const bytes = r.bytes.slice()
  bytes[8 + 7] |= 0x80 // the top byte of the little-endian unique
  return { ...r, unique: -r.unique, bytes }
}

/** The same request with its body cut to `bodyLength` bytes (len follows, as a short read would say). */
export function truncated (r: Request, bodyLength: number): Request {
  return request(r.opcode, r.nodeid, r.bytes.subarray(IN_HEADER, IN_HEADER + bodyLength))
}

/* ------------------------------------------------------------ replies */

/** struct fuse_out_header: len u32, error i32 (-errno), unique u64; then the body. */
export interface Reply {
  len: number
  /** Positive errno, 0 for success. */
  errno: number
  /** The request's key: negative when FUSE_UNIQUE_RESEND is set (as Request.unique). */
  unique: number
  /** The unique as written, all 64 bits. */
  rawUnique: bigint
  body: Uint8Array
}

export function parseReply (bytes: Uint8Array): Reply {
  if (bytes.byteLength < OUT_HEADER) throw new Error(`reply of ${bytes.byteLength} bytes is shorter than fuse_out_header`)
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const len = v.getUint32(0, true)
  const error = v.getInt32(4, true)
  if (error > 0) throw new Error(`reply error field ${error} is positive (must be -errno or 0)`)
  const rawUnique = v.getBigUint64(8, true)
  const rest = Number(rawUnique & (FUSE_UNIQUE_RESEND - 1n))
  const unique = (rawUnique & FUSE_UNIQUE_RESEND) !== 0n ? -rest : rest
  return { len, errno: error === 0 ? 0 : -error, unique, rawUnique, body: bytes.subarray(OUT_HEADER) }
}

function u64 (v: DataView, at: number): number {
  return v.getUint32(at, true) + v.getUint32(at + 4, true) * TWO_32
}

function i64 (v: DataView, at: number): number {
  return v.getUint32(at, true) + v.getInt32(at + 4, true) * TWO_32
}

const view = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength)

export interface Attr {
  ino: number, size: number, blocks: number, atime: number, mtime: number, ctime: number
  mode: number, nlink: number, uid: number, gid: number, rdev: number, blksize: number
}

/** struct fuse_attr (88 bytes) at `at`. */
function attrAt (v: DataView, at: number): Attr {
  return {
    ino: u64(v, at),
    size: u64(v, at + 8),
    blocks: u64(v, at + 16),
    atime: i64(v, at + 24),
    mtime: i64(v, at + 32),
    ctime: i64(v, at + 40),
    // atimensec, mtimensec, ctimensec at 48, 52, 56
    mode: v.getUint32(at + 60, true),
    nlink: v.getUint32(at + 64, true),
    uid: v.getUint32(at + 68, true),
    gid: v.getUint32(at + 72, true),
    rdev: v.getUint32(at + 76, true),
    blksize: v.getUint32(at + 80, true),
  }
}

export interface Entry { nodeid: number, generation: number, entryValid: number, attrValid: number, attr: Attr }

/** struct fuse_entry_out (128 bytes): nodeid, generation, entry_valid, attr_valid (u64), their nsecs (u32), fuse_attr. */
function entryAt (v: DataView, at: number): Entry {
  return { nodeid: u64(v, at), generation: u64(v, at + 8), entryValid: u64(v, at + 16), attrValid: u64(v, at + 24), attr: attrAt(v, at + 40) }
}

function need (b: Uint8Array, n: number, what: string): DataView {
  if (b.byteLength !== n) throw new Error(`${what} reply body is ${b.byteLength} bytes, expected ${n}`)
  return view(b)
}

export const parse = {
  entry: (b: Uint8Array): Entry => entryAt(need(b, 128, 'entry'), 0),
  /** struct fuse_attr_out (104 bytes): attr_valid u64, attr_valid_nsec u32, dummy u32, fuse_attr. */
  attr: (b: Uint8Array): Attr => attrAt(need(b, 104, 'attr'), 16),
  /** struct fuse_open_out (16 bytes): fh u64, open_flags u32, backing_id i32. */
  open: (b: Uint8Array): { fh: number, openFlags: number } => {
    const v = need(b, 16, 'open')
    return { fh: u64(v, 0), openFlags: v.getUint32(8, true) }
  },
  /** CREATE: fuse_entry_out then fuse_open_out. */
  create: (b: Uint8Array): { entry: Entry, fh: number, openFlags: number } => {
    const v = need(b, 144, 'create')
    return { entry: entryAt(v, 0), fh: u64(v, 128), openFlags: v.getUint32(136, true) }
  },
  /** struct fuse_write_out (8 bytes): size u32, padding u32. */
  write: (b: Uint8Array): number => need(b, 8, 'write').getUint32(0, true),
  /**
   * READDIRPLUS: fuse_direntplus records, 8-byte aligned: fuse_entry_out,
   * then fuse_dirent {ino u64, off u64, namelen u32, type u32, name}.
   */
  direntplus: (b: Uint8Array): Array<{ entry: Entry, ino: number, off: number, type: number, name: string }> => {
    const v = view(b)
    const out = []
    let at = 0
    while (at < b.byteLength) {
      if (b.byteLength - at < 152) throw new Error(`direntplus record at ${at} is cut short`)
      const entry = entryAt(v, at)
      const namelen = v.getUint32(at + 144, true)
      const name = Buffer.from(b.subarray(at + 152, at + 152 + namelen)).toString('utf8')
      out.push({ entry, ino: u64(v, at + 128), off: u64(v, at + 136), type: v.getUint32(at + 148, true), name })
      at += (152 + namelen + 7) & ~7
    }
    return out
  },
}
