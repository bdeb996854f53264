// Extended attributes, and the daemon's own read-only `objfs.stats` on the
// mount root (how `objfs stats MOUNTPOINT` and the tests reach the counters
// without a side channel). It is not listed, so cp -a and rsync -X skip it.
import { FUSE_SETXATTR_ACL_KILL_SGID } from '../channel/abi.ts'
import { encodeGetxattrOut, encodeXattrNames } from '../channel/encode.ts'
import type { GetxattrIn, ListxattrIn, NameIn, SetxattrIn } from '../channel/decode.ts'
import { FsError, errno as E } from '../errors.ts'
import { ROOT_NODEID } from '../inode/table.ts'
import { refuseAcl, setAcl } from './acl.ts'
import type { Fs, Reply, Req } from './context.ts'
import { isAclName } from './posix-acl.ts'

export const STATS_XATTR = 'objfs.stats'

/**
 * POSIX ACLs only with -o acl (FUSE_POSIX_ACL, acl.ts). Stored as plain
 * xattrs without it they would be a lie with consequences: cp -a sets the
 * access ACL instead of calling chmod when that succeeds, and the mode bits
 * would never change. EOPNOTSUPP makes tools fall back to chmod.
 */
const refused = (fs: Fs, name: string): boolean => !fs.negotiated.posixAcl && isAclName(name)

/** getxattr/listxattr size protocol: 0 asks for the size, too small is ERANGE. */
function sized (value: Uint8Array, size: number): Reply {
  if (size === 0) return encodeGetxattrOut(value.byteLength)
  if (value.byteLength > size) throw new FsError(E.ERANGE)
  return value
}

export async function getxattr (fs: Fs, req: Req, { size, name }: GetxattrIn): Promise<Reply> {
  if (req.nodeid === ROOT_NODEID && name === STATS_XATTR) {
    // Counters move between the size query and the read: promise room to spare.
    const stats = fs.stats()
    // This request is in flight too; the reader wants to know about the others.
    if (typeof stats.inFlight === 'number') stats.inFlight = Math.max(0, stats.inFlight - 1)
    const value = Buffer.from(JSON.stringify(stats))
    return size === 0 ? encodeGetxattrOut(value.byteLength + 4096) : sized(value, size)
  }
  const inode = fs.table.get(req.nodeid)
  if (refused(fs, name)) refuseAcl(name)
  if (inode.xattrFree) throw new FsError(E.ENODATA)
  return sized(await fs.store.getxattr(inode.id, name), size)
}

export async function setxattr (fs: Fs, req: Req, { flags, setxattr_flags, name, value }: SetxattrIn): Promise<Reply> {
  if (req.nodeid === ROOT_NODEID && name === STATS_XATTR) throw new FsError(E.EPERM)
  const inode = fs.table.get(req.nodeid)
  if (refused(fs, name)) refuseAcl(name)
  if (isAclName(name)) {
    await setAcl(fs, inode, name, value, flags, (setxattr_flags & FUSE_SETXATTR_ACL_KILL_SGID) !== 0)
    return new Uint8Array(0)
  }
  // Before the store call: a GETXATTR arriving meanwhile asks the store.
  inode.xattrFree = false
  // The value is a view into the request slot, which is reused: the store keeps a copy.
  await fs.store.setxattr(inode.id, name, Uint8Array.from(value), flags)
  return new Uint8Array(0)
}

export async function listxattr (fs: Fs, req: Req, { size }: ListxattrIn): Promise<Reply> {
  const inode = fs.table.get(req.nodeid)
  return sized(encodeXattrNames(inode.xattrFree ? [] : await fs.store.listxattr(inode.id)), size)
}

export async function removexattr (fs: Fs, req: Req, { name }: NameIn): Promise<Reply> {
  const inode = fs.table.get(req.nodeid)
  await fs.store.removexattr(inode.id, name)
  return new Uint8Array(0)
}
