// Pins abi.ts and the codec's field offsets against <linux/fuse.h>: a C
// program prints sizeof/offsetof/constant values, and every number abi.ts
// exports must match (or be listed as newer than the installed header).
// Decoders are checked by writing each field at the C offset and reading it
// back; encoders by reading each field at the C offset out of their output.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as abi from '../../src/channel/abi.ts'
import * as dec from '../../src/channel/decode.ts'
import * as enc from '../../src/channel/encode.ts'

/* ------------------------------------------------------------------ tables */

/** A C preprocessor condition for names the installed 7.38 header may lack. */
type Guard = string | undefined
const minor = (n: number): string => `FUSE_KERNEL_MINOR_VERSION >= ${n}`
const def = (name: string): string => `defined(${name})`

const SIZES: Array<[keyof typeof abi, string, Guard?]> = [
  ['IN_HEADER_SIZE', 'sizeof(struct fuse_in_header)'],
  ['OUT_HEADER_SIZE', 'sizeof(struct fuse_out_header)'],
  ['ATTR_SIZE', 'sizeof(struct fuse_attr)'],
  ['KSTATFS_SIZE', 'sizeof(struct fuse_kstatfs)'],
  ['ENTRY_OUT_SIZE', 'sizeof(struct fuse_entry_out)'],
  ['ATTR_OUT_SIZE', 'sizeof(struct fuse_attr_out)'],
  ['FORGET_IN_SIZE', 'sizeof(struct fuse_forget_in)'],
  ['FORGET_ONE_SIZE', 'sizeof(struct fuse_forget_one)'],
  ['BATCH_FORGET_IN_SIZE', 'sizeof(struct fuse_batch_forget_in)'],
  ['GETATTR_IN_SIZE', 'sizeof(struct fuse_getattr_in)'],
  ['SETATTR_IN_SIZE', 'sizeof(struct fuse_setattr_in)'],
  ['MKNOD_IN_SIZE', 'sizeof(struct fuse_mknod_in)'],
  ['MKDIR_IN_SIZE', 'sizeof(struct fuse_mkdir_in)'],
  ['RENAME_IN_SIZE', 'sizeof(struct fuse_rename_in)'],
  ['RENAME2_IN_SIZE', 'sizeof(struct fuse_rename2_in)'],
  ['LINK_IN_SIZE', 'sizeof(struct fuse_link_in)'],
  ['OPEN_IN_SIZE', 'sizeof(struct fuse_open_in)'],
  ['CREATE_IN_SIZE', 'sizeof(struct fuse_create_in)'],
  ['OPEN_OUT_SIZE', 'sizeof(struct fuse_open_out)'],
  ['CREATE_OUT_SIZE', 'sizeof(struct fuse_entry_out) + sizeof(struct fuse_open_out)'],
  ['RELEASE_IN_SIZE', 'sizeof(struct fuse_release_in)'],
  ['FLUSH_IN_SIZE', 'sizeof(struct fuse_flush_in)'],
  ['READ_IN_SIZE', 'sizeof(struct fuse_read_in)'],
  ['WRITE_IN_SIZE', 'sizeof(struct fuse_write_in)'],
  ['WRITE_OUT_SIZE', 'sizeof(struct fuse_write_out)'],
  ['STATFS_OUT_SIZE', 'sizeof(struct fuse_statfs_out)'],
  ['FSYNC_IN_SIZE', 'sizeof(struct fuse_fsync_in)'],
  ['SETXATTR_IN_SIZE', 'sizeof(struct fuse_setxattr_in)'],
  ['GETXATTR_IN_SIZE', 'sizeof(struct fuse_getxattr_in)'],
  ['GETXATTR_OUT_SIZE', 'sizeof(struct fuse_getxattr_out)'],
  ['ACCESS_IN_SIZE', 'sizeof(struct fuse_access_in)'],
  ['INIT_IN_SIZE', 'sizeof(struct fuse_init_in)'],
  ['INIT_OUT_SIZE', 'sizeof(struct fuse_init_out)'],
  ['INTERRUPT_IN_SIZE', 'sizeof(struct fuse_interrupt_in)'],
  ['FALLOCATE_IN_SIZE', 'sizeof(struct fuse_fallocate_in)'],
  ['LSEEK_IN_SIZE', 'sizeof(struct fuse_lseek_in)'],
  ['LSEEK_OUT_SIZE', 'sizeof(struct fuse_lseek_out)'],
  ['COPY_FILE_RANGE_IN_SIZE', 'sizeof(struct fuse_copy_file_range_in)'],
  ['STATX_IN_SIZE', 'sizeof(struct fuse_statx_in)', minor(39)],
  ['NOTIFY_INVAL_INODE_OUT_SIZE', 'sizeof(struct fuse_notify_inval_inode_out)'],
  ['NOTIFY_INVAL_ENTRY_OUT_SIZE', 'sizeof(struct fuse_notify_inval_entry_out)'],
  ['NOTIFY_DELETE_OUT_SIZE', 'sizeof(struct fuse_notify_delete_out)'],
  ['FUSE_NAME_OFFSET', 'FUSE_NAME_OFFSET'],
  ['FUSE_NAME_OFFSET_DIRENTPLUS', 'FUSE_NAME_OFFSET_DIRENTPLUS'],
  ['DIRENT_HEADER_SIZE', 'offsetof(struct fuse_dirent, name)'],
  ['DIRENTPLUS_HEADER_SIZE', 'offsetof(struct fuse_direntplus, dirent.name)'],
  ['COMPAT_INIT_IN_SIZE', 'offsetof(struct fuse_init_in, flags2)'],
]

