// Open files: open, create, read, write, flush, fsync, release, fallocate,
// lseek, copy_file_range. Data goes through the coalescer.
import { encodeCreateOut, encodeLseekOut, encodeOpenOut, encodeWriteOut } from '../channel/encode.ts'
import {
  FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, FALLOC_FL_ZERO_RANGE, FOPEN_KEEP_CACHE, FOPEN_NOFLUSH, FUSE_WRITE_KILL_SUIDGID,
  S_IFDIR, S_IFMT, S_IFREG, S_ISGID, S_ISUID, SEEK_DATA, SEEK_HOLE,
} from '../channel/abi.ts'
import type { CopyFileRangeIn, CreateIn, FallocateIn, FlushIn, FsyncIn, LseekIn, OpenIn, ReadIn, ReleaseIn, WriteIn } from '../channel/decode.ts'
import { FsError, errno as E } from '../errors.ts'
import type { Inode } from '../inode/table.ts'
import type { ObjectAttr } from '../store/types.ts'
import { blockCount, blockOf } from '../blocks/range.ts'
import { entryFor, type Fs, type Reply, type Req } from './context.ts'
import { createObject } from './entry.ts'
import { untilAborted } from '../abortable.ts'
import { untilCallerKilled } from './caller.ts'
import { constants } from 'node:fs'

const { O_TRUNC, O_RDONLY } = constants
const O_ACCMODE = 3

/**
 * Keep the kernel's page cache across opens: every change to a file of this
 * mount passes through this daemon, and auto_inval_data drops pages when the
 * size or mtime the kernel sees changes. -o no_keep_cache: every open starts cold.
 */
const openFlags = (fs: Fs): number => fs.config.keepCache && fs.store.capabilities.stableIds ? FOPEN_KEEP_CACHE : 0

function addHandle (fs: Fs, inode: Inode, flags: number): number {
  fs.table.pin(inode)
  return fs.handles.add({ kind: 'file', inode, flags })
}

async function truncate (fs: Fs, inode: Inode, size: number): Promise<void> {
  await fs.coalescer.flush(inode)
  fs.table.updateAttr(inode, await fs.store.setattr(inode.id, { size }))
  fs.coalescer.journalSize(inode.id, size)
}

export async function open (fs: Fs, req: Req, { flags }: OpenIn): Promise<Reply> {
  const inode = fs.table.get(req.nodeid)
  if ((inode.attr.mode & S_IFMT) === S_IFDIR) throw new FsError(E.EISDIR)
  // FUSE_ATOMIC_O_TRUNC: the truncation arrives with the open, not as a SETATTR.
  if ((flags & O_TRUNC) !== 0 && (flags & O_ACCMODE) !== O_RDONLY && inode.size !== 0) await truncate(fs, inode, 0)
  // A read-only handle never holds buffered data: its close needs no FLUSH round trip.
  const noflush = (flags & O_ACCMODE) === O_RDONLY ? FOPEN_NOFLUSH : 0
  return encodeOpenOut({ fh: addHandle(fs, inode, flags), open_flags: openFlags(fs) | noflush })
}

export function create (fs: Fs, req: Req, body: CreateIn): Promise<Reply> {
  return createOpen(fs, req, body.name, body)
}

/**
 * O_TMPFILE: a file with no name, open; linkat(2) may name it later. Until
 * then it is reclaimed like an unlinked file once the kernel lets it go.
 * The kernel sends CREATE's body, the name being "/".
 */
export function tmpfile (fs: Fs, req: Req, body: CreateIn): Promise<Reply> {
  return createOpen(fs, req, null, body)
}

/** A regular file named `name` (null: none), answered with its entry and an open handle. */
async function createOpen (fs: Fs, req: Req, name: string | null, { flags, mode, umask }: CreateIn): Promise<Reply> {
  const made = await createObject(fs, req, name, (mode & 0o7777) | S_IFREG, {}, umask)
  return createdReply(fs, made.attr, flags, { xattrs: made.xattrs })
}

