// Attributes: getattr, setattr, readlink, access, statfs.
import { encodeAttrOut, encodeStatfsOut } from '../channel/encode.ts'
import {
  FATTR_ATIME, FATTR_ATIME_NOW, FATTR_CTIME, FATTR_GID, FATTR_KILL_SUIDGID, FATTR_MODE, FATTR_MTIME,
  FATTR_MTIME_NOW, FATTR_SIZE, FATTR_UID, S_IFDIR, S_IFMT, S_ISGID, S_ISUID,
} from '../channel/abi.ts'
import type { AccessIn, GetattrIn, SetattrIn } from '../channel/decode.ts'
import { FsError, errno as E } from '../errors.ts'
import type { Inode } from '../inode/table.ts'
import type { ObjectAttr, SetAttr } from '../store/types.ts'
import { nowTimespec } from '../time.ts'
import { followChmod } from './acl.ts'
import { attrTimeout, fuseAttr, type Fs, type Reply, type Req } from './context.ts'

export function attrReply (fs: Fs, inode: Inode, attr: ObjectAttr): Uint8Array {
  const [s, ns] = attrTimeout(fs)
  return encodeAttrOut({ attr_valid: s, attr_valid_nsec: ns, attr: fuseAttr(fs, attr, inode) })
}

export async function getattr (fs: Fs, req: Req, _body: GetattrIn): Promise<Reply> {
  const inode = fs.table.get(req.nodeid)
  const readAt = fs.table.epoch
  const attr = await fs.store.getattr(inode.id, { signal: req.signal })
  fs.table.updateAttr(inode, attr, readAt)
  return attrReply(fs, inode, inode.attr)
}

/**
 * Times beyond what a double holds exactly are clamped, as ext4 clamps to
 * its own range: stored as they came they would make the object unreadable.
 */
const MAX_SEC = Number.MAX_SAFE_INTEGER
const clampSec = (sec: number): number => Math.max(-MAX_SEC, Math.min(MAX_SEC, sec))
const at = (sec: number, nsec: number): { sec: number, nsec: number } => ({ sec: clampSec(sec), nsec: Math.min(nsec, 999_999_999) })

/** The store changes a SETATTR asks for. */
function changesOf (s: SetattrIn, current: ObjectAttr): SetAttr {
  const c: SetAttr = {}
  if ((s.valid & FATTR_MODE) !== 0) c.mode = s.mode & 0o7777
  if ((s.valid & FATTR_UID) !== 0) c.uid = s.uid
  if ((s.valid & FATTR_GID) !== 0) c.gid = s.gid
  if ((s.valid & FATTR_SIZE) !== 0) c.size = s.size
  if ((s.valid & FATTR_ATIME) !== 0) c.atime = (s.valid & FATTR_ATIME_NOW) !== 0 ? nowTimespec() : at(s.atime, s.atimensec)
  if ((s.valid & FATTR_MTIME) !== 0) c.mtime = (s.valid & FATTR_MTIME_NOW) !== 0 ? nowTimespec() : at(s.mtime, s.mtimensec)
  if ((s.valid & FATTR_CTIME) !== 0) c.ctime = at(s.ctime, s.ctimensec)
  // FUSE_HANDLE_KILLPRIV_V2: the kernel asks us to drop set-id bits (on
  // truncate or chown by a non-owner); set-group-ID only counts with group exec.
  if ((s.valid & FATTR_KILL_SUIDGID) !== 0) {
    const mode = c.mode ?? (current.mode & 0o7777)
    const kill = S_ISUID | ((mode & 0o010) !== 0 ? S_ISGID : 0)
    if ((mode & kill) !== 0) c.mode = mode & ~kill
  }
  return c
}

export async function setattr (fs: Fs, req: Req, s: SetattrIn): Promise<Reply> {
  const inode = fs.table.get(req.nodeid)
  const changes = changesOf(s, inode.attr)
  if (changes.size !== undefined && (inode.attr.mode & S_IFMT) === S_IFDIR) throw new FsError(E.EISDIR)
  // Buffered data goes first, so a later store write cannot undo the new size or times.
  if (changes.size !== undefined || changes.mtime !== undefined || changes.atime !== undefined) await fs.coalescer.flush(inode)
  const attr = await fs.store.setattr(inode.id, changes)
  if (changes.size !== undefined) fs.coalescer.journalSize(inode.id, changes.size)
  fs.table.updateAttr(inode, attr)
  if (changes.mode !== undefined && fs.negotiated.posixAcl) await followChmod(fs, inode, attr.mode)
  return attrReply(fs, inode, attr)
}

export async function readlink (fs: Fs, req: Req): Promise<Reply> {
  const inode = fs.table.get(req.nodeid)
  return Buffer.from(await fs.store.readlink(inode.id), 'utf8')
}

const R_OK = 4
const W_OK = 2
const X_OK = 1

/**
 * access(2) by mode bits. With default_permissions (with allow_other, by
 * default) the kernel checks modes itself and never sends ACCESS; this
 * serves mounts without it.
 */
export async function access (fs: Fs, req: Req, { mask }: AccessIn): Promise<Reply> {
  const inode = fs.table.get(req.nodeid)
  const readAt = fs.table.epoch
  const a = await fs.store.getattr(inode.id)
  fs.table.updateAttr(inode, a, readAt)
  if (mask === 0) return new Uint8Array(0)
  if (fs.config.readOnly && (mask & W_OK) !== 0) throw new FsError(E.EROFS)
  if (req.uid === 0) {
    // root passes read/write; execute needs some x bit (on files).
    const anyX = (a.mode & 0o111) !== 0 || (a.mode & S_IFMT) === S_IFDIR
    if ((mask & X_OK) !== 0 && !anyX) throw new FsError(E.EACCES)
    return new Uint8Array(0)
  }
  const shift = req.uid === a.uid ? 6 : req.gid === a.gid ? 3 : 0
  const granted = (a.mode >> shift) & 7
  if ((mask & (R_OK | W_OK | X_OK) & ~granted) !== 0) throw new FsError(E.EACCES)
  return new Uint8Array(0)
}

export async function statfs (fs: Fs): Promise<Reply> {
  const s = await fs.store.statfs()
  return encodeStatfsOut({ blocks: s.blocks, bfree: s.bfree, bavail: s.bavail, files: s.files, ffree: s.ffree, bsize: s.bsize, namelen: s.namelen, frsize: s.bsize })
}