/** Names whose C spelling is the same macro or enum value. */
const SAME_NAME = [
  'FUSE_KERNEL_VERSION', 'FUSE_ROOT_ID', 'FUSE_MIN_READ_BUFFER', 'FUSE_MAX_NR_SECCTX', 'FUSE_DEV_IOC_CLONE',
  'FUSE_LOOKUP', 'FUSE_FORGET', 'FUSE_GETATTR', 'FUSE_SETATTR', 'FUSE_READLINK', 'FUSE_SYMLINK', 'FUSE_MKNOD',
  'FUSE_MKDIR', 'FUSE_UNLINK', 'FUSE_RMDIR', 'FUSE_RENAME', 'FUSE_LINK', 'FUSE_OPEN', 'FUSE_READ', 'FUSE_WRITE',
  'FUSE_STATFS', 'FUSE_RELEASE', 'FUSE_FSYNC', 'FUSE_SETXATTR', 'FUSE_GETXATTR', 'FUSE_LISTXATTR',
  'FUSE_REMOVEXATTR', 'FUSE_FLUSH', 'FUSE_INIT', 'FUSE_OPENDIR', 'FUSE_READDIR', 'FUSE_RELEASEDIR',
  'FUSE_FSYNCDIR', 'FUSE_GETLK', 'FUSE_SETLK', 'FUSE_SETLKW', 'FUSE_ACCESS', 'FUSE_CREATE', 'FUSE_INTERRUPT',
  'FUSE_BMAP', 'FUSE_DESTROY', 'FUSE_IOCTL', 'FUSE_POLL', 'FUSE_NOTIFY_REPLY', 'FUSE_BATCH_FORGET',
  'FUSE_FALLOCATE', 'FUSE_READDIRPLUS', 'FUSE_RENAME2', 'FUSE_LSEEK', 'FUSE_COPY_FILE_RANGE',
  'FUSE_SETUPMAPPING', 'FUSE_REMOVEMAPPING', 'FUSE_SYNCFS', 'FUSE_TMPFILE', 'CUSE_INIT',
  'FUSE_ASYNC_READ', 'FUSE_POSIX_LOCKS', 'FUSE_FILE_OPS', 'FUSE_ATOMIC_O_TRUNC', 'FUSE_EXPORT_SUPPORT',
  'FUSE_BIG_WRITES', 'FUSE_DONT_MASK', 'FUSE_SPLICE_WRITE', 'FUSE_SPLICE_MOVE', 'FUSE_SPLICE_READ',
  'FUSE_FLOCK_LOCKS', 'FUSE_HAS_IOCTL_DIR', 'FUSE_AUTO_INVAL_DATA', 'FUSE_DO_READDIRPLUS',
  'FUSE_READDIRPLUS_AUTO', 'FUSE_ASYNC_DIO', 'FUSE_WRITEBACK_CACHE', 'FUSE_NO_OPEN_SUPPORT',
  'FUSE_PARALLEL_DIROPS', 'FUSE_HANDLE_KILLPRIV', 'FUSE_POSIX_ACL', 'FUSE_ABORT_ERROR', 'FUSE_MAX_PAGES',
  'FUSE_CACHE_SYMLINKS', 'FUSE_NO_OPENDIR_SUPPORT', 'FUSE_EXPLICIT_INVAL_DATA', 'FUSE_MAP_ALIGNMENT',
  'FUSE_SUBMOUNTS', 'FUSE_HANDLE_KILLPRIV_V2', 'FUSE_SETXATTR_EXT', 'FUSE_INIT_EXT', 'FUSE_INIT_RESERVED',
  'FATTR_MODE', 'FATTR_UID', 'FATTR_GID', 'FATTR_SIZE', 'FATTR_ATIME', 'FATTR_MTIME', 'FATTR_FH',
  'FATTR_ATIME_NOW', 'FATTR_MTIME_NOW', 'FATTR_LOCKOWNER', 'FATTR_CTIME', 'FATTR_KILL_SUIDGID',
  'FOPEN_DIRECT_IO', 'FOPEN_KEEP_CACHE', 'FOPEN_NONSEEKABLE', 'FOPEN_CACHE_DIR', 'FOPEN_STREAM',
  'FOPEN_NOFLUSH', 'FOPEN_PARALLEL_DIRECT_WRITES', 'FUSE_OPEN_KILL_SUIDGID', 'FUSE_RELEASE_FLUSH',
  'FUSE_RELEASE_FLOCK_UNLOCK', 'FUSE_GETATTR_FH', 'FUSE_LK_FLOCK', 'FUSE_WRITE_CACHE', 'FUSE_WRITE_LOCKOWNER',
  'FUSE_WRITE_KILL_SUIDGID', 'FUSE_READ_LOCKOWNER', 'FUSE_FSYNC_FDATASYNC', 'FUSE_ATTR_SUBMOUNT',
  'FUSE_ATTR_DAX', 'FUSE_SETXATTR_ACL_KILL_SGID', 'FUSE_EXPIRE_ONLY',
  'FUSE_NOTIFY_POLL', 'FUSE_NOTIFY_INVAL_INODE', 'FUSE_NOTIFY_INVAL_ENTRY', 'FUSE_NOTIFY_STORE',
  'FUSE_NOTIFY_RETRIEVE', 'FUSE_NOTIFY_DELETE',
  'FUSE_COMPAT_ENTRY_OUT_SIZE', 'FUSE_COMPAT_ATTR_OUT_SIZE', 'FUSE_COMPAT_MKNOD_IN_SIZE',
  'FUSE_COMPAT_WRITE_IN_SIZE', 'FUSE_COMPAT_STATFS_SIZE', 'FUSE_COMPAT_SETXATTR_IN_SIZE',
  'FUSE_COMPAT_INIT_OUT_SIZE', 'FUSE_COMPAT_22_INIT_OUT_SIZE',
  // libc headers, not fuse.h
  'FALLOC_FL_KEEP_SIZE', 'FALLOC_FL_PUNCH_HOLE', 'FALLOC_FL_COLLAPSE_RANGE', 'FALLOC_FL_ZERO_RANGE',
  'FALLOC_FL_INSERT_RANGE', 'FALLOC_FL_UNSHARE_RANGE', 'SEEK_SET', 'SEEK_CUR', 'SEEK_END', 'SEEK_DATA',
  'SEEK_HOLE', 'RENAME_NOREPLACE', 'RENAME_EXCHANGE', 'RENAME_WHITEOUT', 'XATTR_CREATE', 'XATTR_REPLACE',
  'S_IFMT', 'S_IFSOCK', 'S_IFLNK', 'S_IFREG', 'S_IFBLK', 'S_IFDIR', 'S_IFCHR', 'S_IFIFO', 'S_ISUID',
  'S_ISGID', 'S_ISVTX', 'DT_UNKNOWN', 'DT_FIFO', 'DT_CHR', 'DT_DIR', 'DT_BLK', 'DT_REG', 'DT_LNK',
  'DT_SOCK', 'DT_WHT',
]

