// Opcodes are data: each maps to its name, body decoder and handler
// (go-fuse fuse/opcode.go, libfuse fuse_ll_ops[]). FORGET and BATCH_FORGET
// are answered by nobody: the kernel expects no reply.
import * as abi from '../channel/abi.ts'
import * as d from '../channel/decode.ts'
import type { Fs, Reply, Req } from './context.ts'
import * as entry from './entry.ts'
import * as attr from './attr.ts'
import * as file from './file.ts'
import * as dir from './dir.ts'
import * as xattr from './xattr.ts'

export interface OpSpec<T = any> {
  name: string
  decode: (body: Uint8Array, wire: d.Wire) => T
  handler: (fs: Fs, req: Req, body: T) => Reply | Promise<Reply>
  /** The kernel expects no reply (FORGET, BATCH_FORGET). */
  noReply?: boolean
}

const none = (): undefined => undefined

function op<T> (name: string, decode: (body: Uint8Array, wire: d.Wire) => T, handler: (fs: Fs, req: Req, body: T) => Reply | Promise<Reply>, noReply = false): OpSpec<T> {
  return { name, decode, handler, noReply }
}

export const opTable: ReadonlyMap<number, OpSpec> = new Map<number, OpSpec>([
  [abi.FUSE_LOOKUP, op('lookup', d.decodeName, entry.lookup)],
  [abi.FUSE_FORGET, op('forget', d.decodeForgetIn, entry.forget, true)],
  [abi.FUSE_BATCH_FORGET, op('batch_forget', d.decodeBatchForgetIn, entry.batchForget, true)],
  [abi.FUSE_GETATTR, op('getattr', d.decodeGetattrIn, attr.getattr)],
  [abi.FUSE_SETATTR, op('setattr', d.decodeSetattrIn, attr.setattr)],
  [abi.FUSE_READLINK, op('readlink', none, attr.readlink)],
  [abi.FUSE_SYMLINK, op('symlink', d.decodeSymlinkIn, entry.symlink)],
  [abi.FUSE_MKNOD, op('mknod', d.decodeMknodIn, entry.mknod)],
  [abi.FUSE_MKDIR, op('mkdir', d.decodeMkdirIn, entry.mkdir)],
  [abi.FUSE_UNLINK, op('unlink', d.decodeName, entry.unlink)],
  [abi.FUSE_RMDIR, op('rmdir', d.decodeName, entry.rmdir)],
  [abi.FUSE_RENAME, op('rename', d.decodeRenameIn, entry.rename)],
  [abi.FUSE_RENAME2, op('rename2', d.decodeRename2In, entry.rename2)],
  [abi.FUSE_LINK, op('link', d.decodeLinkIn, entry.link)],
  [abi.FUSE_OPEN, op('open', d.decodeOpenIn, file.open)],
  [abi.FUSE_CREATE, op('create', d.decodeCreateIn, file.create)],
  [abi.FUSE_TMPFILE, op('tmpfile', d.decodeCreateIn, file.tmpfile)],
  [abi.FUSE_READ, op('read', d.decodeReadIn, file.read)],
  [abi.FUSE_WRITE, op('write', d.decodeWriteIn, file.write)],
  [abi.FUSE_FLUSH, op('flush', d.decodeFlushIn, file.flush)],
  [abi.FUSE_FSYNC, op('fsync', d.decodeFsyncIn, file.fsync)],
  [abi.FUSE_RELEASE, op('release', d.decodeReleaseIn, file.release)],
  [abi.FUSE_FALLOCATE, op('fallocate', d.decodeFallocateIn, file.fallocate)],
  [abi.FUSE_LSEEK, op('lseek', d.decodeLseekIn, file.lseek)],
  [abi.FUSE_COPY_FILE_RANGE, op('copy_file_range', d.decodeCopyFileRangeIn, file.copyFileRange)],
  [abi.FUSE_OPENDIR, op('opendir', d.decodeOpenIn, dir.opendir)],
  [abi.FUSE_READDIR, op('readdir', d.decodeReadIn, dir.readdir)],
  [abi.FUSE_READDIRPLUS, op('readdirplus', d.decodeReadIn, dir.readdirplus)],
  [abi.FUSE_RELEASEDIR, op('releasedir', d.decodeReleaseIn, dir.releasedir)],
  [abi.FUSE_FSYNCDIR, op('fsyncdir', d.decodeFsyncIn, dir.fsyncdir)],
  [abi.FUSE_STATFS, op('statfs', none, attr.statfs)],
  [abi.FUSE_ACCESS, op('access', d.decodeAccessIn, attr.access)],
  [abi.FUSE_SETXATTR, op('setxattr', d.decodeSetxattrIn, xattr.setxattr)],
  [abi.FUSE_GETXATTR, op('getxattr', d.decodeGetxattrIn, xattr.getxattr)],
  [abi.FUSE_LISTXATTR, op('listxattr', d.decodeListxattrIn, xattr.listxattr)],
  [abi.FUSE_REMOVEXATTR, op('removexattr', d.decodeName, xattr.removexattr)],
  // DESTROY: the connection is ending; the supervisor flushes when the read side reports ENODEV.
  [abi.FUSE_DESTROY, op('destroy', none, () => new Uint8Array(0))],
])

/** Startup check: every entry is complete (catches a mistyped import early). */
export function checkOpTable (): void {
  for (const [code, spec] of opTable) {
    if (typeof spec.decode !== 'function' || typeof spec.handler !== 'function') throw new Error(`op table entry ${code} (${spec.name}) is incomplete`)
  }
}
