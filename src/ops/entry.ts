// Names: lookup, forget, and everything that adds or removes a directory entry.
import { encodeEntryOut } from '../channel/encode.ts'
import { S_IFDIR, S_IFLNK, S_IFMT, S_IFREG } from '../channel/abi.ts'
import type { BatchForgetIn, ForgetIn, LinkIn, MkdirIn, MknodIn, NameIn, Rename2In, RenameIn, SymlinkIn } from '../channel/decode.ts'
import { FsError, errno as E } from '../errors.ts'
import type { CreateSpec, ObjectAttr, ObjectId, RemoveResult } from '../store/types.ts'
import { inherit } from './acl.ts'
import { entryReply, negativeEntry, type Fs, type Reply, type Req } from './context.ts'
import { events } from '../metrics/events.ts'

const S_ISGID = 0o2000

export async function lookup (fs: Fs, req: Req, { name }: NameIn): Promise<Reply> {
  const parent = fs.table.get(req.nodeid)
  const readAt = fs.table.epoch
  const attr = await fs.store.lookup(parent.id, name, { signal: req.signal })
  if (attr === null) {
    // ENOENT on lookup is routine (every create starts with one), so it is
    // answered as a cacheable negative entry when the option allows.
    if (fs.config.negativeTimeout > 0) {
      events.negativeEntries++
      return encodeEntryOut(negativeEntry(fs))
    }
    throw new FsError(E.ENOENT)
  }
  return entryReply(fs, attr, readAt)
}

export function forget (fs: Fs, req: Req, { nlookup }: ForgetIn): Reply {
  fs.table.forget(req.nodeid, nlookup)
  return null
}

export function batchForget (fs: Fs, _req: Req, { forgets }: BatchForgetIn): Reply {
  for (const f of forgets) fs.table.forget(f.nodeid, f.nlookup)
  return null
}

/** Owner of a new object: the caller, with the BSD/SysV set-group-ID directory rule. */
function owner (req: Req, parent: ObjectAttr, mode: number): { uid: number, gid: number, mode: number } {
  if ((parent.mode & S_ISGID) === 0) return { uid: req.uid, gid: req.gid, mode }
  const dir = (mode & S_IFMT) === S_IFDIR
  return { uid: req.uid, gid: parent.gid, mode: dir ? mode | S_ISGID : mode }
}

export interface Created {
  attr: ObjectAttr
  /** ACLs inherited from the directory were set on it. */
  xattrs: boolean
}

/**
 * A new object `name` in the request's directory; with `name` null a
 * regular file with no name there (O_TMPFILE). With -o acl the kernel
 * leaves the umask to us (FUSE_DONT_MASK), and the directory's default ACL
 * replaces it (acl.ts); otherwise the kernel has applied it already.
 */
export async function createObject (fs: Fs, req: Req, name: string | null, mode: number, extra: { rdev?: number, target?: string } = {}, umask = 0): Promise<Created> {
  const parent = fs.table.get(req.nodeid)
  const acl = fs.negotiated.posixAcl ? await inherit(fs, parent, mode, umask) : undefined
  const spec = { ...owner(req, parent.attr, acl?.mode ?? mode), ...extra }
  const attr = name === null ? await createUnnamed(fs, parent.id, spec) : await fs.store.create(parent.id, name, spec)
  for (const [n, v] of acl?.xattrs ?? []) await fs.store.setxattr(attr.id, n, v, 0)
  return { attr, xattrs: (acl?.xattrs.length ?? 0) > 0 }
}

function createUnnamed (fs: Fs, parent: ObjectId, spec: CreateSpec): Promise<ObjectAttr> {
  // ENOSYS: the kernel then answers O_TMPFILE with EOPNOTSUPP itself, without asking again.
  if (fs.store.capabilities.unnamedFiles !== true || fs.store.createUnnamed === undefined) throw new FsError(E.ENOSYS, 'this store has no unnamed files')
  return fs.store.createUnnamed(parent, spec)
}