/** Newer than the installed 7.38 header: pinned only once the header has them. */
const NEWER: Array<[string, string, Guard]> = [
  ['FUSE_STATX', 'FUSE_STATX', minor(39)],
  ['FUSE_COPY_FILE_RANGE_64', 'FUSE_COPY_FILE_RANGE_64', minor(45)],
  ['FUSE_NOTIFY_RESEND', 'FUSE_NOTIFY_RESEND', minor(40)],
  ['FUSE_NOTIFY_INC_EPOCH', 'FUSE_NOTIFY_INC_EPOCH', minor(44)],
  ['FUSE_NOTIFY_PRUNE', 'FUSE_NOTIFY_PRUNE', minor(45)],
  ['FOPEN_PASSTHROUGH', 'FOPEN_PASSTHROUGH', def('FOPEN_PASSTHROUGH')],
]

const FLAGS2 = [
  'FUSE_SECURITY_CTX', 'FUSE_HAS_INODE_DAX', 'FUSE_CREATE_SUPP_GROUP', 'FUSE_HAS_EXPIRE_ONLY',
  'FUSE_DIRECT_IO_ALLOW_MMAP', 'FUSE_PASSTHROUGH', 'FUSE_NO_EXPORT_SUPPORT', 'FUSE_HAS_RESEND',
  'FUSE_ALLOW_IDMAP', 'FUSE_OVER_IO_URING', 'FUSE_REQUEST_TIMEOUT',
]