/** How a created file's attributes came to be known. */
export interface Made {
  /** Read back by a lookup (resend.ts: a create a dead process already did), not from the change itself. */
  readAt?: number
  /** It was created with extended attributes (inherited ACLs). */
  xattrs?: boolean
}

/** CREATE's answer for the regular file `attr`: its entry and a handle open with `flags`. */
export function createdReply (fs: Fs, attr: ObjectAttr, flags: number, { readAt, xattrs = false }: Made = {}): Uint8Array {
  const entry = entryFor(fs, attr, readAt)
  const inode = fs.table.get(entry.nodeid)
  // No name yet (O_TMPFILE): reclaimed once the kernel lets it go, unless linked first.
  if (attr.nlink === 0) inode.unlinked = true
  // Made by this request (not read back for a resend) without inherited
  // ACLs, on a store only we change: no extended attribute until one is set here.
  if (readAt === undefined && !xattrs && fs.store.capabilities.exclusive === true) inode.xattrFree = true
  return encodeCreateOut(entry, { fh: addHandle(fs, inode, flags), open_flags: openFlags(fs) })
}

export async function read (fs: Fs, req: Req, { fh, offset, size }: ReadIn): Promise<Reply> {
  const h = fs.handles.file(fh)
  // Returned as a part of its own: sent with writev after the header, not copied.
  return [await fs.coalescer.read(h.inode, offset, size, req)]
}

export async function write (fs: Fs, req: Req, { fh, offset, data, write_flags }: WriteIn): Promise<Reply> {
  const h = fs.handles.file(fh)
  await fs.coalescer.write(h.inode, offset, data, req.signal)
  if ((write_flags & FUSE_WRITE_KILL_SUIDGID) !== 0) await killSuid(fs, h.inode)
  return encodeWriteOut(data.byteLength)
}

/** A write by someone other than the owner drops set-user-ID (and set-group-ID with group exec). */
async function killSuid (fs: Fs, inode: Inode): Promise<void> {
  const mode = inode.attr.mode & 0o7777
  const kill = S_ISUID | ((mode & 0o010) !== 0 ? S_ISGID : 0)
  if ((mode & kill) === 0) return
  fs.table.updateAttr(inode, await fs.store.setattr(inode.id, { mode: mode & ~kill }))
}

export async function flush (fs: Fs, req: Req, { fh }: FlushIn): Promise<Reply> {
  const inode = fs.handles.file(fh).inode
  // An interrupted close returns at once, and so does the close of a process
  // killed by a signal (caller.ts); the data is still stored: release waits for it.
  if (inode.dirty === undefined) {
    await fs.coalescer.flush(inode, req.signal)
  } else {
    const wait = untilCallerKilled(req.pid, req.signal)
    try {
      await fs.coalescer.flush(inode, wait.signal)
    } finally {
      wait.done()
    }
  }
  // Whole-object stores (S3) commit what the closing writer wrote.
  if (!fs.store.capabilities.blockWrites) await fs.store.flush?.(inode.id)
  return new Uint8Array(0)
}

export async function fsync (fs: Fs, req: Req, { fh }: FsyncIn): Promise<Reply> {
  const inode = fs.handles.file(fh).inode
  await fs.coalescer.flush(inode, req.signal)
  await untilAborted(fs.store.sync(inode.id), req.signal)
  return new Uint8Array(0)
}

export async function release (fs: Fs, _req: Req, { fh }: ReleaseIn): Promise<Reply> {
  const h = fs.handles.file(fh)
  try {
    // close(2) already saw any error through FLUSH; this stores what came after.
    await fs.coalescer.flush(h.inode)
    if (!fs.store.capabilities.blockWrites) await fs.store.flush?.(h.inode.id)
  } catch {}
  fs.handles.remove(fh)
  fs.table.unpin(h.inode)
  return new Uint8Array(0)
}

