// The daemon's share of POSIX ACLs on a mount with `-o acl`
// (FUSE_POSIX_ACL): the kernel checks permissions against the ACLs and
// caches them, and leaves it to the filesystem to keep the mode in step
// with the access ACL and to hand a directory's default ACL down to what is
// made in it (posix-acl.ts has the rules). The ACLs are kept as the
// extended attributes the kernel names them by.
import { S_IFDIR, S_IFLNK, S_IFMT, S_ISGID } from '../channel/abi.ts'
import { FsError, errno as E } from '../errors.ts'
import type { Inode } from '../inode/table.ts'
import { logger } from '../log.ts'
import type { Fs } from './context.ts'
import { ACL_ACCESS, ACL_DEFAULT, chmodAcl, createMasq, encodeAcl, isMinimal, modeFromAcl, parseAcl } from './posix-acl.ts'

const log = logger('acl')
let hinted = false

/** ACLs on a mount without `-o acl`: refused, so cp and rsync fall back to the mode, with a hint in the log once. */
export function refuseAcl (name: string): never {
  if (!hinted) {
    hinted = true
    log.info({ name }, 'a POSIX ACL was refused (EOPNOTSUPP): mount with -o acl to keep them')
  }
  throw new FsError(E.EOPNOTSUPP)
}

/** The store's answer for an extended attribute that is not there. */
const absent = (err: unknown): boolean => err instanceof FsError && err.errno === E.ENODATA

/** The ACL xattr `name` of `inode`, or undefined when it has none. */
async function storedAcl (fs: Fs, inode: Inode, name: string): Promise<Uint8Array | undefined> {
  if (inode.xattrFree) return undefined
  try {
    return await fs.store.getxattr(inode.id, name)
  } catch (err) {
    if (absent(err)) return undefined
    throw err
  }
}

/**
 * setfacl and cp -a set an ACL: an access ACL sets the mode's permission
 * bits, and one that says no more than the mode is not kept (the kernel's
 * own filesystems drop it the same way). A default ACL is for directories.
 * `killSgid`: the caller is neither in the file's group nor has
 * CAP_FSETID, so the set-group-ID bit goes, as posix_acl_update_mode does.
 */
export async function setAcl (fs: Fs, inode: Inode, name: string, value: Uint8Array, flags: number, killSgid: boolean): Promise<void> {
  const entries = parseAcl(value)
  if (name === ACL_DEFAULT) {
    if ((inode.attr.mode & S_IFMT) !== S_IFDIR) throw new FsError(E.EACCES)
    inode.xattrFree = false
    await fs.store.setxattr(inode.id, name, encodeAcl(entries), flags)
    return
  }
  const mode = modeFromAcl(entries, inode.attr.mode) & ~(killSgid ? S_ISGID : 0)
  if (mode !== inode.attr.mode) fs.table.updateAttr(inode, await fs.store.setattr(inode.id, { mode: mode & 0o7777 }))
  if (isMinimal(entries)) {
    await fs.store.removexattr(inode.id, name).catch((err: unknown) => { if (!absent(err)) throw err })
    return
  }
  inode.xattrFree = false
  await fs.store.setxattr(inode.id, name, encodeAcl(entries), flags)
}

/** After a chmod to `mode`: the access ACL's base entries take the new bits, as the mode shows them. */
export async function followChmod (fs: Fs, inode: Inode, mode: number): Promise<void> {
  const bytes = await storedAcl(fs, inode, ACL_ACCESS)
  if (bytes === undefined) return
  await fs.store.setxattr(inode.id, ACL_ACCESS, encodeAcl(chmodAcl(parseAcl(bytes), mode)), 0)
}

/** What a new object gets from its directory: its mode, and the ACLs to set on it. */
export interface Inherited {
  mode: number
  xattrs: Array<[string, Uint8Array]>
}

/**
 * `mode` as asked by the caller (FUSE_DONT_MASK: the kernel leaves the
 * umask to us). Under a default ACL the umask does not apply: the ACL cuts
 * the mode down instead, and a directory inherits the default ACL itself.
 */
export async function inherit (fs: Fs, parent: Inode, mode: number, umask: number): Promise<Inherited> {
  if ((mode & S_IFMT) === S_IFLNK) return { mode, xattrs: [] }
  const bytes = await storedAcl(fs, parent, ACL_DEFAULT)
  if (bytes === undefined) return { mode: mode & ~(umask & 0o777), xattrs: [] }
  const { mode: masked, access } = createMasq(parseAcl(bytes), mode)
  const xattrs: Array<[string, Uint8Array]> = []
  if (access !== undefined) xattrs.push([ACL_ACCESS, encodeAcl(access)])
  if ((mode & S_IFMT) === S_IFDIR) xattrs.push([ACL_DEFAULT, bytes])
  return { mode: masked, xattrs }
}