const CONSTANTS: Array<[string, string, Guard?]> = [
  ...SAME_NAME.map((n): [string, string] => [n, n]),
  ...NEWER,
  // flags2 bits: the 64-bit kernel flag shifted down into its own word
  ...FLAGS2.map((n): [string, string, Guard] => [`${n}_FLAGS2`, `(${n} >> 32)`, def(n)]),
]

/* ---------------------------------------------------------- field specs */

type Kind = 'u16' | 'u32' | 'i32' | 'u64' | 'i64' | 'big'
const WIDTH: Record<Kind, number> = { u16: 2, u32: 4, i32: 4, u64: 8, i64: 8, big: 8 }
/** [C member, kind, fixed value for fields that are lengths or must agree] */
type Field = [string, Kind, number?]
interface Spec { struct: string, fields: Field[], guard?: Guard }
type Rec = Record<string, unknown>
interface DecodeSpec extends Spec { decode: (b: Uint8Array) => Rec, size?: number, prefix?: number[] }
interface EncodeSpec extends Spec { encode: (v: (f: string) => number) => Uint8Array }

const f32 = (...names: string[]): Field[] => names.map(n => [n, 'u32'])
const f64 = (...names: string[]): Field[] => names.map(n => [n, 'u64'])
const TRAILER = 4096 // zero bytes after each struct: empty names, room for small data

const DECODE: DecodeSpec[] = [
  { struct: 'fuse_in_header', decode: b => ({ ...dec.decodeInHeader(b) }), fields: [['len', 'u32', 40 + TRAILER], ...f32('opcode'), ...f64('unique', 'nodeid'), ...f32('uid', 'gid', 'pid'), ['total_extlen', 'u16', 2]] },
  { struct: 'fuse_init_in', decode: b => ({ ...dec.decodeInitIn(b) }), fields: f32('major', 'minor', 'max_readahead', 'flags', 'flags2') },
  { struct: 'fuse_forget_in', decode: b => ({ ...dec.decodeForgetIn(b) }), fields: f64('nlookup') },
  { struct: 'fuse_batch_forget_in', decode: b => ({ ...dec.decodeBatchForgetIn(b) }), fields: [['count', 'u32', 2]] },
  { struct: 'fuse_forget_one', prefix: [1, 0, 0, 0, 0, 0, 0, 0], decode: b => ({ ...dec.decodeBatchForgetIn(b).forgets[0] }), fields: f64('nodeid', 'nlookup') },
  { struct: 'fuse_getattr_in', decode: b => ({ ...dec.decodeGetattrIn(b) }), fields: [...f32('getattr_flags'), ...f64('fh')] },
  { struct: 'fuse_setattr_in', decode: b => ({ ...dec.decodeSetattrIn(b) }), fields: [...f32('valid'), ...f64('fh', 'size'), ['lock_owner', 'big'], ['atime', 'i64'], ['mtime', 'i64'], ['ctime', 'i64'], ...f32('atimensec', 'mtimensec', 'ctimensec', 'mode', 'uid', 'gid')] },
  { struct: 'fuse_mknod_in', decode: b => ({ ...dec.decodeMknodIn(b) }), fields: f32('mode', 'rdev', 'umask') },
  { struct: 'fuse_mkdir_in', decode: b => ({ ...dec.decodeMkdirIn(b) }), fields: f32('mode', 'umask') },
  { struct: 'fuse_rename_in', decode: b => ({ ...dec.decodeRenameIn(b) }), fields: f64('newdir') },
  { struct: 'fuse_rename2_in', decode: b => ({ ...dec.decodeRename2In(b) }), fields: [...f64('newdir'), ...f32('flags')] },
  { struct: 'fuse_link_in', decode: b => ({ ...dec.decodeLinkIn(b) }), fields: f64('oldnodeid') },
  { struct: 'fuse_open_in', decode: b => ({ ...dec.decodeOpenIn(b) }), fields: f32('flags', 'open_flags') },
  { struct: 'fuse_create_in', decode: b => ({ ...dec.decodeCreateIn(b) }), fields: f32('flags', 'mode', 'umask', 'open_flags') },
  { struct: 'fuse_read_in', decode: b => ({ ...dec.decodeReadIn(b) }), fields: [...f64('fh', 'offset'), ...f32('size', 'read_flags'), ['lock_owner', 'big'], ...f32('flags')] },
  { struct: 'fuse_write_in', decode: b => ({ ...dec.decodeWriteIn(b) }), fields: [...f64('fh', 'offset'), ['size', 'u32', 3], ...f32('write_flags'), ['lock_owner', 'big'], ...f32('flags')] },
  { struct: 'fuse_release_in', decode: b => ({ ...dec.decodeReleaseIn(b) }), fields: [...f64('fh'), ...f32('flags', 'release_flags'), ['lock_owner', 'big']] },
  { struct: 'fuse_flush_in', decode: b => ({ ...dec.decodeFlushIn(b) }), fields: [...f64('fh'), ['lock_owner', 'big']] },
  { struct: 'fuse_fsync_in', decode: b => ({ ...dec.decodeFsyncIn(b) }), fields: [...f64('fh'), ...f32('fsync_flags')] },
  { struct: 'fuse_setxattr_in', size: abi.FUSE_COMPAT_SETXATTR_IN_SIZE, decode: b => ({ ...dec.decodeSetxattrIn(b, { setxattrExt: false }) }), fields: [['size', 'u32', 3], ...f32('flags')] },
  { struct: 'fuse_setxattr_in', decode: b => ({ ...dec.decodeSetxattrIn(b, { setxattrExt: true }) }), fields: [['size', 'u32', 3], ...f32('flags', 'setxattr_flags')] },
  { struct: 'fuse_getxattr_in', decode: b => ({ ...dec.decodeGetxattrIn(b) }), fields: f32('size') },
  { struct: 'fuse_getxattr_in', decode: b => ({ ...dec.decodeListxattrIn(b) }), fields: f32('size') },
  { struct: 'fuse_access_in', decode: b => ({ ...dec.decodeAccessIn(b) }), fields: f32('mask') },
  { struct: 'fuse_interrupt_in', decode: b => ({ ...dec.decodeInterruptIn(b) }), fields: f64('unique') },
  { struct: 'fuse_fallocate_in', decode: b => ({ ...dec.decodeFallocateIn(b) }), fields: [...f64('fh', 'offset', 'length'), ...f32('mode')] },
  { struct: 'fuse_lseek_in', decode: b => ({ ...dec.decodeLseekIn(b) }), fields: [...f64('fh', 'offset'), ...f32('whence')] },
  { struct: 'fuse_copy_file_range_in', decode: b => ({ ...dec.decodeCopyFileRangeIn(b) }), fields: f64('fh_in', 'off_in', 'nodeid_out', 'fh_out', 'off_out', 'len', 'flags') },
  { struct: 'fuse_statx_in', guard: minor(39), decode: b => ({ ...dec.decodeStatxIn(b) }), fields: [...f32('getattr_flags'), ...f64('fh'), ...f32('sx_flags', 'sx_mask')] },
]