export async function mknod (fs: Fs, req: Req, { mode, rdev, umask, name }: MknodIn): Promise<Reply> {
  const type = mode & S_IFMT
  return entryReply(fs, (await createObject(fs, req, name, type === 0 ? mode | S_IFREG : mode, { rdev }, umask)).attr)
}

export async function mkdir (fs: Fs, req: Req, { mode, umask, name }: MkdirIn): Promise<Reply> {
  return entryReply(fs, (await createObject(fs, req, name, (mode & 0o7777) | S_IFDIR, {}, umask)).attr)
}

export async function symlink (fs: Fs, req: Req, { name, target }: SymlinkIn): Promise<Reply> {
  return entryReply(fs, (await createObject(fs, req, name, S_IFLNK | 0o777, { target })).attr)
}

export async function link (fs: Fs, req: Req, { oldnodeid, newname }: LinkIn): Promise<Reply> {
  if (!fs.store.capabilities.hardLinks) throw new FsError(E.EPERM, 'this store has no hard links')
  const inode = fs.table.get(oldnodeid)
  const parent = fs.table.get(req.nodeid)
  const attr = await fs.store.link(inode.id, parent.id, newname)
  // An O_TMPFILE file got its first name: it is to be kept now.
  inode.unlinked = false
  return entryReply(fs, attr)
}

/** A name is gone: an object left without names is freed once nothing references it. */
function lostName (fs: Fs, r: RemoveResult): void {
  // Where ids are keys (S3), an object kept for its open handles takes another id.
  if (r.orphan !== undefined) fs.table.rekey(r.id, r.orphan, false)
  const id = r.orphan ?? r.id
  const inode = fs.table.byId(id)
  if (inode !== undefined) {
    fs.table.updateAttr(inode, { ...inode.attr, nlink: r.nlink })
    if (r.nlink === 0) inode.unlinked = true
  } else if (r.nlink === 0 && !fs.table.resumed) {
    // After a takeover the kernel may hold the object open through a handle
    // this process has not seen yet: the next fresh mount reclaims it.
    void reclaim(fs, id)
  }
}

export async function reclaim (fs: Fs, id: ObjectId): Promise<void> {
  await fs.store.reclaim(id).catch(() => {
    // A later mount reclaims orphans left behind; nothing the caller can do.
  })
}

export async function unlink (fs: Fs, req: Req, { name }: NameIn): Promise<Reply> {
  const parent = fs.table.get(req.nodeid)
  // Where ids are keys, the file may live on under another id (RemoveResult.orphan).
  if (!fs.store.capabilities.stableIds) await fs.coalescer.idsChanging()
  lostName(fs, await fs.store.remove(parent.id, name, false))
  return new Uint8Array(0)
}

export async function rmdir (fs: Fs, req: Req, { name }: NameIn): Promise<Reply> {
  const parent = fs.table.get(req.nodeid)
  lostName(fs, await fs.store.remove(parent.id, name, true))
  return new Uint8Array(0)
}

export async function rename2 (fs: Fs, req: Req, { newdir, flags, oldname, newname }: Rename2In): Promise<Reply> {
  const parent = fs.table.get(req.nodeid)
  const target = fs.table.get(newdir)
  // Where ids are keys (S3), a rename changes them.
  if (!fs.store.capabilities.stableIds) await fs.coalescer.idsChanging()
  const r = await fs.store.rename(parent.id, oldname, target.id, newname, flags)
  if (r.replaced !== undefined) lostName(fs, r.replaced)
  for (const m of r.moved ?? []) fs.table.rekey(m.from, m.to, m.subtree)
  return new Uint8Array(0)
}

export async function rename (fs: Fs, req: Req, body: RenameIn): Promise<Reply> {
  return await rename2(fs, req, { ...body, flags: 0 })
}
