// What every operation handler gets: the request's identity and the
// filesystem state the supervisor owns.
import { S_IFMT, S_IFREG } from '../channel/abi.ts'
import { encodeEntryOut, type Attr, type EntryOut } from '../channel/encode.ts'
import type { InodeTable, Inode } from '../inode/table.ts'
import type { Handles } from '../inode/handles.ts'
import type { Coalescer } from '../blocks/coalesce.ts'
import type { Config } from '../config.ts'
import type { ObjectAttr, ObjectStore, ObjectId } from '../store/types.ts'
import type { CallOptions } from '../workers/pool.ts'

/** The request being served, from its fuse_in_header. */
export interface Req {
  unique: number
  opcode: number
  nodeid: number
  uid: number
  gid: number
  pid: number
  /** Aborted by a FUSE_INTERRUPT for this request. */
  signal: AbortSignal
  /** Called once the reply is written: a handler lends its reply a pooled buffer until then. */
  afterReply?: () => void
}

/** A store whose calls accept the request's signal, so queued work can be cancelled. */
export type Store = ObjectStore & {
  lookup: (parent: ObjectId, name: string, opts?: CallOptions) => Promise<ObjectAttr | null>
  getattr: (id: ObjectId, opts?: CallOptions) => Promise<ObjectAttr>
  readBlock: (id: ObjectId, index: number, offset: number, length: number, opts?: CallOptions) => Promise<Uint8Array | null>
}

/** What INIT settled with the kernel. */
export interface Negotiated {
  writebackCache: boolean
  readdirplus: boolean
  /** FUSE_POSIX_ACL with FUSE_DONT_MASK (-o acl): ACLs are kept (acl.ts), and the umask is ours to apply. */
  posixAcl: boolean
  /** FUSE_SETXATTR_EXT (with -o acl): the kernel says when setting an ACL drops the set-group-ID bit. */
  setxattrExt: boolean
}

export interface Fs {
  store: Store
  table: InodeTable
  handles: Handles
  coalescer: Coalescer
  config: Config
  negotiated: Negotiated
  /** Counters for `objfs.stats`. */
  stats: () => Record<string, unknown>
}

/** A handler's answer: reply bytes, several parts sent with one writev (no copy), or nothing (FORGET). */
export type Reply = Uint8Array | Uint8Array[] | null

const splitSeconds = (s: number): [number, number] => {
  const sec = Math.floor(s)
  return [sec, Math.round((s - sec) * 1e9)]
}

/**
 * The bytes st_blocks counts: what the store holds of a regular file, holes
 * left out, so that cp and tar, which look for holes only in a file with
 * fewer blocks than its size needs, copy a sparse file sparse. A file with
 * buffered data counts as dense until it is stored. At most the size: a
 * block in a data file counts whole, the last one too.
 */
function allocated (a: ObjectAttr, size: number, inode?: Inode): number {
  if (a.stored === undefined || (a.mode & S_IFMT) !== S_IFREG || inode?.dirty !== undefined) return size
  return Math.min(a.stored, size)
}

/** fuse_attr for an inode: the buffered size and mtime count while data is buffered. */
export function fuseAttr (fs: Fs, a: ObjectAttr, inode?: Inode): Attr {
  const size = inode?.size ?? a.size
  const mtime = inode?.dirty?.mtime ?? a.mtime
  return {
    ino: a.ino,
    size,
    blocks: Math.ceil(allocated(a, size, inode) / 512),
    atime: a.atime.sec,
    mtime: mtime.sec,
    ctime: a.ctime.sec,
    atimensec: a.atime.nsec,
    mtimensec: mtime.nsec,
    ctimensec: a.ctime.nsec,
    mode: a.mode,
    nlink: a.nlink,
    uid: a.uid,
    gid: a.gid,
    rdev: a.rdev,
    // st_blksize steers cp and dd buffer sizes: one block, capped at a FUSE request.
    blksize: Math.min(fs.coalescer.blockSize, 1024 * 1024),
    flags: 0,
  }
}

/** An entry for `attr`; counts one kernel reference (the caller must send it). */
export function entryFor (fs: Fs, attr: ObjectAttr, readAt?: number): EntryOut {
  const inode = fs.table.ref(attr, readAt)
  const [ev, evn] = splitSeconds(fs.config.entryTimeout)
  const [av, avn] = splitSeconds(fs.config.attrTimeout)
  return { nodeid: inode.nodeid, generation: 0, entry_valid: ev, entry_valid_nsec: evn, attr_valid: av, attr_valid_nsec: avn, attr: fuseAttr(fs, inode.attr, inode) }
}

export const entryReply = (fs: Fs, attr: ObjectAttr, readAt?: number): Uint8Array => encodeEntryOut(entryFor(fs, attr, readAt))

/** A cached negative entry: nodeid 0 with a timeout tells the kernel "absent" for that long. */
export function negativeEntry (fs: Fs): EntryOut {
  const [ev, evn] = splitSeconds(fs.config.negativeTimeout)
  return { nodeid: 0, generation: 0, entry_valid: ev, entry_valid_nsec: evn, attr_valid: 0, attr_valid_nsec: 0, attr: emptyAttr }
}

export function attrTimeout (fs: Fs): [number, number] {
  return splitSeconds(fs.config.attrTimeout)
}

const emptyAttr: Attr = { ino: 0, size: 0, blocks: 0, atime: 0, mtime: 0, ctime: 0, atimensec: 0, mtimensec: 0, ctimensec: 0, mode: 0, nlink: 0, uid: 0, gid: 0, rdev: 0, blksize: 0, flags: 0 }