const ATTR_FIELDS: Field[] = [...f64('ino', 'size', 'blocks'), ['atime', 'i64'], ['mtime', 'i64'], ['ctime', 'i64'], ...f32('atimensec', 'mtimensec', 'ctimensec', 'mode', 'nlink', 'uid', 'gid', 'rdev', 'blksize', 'flags')]
const attrOf = (v: (f: string) => number, p: string): enc.Attr => ({
  ino: v(p + 'ino'), size: v(p + 'size'), blocks: v(p + 'blocks'), atime: v(p + 'atime'), mtime: v(p + 'mtime'), ctime: v(p + 'ctime'), atimensec: v(p + 'atimensec'), mtimensec: v(p + 'mtimensec'), ctimensec: v(p + 'ctimensec'), mode: v(p + 'mode'), nlink: v(p + 'nlink'), uid: v(p + 'uid'), gid: v(p + 'gid'), rdev: v(p + 'rdev'), blksize: v(p + 'blksize'), flags: v(p + 'flags'),
})
const entryOf = (v: (f: string) => number, p: string): enc.EntryOut => ({
  nodeid: v(p + 'nodeid'), generation: v(p + 'generation'), entry_valid: v(p + 'entry_valid'), attr_valid: v(p + 'attr_valid'), entry_valid_nsec: v(p + 'entry_valid_nsec'), attr_valid_nsec: v(p + 'attr_valid_nsec'), attr: attrOf(v, p + 'attr.'),
})
const prefixed = (p: string, fields: Field[]): Field[] => fields.map(([n, k, x]) => [p + n, k, x])
const PLUS_INO = 0x1234_5678_9a // entry_out.attr.ino doubles as dirent.ino
const body = (msg: Uint8Array): Uint8Array => msg.subarray(abi.OUT_HEADER_SIZE)

