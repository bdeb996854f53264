// Requests the kernel resends after FUSE_NOTIFY_RESEND (decode.ts: a
// negative unique). A serving process read them and died before answering,
// perhaps after the store had done the work: a mkdir done once fails with
// EEXIST when run again, an unlink with ENOENT, and the caller would see the
// failure of a call that in fact succeeded. So for a resent request whose
// retry fails with the errno a completed first run leaves behind, the state
// is checked, and if it is what that run would have left, the caller gets
// the answer that run would have given.
//
// Only the namespace changes need this. Everything else is idempotent as
// the kernel sends it: WRITE names its offset, SETATTR absolute values,
// READ, LOOKUP and GETATTR change nothing.
//
// The check cannot tell the first run's object from one someone else made
// under that name in between (mkdir racing another mkdir): the type, and a
// symlink's target or a link's object, must match, which is as close as the
// store allows. RENAME_EXCHANGE done twice is undone; nothing reveals which,
// so it is left alone.
import {
  FUSE_CREATE, FUSE_LINK, FUSE_MKDIR, FUSE_MKNOD, FUSE_RENAME, FUSE_RENAME2, FUSE_RMDIR, FUSE_SYMLINK,
  FUSE_UNLINK, RENAME_EXCHANGE, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG, opcodeName,
} from '../channel/abi.ts'
import type { CreateIn, LinkIn, MkdirIn, MknodIn, Rename2In, RenameIn, SymlinkIn } from '../channel/decode.ts'
import { errno as E, toErrno } from '../errors.ts'
import { logger } from '../log.ts'
import type { ObjectAttr } from '../store/types.ts'
import { entryReply, type Fs, type Reply, type Req } from './context.ts'
import { createdReply } from './file.ts'
import type { OpSpec } from './table.ts'

const log = logger('resend')

/**
 * The errno a completed first run makes the retry fail with, and the first
 * run's answer, rebuilt from the store; undefined when the state says the
 * failure is genuine.
 */
interface Recovery<T> {
  errno: number
  done: (fs: Fs, req: Req, body: T) => Promise<Reply | undefined>
}

const EMPTY = new Uint8Array(0)
const typeOf = (a: ObjectAttr): number => a.mode & S_IFMT

/**
 * The entry `name` under the request's directory, answered with `reply` when
 * `matches` says the first run made it; undefined otherwise.
 */
async function made (
  fs: Fs, req: Req, name: string,
  matches: (a: ObjectAttr) => boolean | Promise<boolean>,
  reply: (a: ObjectAttr, readAt: number) => Reply = (a, readAt) => entryReply(fs, a, readAt),
): Promise<Reply | undefined> {
  const parent = fs.table.get(req.nodeid)
  const readAt = fs.table.epoch
  const attr = await fs.store.lookup(parent.id, name, { signal: req.signal })
  if (attr === null || !(await matches(attr))) return undefined
  // Synchronous from here: the reply counts the kernel's reference to the entry.
  return reply(attr, readAt)
}

const mkdir: Recovery<MkdirIn> = {
  errno: E.EEXIST,
  done: async (fs, req, { name }) => await made(fs, req, name, a => typeOf(a) === S_IFDIR),
}

const mknod: Recovery<MknodIn> = {
  errno: E.EEXIST,
  done: async (fs, req, { name, mode }) => {
    // Type 0 makes a regular file, as entry.ts mknod does.
    const type = (mode & S_IFMT) === 0 ? S_IFREG : mode & S_IFMT
    return await made(fs, req, name, a => typeOf(a) === type)
  },
}

const symlink: Recovery<SymlinkIn> = {
  errno: E.EEXIST,
  done: async (fs, req, { name, target }) =>
    await made(fs, req, name, async a => typeOf(a) === S_IFLNK && await fs.store.readlink(a.id) === target),
}

const create: Recovery<CreateIn> = {
  errno: E.EEXIST,
  // The open the first run's reply carried never reached the kernel: a fresh handle stands in for it.
  done: async (fs, req, { name, flags }) =>
    await made(fs, req, name, a => typeOf(a) === S_IFREG, (a, readAt) => createdReply(fs, a, flags, { readAt })),
}

const link: Recovery<LinkIn> = {
  errno: E.EEXIST,
  done: async (fs, req, { oldnodeid, newname }) => {
    const id = fs.table.get(oldnodeid).id
    return await made(fs, req, newname, a => a.id === id)
  },
}

/** UNLINK, RMDIR: the name is gone, which is what the first run was for. */
const remove: Recovery<unknown> = { errno: E.ENOENT, done: async () => EMPTY }

/** RENAME, RENAME2: the source is gone and the destination exists: the move was made. */
const rename: Recovery<RenameIn | Rename2In> = {
  errno: E.ENOENT,
  done: async (fs, req, body) => {
    if ((('flags' in body ? body.flags : 0) & RENAME_EXCHANGE) !== 0) return undefined
    const dir = fs.table.get(body.newdir)
    return (await fs.store.lookup(dir.id, body.newname, { signal: req.signal })) === null ? undefined : EMPTY
  },
}

const recoveries: ReadonlyMap<number, Recovery<any>> = new Map<number, Recovery<any>>([
  [FUSE_MKDIR, mkdir], [FUSE_MKNOD, mknod], [FUSE_SYMLINK, symlink], [FUSE_CREATE, create],
  [FUSE_LINK, link], [FUSE_UNLINK, remove], [FUSE_RMDIR, remove],
  [FUSE_RENAME, rename], [FUSE_RENAME2, rename],
])

/**
 * Serve a resent request: run it as usual; a failure that a completed first
 * run explains becomes that run's answer. Any other outcome stands.
 */
export async function serveResent (fs: Fs, req: Req, body: unknown, handler: OpSpec['handler']): Promise<Reply> {
  try {
    return await handler(fs, req, body)
  } catch (err) {
    const recovery = recoveries.get(req.opcode)
    if (recovery === undefined || toErrno(err) !== recovery.errno) throw err
    const reply = await recovery.done(fs, req, body)
    if (reply === undefined) throw err
    log.debug({ unique: req.unique, op: opcodeName(req.opcode), nodeid: req.nodeid, errno: recovery.errno }, 'resent request was done before: answered as the first run would have')
    return reply
  }
}