export async function fallocate (fs: Fs, _req: Req, { fh, offset, length, mode }: FallocateIn): Promise<Reply> {
  const inode = fs.handles.file(fh).inode
  const end = offset + length
  const keepSize = (mode & FALLOC_FL_KEEP_SIZE) !== 0
  if ((mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) !== 0) throw new FsError(E.EOPNOTSUPP)
  if ((mode & FALLOC_FL_PUNCH_HOLE) !== 0 && !keepSize) throw new FsError(E.EOPNOTSUPP)
  // Blocks are allocated on write, so nothing is set aside here. But asked
  // for more room past the end than the store has, answer ENOSPC now, as a
  // disk does: `fallocate -l` and downloaders that preallocate check for
  // room this way, and would otherwise fail partway through their writes.
  if ((mode & FALLOC_FL_PUNCH_HOLE) === 0 && end > inode.size) {
    const room = await fs.store.statfs()
    if (end - Math.max(offset, inode.size) > room.bavail * room.bsize) throw new FsError(E.ENOSPC)
  }
  if ((mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) !== 0) await zeroRange(fs, inode, offset, Math.min(end, inode.size))
  if (!keepSize && end > inode.size) await truncate(fs, inode, end)
  return new Uint8Array(0)
}

/** Zero [from, to): whole blocks are dropped (holes), partial ones written with zeros. */
async function zeroRange (fs: Fs, inode: Inode, from: number, to: number): Promise<void> {
  if (to <= from) return
  const bs = fs.coalescer.blockSize
  const firstWhole = Math.ceil(from / bs)
  const lastWhole = Math.floor(to / bs) - 1
  if (lastWhole < firstWhole) {
    await fs.coalescer.write(inode, from, new Uint8Array(to - from))
  } else {
    if (from < firstWhole * bs) await fs.coalescer.write(inode, from, new Uint8Array(firstWhole * bs - from))
    if (to > (lastWhole + 1) * bs) await fs.coalescer.write(inode, (lastWhole + 1) * bs, new Uint8Array(to - (lastWhole + 1) * bs))
  }
  await fs.coalescer.flush(inode)
  if (lastWhole >= firstWhole) await fs.store.dropBlocks(inode.id, firstWhole, lastWhole)
  fs.coalescer.journalZero(inode.id, from, to - from)
}

export async function lseek (fs: Fs, _req: Req, { fh, offset, whence }: LseekIn): Promise<Reply> {
  const inode = fs.handles.file(fh).inode
  if (whence !== SEEK_DATA && whence !== SEEK_HOLE) throw new FsError(E.EINVAL)
  await fs.coalescer.flush(inode)
  const size = inode.size
  if (offset >= size) throw new FsError(E.ENXIO)
  const bs = fs.coalescer.blockSize
  const found = await fs.store.seekBlock(inode.id, blockOf(offset, bs), blockCount(size, bs), whence === SEEK_DATA)
  if (whence === SEEK_DATA) {
    if (found === null) throw new FsError(E.ENXIO)
    return encodeLseekOut(Math.max(offset, found * bs))
  }
  // Every file has an implicit hole at its end.
  return encodeLseekOut(found === null ? size : Math.min(size, Math.max(offset, found * bs)))
}

/** Bytes copied per request; the caller loops, as copy_file_range(2) allows short copies. */
const COPY_MAX = 64 * 1024 * 1024
const COPY_CHUNK = 1024 * 1024

export async function copyFileRange (fs: Fs, _req: Req, c: CopyFileRangeIn): Promise<Reply> {
  if (c.flags !== 0) throw new FsError(E.EINVAL)
  const src = fs.handles.file(c.fh_in).inode
  const dst = fs.handles.file(c.fh_out).inode
  const total = Math.min(c.len, COPY_MAX, Math.max(0, src.size - c.off_in))
  let done = 0
  while (done < total) {
    const n = Math.min(COPY_CHUNK, total - done)
    const data = await fs.coalescer.read(src, c.off_in + done, n)
    if (data.byteLength === 0) break
    await fs.coalescer.write(dst, c.off_out + done, data)
    done += data.byteLength
  }
  return encodeWriteOut(done)
}