const ENCODE: EncodeSpec[] = [
  { struct: 'fuse_out_header', encode: v => enc.encodeOutHeader(v('len'), v('error'), v('unique')), fields: [...f32('len'), ['error', 'i32'], ...f64('unique')] },
  { struct: 'fuse_attr', encode: v => { const b = new Uint8Array(abi.ATTR_SIZE); enc.writeAttr(new DataView(b.buffer), 0, attrOf(v, '')); return b }, fields: ATTR_FIELDS },
  { struct: 'fuse_entry_out', encode: v => enc.encodeEntryOut(entryOf(v, '')), fields: [...f64('nodeid', 'generation', 'entry_valid', 'attr_valid'), ...f32('entry_valid_nsec', 'attr_valid_nsec'), ...prefixed('attr.', ATTR_FIELDS)] },
  { struct: 'fuse_attr_out', encode: v => enc.encodeAttrOut({ attr_valid: v('attr_valid'), attr_valid_nsec: v('attr_valid_nsec'), attr: attrOf(v, 'attr.') }), fields: [...f64('attr_valid'), ...f32('attr_valid_nsec'), ...prefixed('attr.', ATTR_FIELDS)] },
  { struct: 'fuse_open_out', encode: v => enc.encodeOpenOut({ fh: v('fh'), open_flags: v('open_flags') }), fields: [...f64('fh'), ...f32('open_flags')] },
  { struct: 'fuse_open_out', guard: minor(40), encode: v => enc.encodeOpenOut({ fh: 0, open_flags: 0, backing_id: v('backing_id') }), fields: [['backing_id', 'i32']] },
  { struct: 'fuse_init_out', encode: v => enc.encodeInitOut({ major: v('major'), minor: v('minor'), max_readahead: v('max_readahead'), flags: v('flags'), max_background: v('max_background'), congestion_threshold: v('congestion_threshold'), max_write: v('max_write'), time_gran: v('time_gran'), max_pages: v('max_pages'), map_alignment: v('map_alignment'), flags2: v('flags2'), max_stack_depth: 0 }), fields: [...f32('major', 'minor', 'max_readahead', 'flags'), ['max_background', 'u16'], ['congestion_threshold', 'u16'], ...f32('max_write', 'time_gran'), ['max_pages', 'u16'], ['map_alignment', 'u16'], ...f32('flags2')] },
  { struct: 'fuse_init_out', guard: minor(40), encode: v => enc.encodeInitOut({ major: 0, minor: 0, max_readahead: 0, flags: 0, max_background: 0, congestion_threshold: 0, max_write: 0, time_gran: 0, max_pages: 0, map_alignment: 0, flags2: 0, max_stack_depth: v('max_stack_depth') }), fields: f32('max_stack_depth') },
  { struct: 'fuse_init_out', guard: minor(43), encode: v => enc.encodeInitOut({ major: 0, minor: 0, max_readahead: 0, flags: 0, max_background: 0, congestion_threshold: 0, max_write: 0, time_gran: 0, max_pages: 0, map_alignment: 0, flags2: 0, max_stack_depth: 0, request_timeout: v('request_timeout') }), fields: [['request_timeout', 'u16']] },
  { struct: 'fuse_statfs_out', encode: v => enc.encodeStatfsOut({ blocks: v('st.blocks'), bfree: v('st.bfree'), bavail: v('st.bavail'), files: v('st.files'), ffree: v('st.ffree'), bsize: v('st.bsize'), namelen: v('st.namelen'), frsize: v('st.frsize') }), fields: [...f64('st.blocks', 'st.bfree', 'st.bavail', 'st.files', 'st.ffree'), ...f32('st.bsize', 'st.namelen', 'st.frsize')] },
  { struct: 'fuse_write_out', encode: v => enc.encodeWriteOut(v('size')), fields: f32('size') },
  { struct: 'fuse_getxattr_out', encode: v => enc.encodeGetxattrOut(v('size')), fields: f32('size') },
  { struct: 'fuse_lseek_out', encode: v => enc.encodeLseekOut(v('offset')), fields: f64('offset') },
  { struct: 'fuse_notify_inval_inode_out', encode: v => body(enc.encodeNotifyInvalInode(v('ino'), v('off'), v('len'))), fields: [...f64('ino'), ['off', 'i64'], ['len', 'i64']] },
  { struct: 'fuse_notify_inval_entry_out', encode: v => body(enc.encodeNotifyInvalEntry(v('parent'), 'x', v('flags'))), fields: [...f64('parent'), ['namelen', 'u32', 1], ...f32('flags')] },
  { struct: 'fuse_notify_delete_out', encode: v => body(enc.encodeNotifyDelete(v('parent'), v('child'), 'x')), fields: [...f64('parent', 'child'), ['namelen', 'u32', 1]] },
  { struct: 'fuse_dirent', encode: v => { const d = new enc.DirentWriter(64); d.add(v('ino'), v('off'), v('type'), 'x'); return d.finish() }, fields: [...f64('ino', 'off'), ['namelen', 'u32', 1], ...f32('type')] },
  { struct: 'fuse_direntplus', encode: v => { const d = new enc.DirentWriter(256); d.addPlus(entryOf(v, 'entry_out.'), v('dirent.off'), v('dirent.type'), 'x'); return d.finish() }, fields: [...f64('entry_out.nodeid', 'entry_out.generation'), ['entry_out.attr.ino', 'u64', PLUS_INO], ...f32('entry_out.attr.flags'), ['dirent.ino', 'u64', PLUS_INO], ...f64('dirent.off'), ['dirent.namelen', 'u32', 1], ...f32('dirent.type')] },
]

/* ------------------------------------------------------ values and bytes */

const u32Of = (i: number): number => (((0x41 + i) << 24) | ((0x61 + i) << 16) | ((0x21 + i) << 8) | (0x71 + i)) >>> 0
/** Distinct per field, every byte non-zero, above 2^32 where the slot allows it. */
function valueOf (kind: Kind, i: number): number | bigint {
  switch (kind) {
    case 'u16': return ((0x41 + i) << 8) | (0x61 + i)
    case 'u32': return u32Of(i)
    case 'i32': return -(0x01020304 + i)
    case 'u64': return (0x1000 + i) * 2 ** 32 + u32Of(i)
    case 'i64': return -((0x1000 + i) * 2 ** 32 + u32Of(i))
    case 'big': return (0xf1n << 56n) | (BigInt(0x1000 + i) << 32n) | BigInt(u32Of(i))
  }
}

function put (view: DataView, at: number, kind: Kind, v: number | bigint): void {
  if (kind === 'u16') view.setUint16(at, Number(v), true)
  else if (kind === 'u32') view.setUint32(at, Number(v), true)
  else if (kind === 'i32') view.setInt32(at, Number(v), true)
  else view.setBigUint64(at, BigInt.asUintN(64, BigInt(v)), true)
}

function get (view: DataView, at: number, kind: Kind): number | bigint {
  switch (kind) {
    case 'u16': return view.getUint16(at, true)
    case 'u32': return view.getUint32(at, true)
    case 'i32': return view.getInt32(at, true)
    case 'u64': return Number(view.getBigUint64(at, true))
    case 'i64': return Number(view.getBigInt64(at, true))
    case 'big': return view.getBigUint64(at, true)
  }
}

/* --------------------------------------------------------------- C side */

const key = (struct: string, field: string): string => `${struct}.${field}`

function cProgram (): string {
  const lines: string[] = []
  const guarded = (guard: Guard, line: string): void => {
    lines.push(...(guard === undefined ? [line] : [`#if ${guard}`, line, '#endif']))
  }
  for (const [name, expr, guard] of SIZES) guarded(guard, `printf("V ${name} %llu\\n", (unsigned long long)(${expr}));`)
  for (const [name, expr, guard] of CONSTANTS) guarded(guard, `printf("V ${name} %llu\\n", (unsigned long long)(unsigned int)(${expr}));`)
  const seen = new Set<string>()
  for (const s of [...DECODE, ...ENCODE]) {
    guarded(s.guard, `printf("S ${s.struct} %zu\\n", sizeof(struct ${s.struct}));`)
    for (const [field] of s.fields) {
      if (seen.has(key(s.struct, field))) continue
      seen.add(key(s.struct, field))
      guarded(s.guard, `printf("F ${key(s.struct, field)} %zu %zu\\n", offsetof(struct ${s.struct}, ${field}), sizeof(((struct ${s.struct} *)0)->${field}));`)
    }
  }
  return `#define _GNU_SOURCE
#include <stddef.h>
#include <stdio.h>
#include <unistd.h>
#include <fcntl.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <sys/ioctl.h>
#include <linux/fuse.h>
int main (void) {
  printf("V HEADER_MINOR %d\\n", FUSE_KERNEL_MINOR_VERSION);
  ${lines.join('\n  ')}
  return 0;
}
`
}

interface CFacts { values: Map<string, number>, sizes: Map<string, number>, fields: Map<string, [number, number]> }

function runC (dir: string): CFacts {
  writeFileSync(join(dir, 'abi.c'), cProgram())
  const cc = spawnSync('cc', ['-Wall', '-Werror', '-o', join(dir, 'abi'), join(dir, 'abi.c')], { encoding: 'utf8' })
  if (cc.status !== 0) throw new Error(`cc failed:\n${cc.stderr}`)
  const run = spawnSync(join(dir, 'abi'), { encoding: 'utf8' })
  if (run.status !== 0) throw new Error(`abi probe failed: ${run.stderr}`)
  const facts: CFacts = { values: new Map(), sizes: new Map(), fields: new Map() }
  for (const line of run.stdout.trim().split('\n')) {
    const [tag, name, a, b] = line.split(' ')
    if (tag === 'V') facts.values.set(name, Number(a))
    else if (tag === 'S') facts.sizes.set(name, Number(a))
    else facts.fields.set(name, [Number(a), Number(b)])
  }
  return facts
}

/* ------------------------------------------------------------------ tests */

const haveCc = spawnSync('cc', ['--version']).status === 0
if (!haveCc && process.env.CI) t.fail('cc is required in CI to pin the FUSE ABI against <linux/fuse.h>')

t.test('abi.ts against <linux/fuse.h>', { skip: haveCc ? false : 'cc not found: FUSE ABI not pinned' }, async t => {
  const dir = mkdtempSync(join(tmpdir(), 'objfs-abi-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const c = runC(dir)
  const headerMinor = c.values.get('HEADER_MINOR') ?? 0
  const unpinned: string[] = []
  const exported = abi as unknown as Record<string, unknown>
  /** A spec newer than the header (a whole struct, or fields that were padding) cannot be checked. */
  const inHeader = (s: Spec): boolean => s.fields.every(([f]) => c.fields.has(key(s.struct, f)))

  t.test('sizes and constants', async t => {
    for (const [name, , guard] of [...SIZES, ...CONSTANTS]) {
      const v = c.values.get(name)
      if (v === undefined && guard !== undefined) { unpinned.push(name); continue }
      t.equal(exported[name], v, name)
    }
    t.ok(abi.FUSE_KERNEL_MINOR_VERSION >= headerMinor, `we speak at least the header's 7.${headerMinor}`)
    const tabled = new Set([...SIZES, ...CONSTANTS].map(([n]) => n))
    const missing = Object.keys(abi).filter(n => typeof exported[n] === 'number' && !tabled.has(n) && n !== 'FUSE_KERNEL_MINOR_VERSION')
    t.same(missing, [], 'every numeric export of abi.ts is pinned here')
    t.comment(`installed header 7.${headerMinor}; not in it, so unpinned: ${unpinned.join(' ') || 'none'}`)
  })

  t.test('decoders read each field at its C offset', async t => {
    for (const s of DECODE) {
      const size = s.size ?? c.sizes.get(s.struct)
      if (size === undefined || !inHeader(s)) { t.ok(s.guard, `${s.struct} absent only when guarded`); continue }
      const pre = s.prefix ?? []
      const buf = new Uint8Array(pre.length + size + TRAILER)
      buf.set(pre)
      buf.fill(0xee, pre.length, pre.length + size) // padding is junk the decoder must ignore
      const view = new DataView(buf.buffer)
      const want: Rec = {}
      s.fields.forEach(([field, kind, fixed], i) => {
        const [off, width] = c.fields.get(key(s.struct, field)) ?? [NaN, NaN]
        t.equal(width, WIDTH[kind], `${s.struct}.${field} width`)
        want[field] = fixed ?? valueOf(kind, i)
        put(view, pre.length + off, kind, want[field] as number | bigint)
      })
      t.hasStrict(s.decode(buf), want, s.struct)
    }
  })

  t.test('encoders write each field at its C offset, zeros elsewhere', async t => {
    for (const s of ENCODE) {
      const size = c.sizes.get(s.struct)
      if (size === undefined || !inHeader(s)) { t.ok(s.guard, `${s.struct} absent only when guarded`); continue }
      const values = new Map(s.fields.map(([field, kind, fixed], i) => [field, fixed ?? Number(valueOf(kind, i))]))
      const out = s.encode(f => values.get(f) ?? 0)
      const view = new DataView(out.buffer, out.byteOffset, out.byteLength)
      const covered = new Uint8Array(out.length)
      for (const [field, kind] of s.fields) {
        const [off, width] = c.fields.get(key(s.struct, field)) ?? [NaN, NaN]
        t.equal(width, WIDTH[kind], `${s.struct}.${field} width`)
        t.equal(get(view, off, kind), values.get(field), `${s.struct}.${field} at ${off}`)
        covered.fill(1, off, off + width)
      }
      const stray = [...out.subarray(0, size)].findIndex((b, i) => b !== 0 && covered[i] === 0)
      t.equal(stray, -1, `${s.struct}: no stray bytes outside the fields`)
    }
  })

  t.test('modeToDirentType maps each S_IF* to its DT_*', async t => {
    for (const m of ['S_IFSOCK', 'S_IFLNK', 'S_IFREG', 'S_IFBLK', 'S_IFDIR', 'S_IFCHR', 'S_IFIFO'] as const) {
      const dt = Object.entries(abi).find(([n, v]) => n.startsWith('DT_') && v === abi.modeToDirentType(abi[m] | 0o4755))
      t.equal(dt?.[0], `DT_${m.slice(4)}`.replace('DT_IFO', 'DT_FIFO'), m)
    }
  })
})
