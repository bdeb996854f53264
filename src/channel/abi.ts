// Kernel ABI of /dev/fuse: constants, opcodes and struct sizes, spelled as in
// <linux/fuse.h> so every name greps against the header. Values only: the
// codec (decode.ts, encode.ts) owns layouts, test/unit/abi-sizes.test.ts pins
// both against the installed header with a C compiler.
//
// The installed header is 7.38; the running kernels speak up to 7.45. Names
// marked "7.39+" are not in the installed header and were taken from the
// upstream uapi header; the abi-sizes test checks them once the header has them.

/* ---------------------------------------------------------------- versions */

export const FUSE_KERNEL_VERSION = 7
/**
 * The minor we announce. Every struct this codec reads or writes has the same
 * size from 7.38 to 7.45: 7.39..7.45 only renamed padding (open_out.backing_id,
 * init_out.max_stack_depth / request_timeout) and added new structs.
 */
export const FUSE_KERNEL_MINOR_VERSION = 45
export const FUSE_ROOT_ID = 1

/* ----------------------------------------------------------------- opcodes */

export const FUSE_LOOKUP = 1
export const FUSE_FORGET = 2 // no reply
export const FUSE_GETATTR = 3
export const FUSE_SETATTR = 4
export const FUSE_READLINK = 5
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
export const FUSE_STATFS = 17
export const FUSE_RELEASE = 18
export const FUSE_FSYNC = 20
export const FUSE_SETXATTR = 21
export const FUSE_GETXATTR = 22
export const FUSE_LISTXATTR = 23
export const FUSE_REMOVEXATTR = 24
export const FUSE_FLUSH = 25
export const FUSE_INIT = 26
export const FUSE_OPENDIR = 27
export const FUSE_READDIR = 28
export const FUSE_RELEASEDIR = 29
export const FUSE_FSYNCDIR = 30
export const FUSE_GETLK = 31
export const FUSE_SETLK = 32
export const FUSE_SETLKW = 33
export const FUSE_ACCESS = 34
export const FUSE_CREATE = 35
export const FUSE_INTERRUPT = 36
export const FUSE_BMAP = 37
export const FUSE_DESTROY = 38
export const FUSE_IOCTL = 39
export const FUSE_POLL = 40
export const FUSE_NOTIFY_REPLY = 41
export const FUSE_BATCH_FORGET = 42 // no reply
export const FUSE_FALLOCATE = 43
export const FUSE_READDIRPLUS = 44
export const FUSE_RENAME2 = 45
export const FUSE_LSEEK = 46
export const FUSE_COPY_FILE_RANGE = 47
export const FUSE_SETUPMAPPING = 48
export const FUSE_REMOVEMAPPING = 49
export const FUSE_SYNCFS = 50
export const FUSE_TMPFILE = 51
export const FUSE_STATX = 52 // 7.39+
export const FUSE_COPY_FILE_RANGE_64 = 53 // 7.45+
export const CUSE_INIT = 4096

const OPCODE_NAMES: ReadonlyMap<number, string> = new Map([
  [FUSE_LOOKUP, 'LOOKUP'], [FUSE_FORGET, 'FORGET'], [FUSE_GETATTR, 'GETATTR'],
  [FUSE_SETATTR, 'SETATTR'], [FUSE_READLINK, 'READLINK'], [FUSE_SYMLINK, 'SYMLINK'],
  [FUSE_MKNOD, 'MKNOD'], [FUSE_MKDIR, 'MKDIR'], [FUSE_UNLINK, 'UNLINK'],
  [FUSE_RMDIR, 'RMDIR'], [FUSE_RENAME, 'RENAME'], [FUSE_LINK, 'LINK'],
  [FUSE_OPEN, 'OPEN'], [FUSE_READ, 'READ'], [FUSE_WRITE, 'WRITE'],
  [FUSE_STATFS, 'STATFS'], [FUSE_RELEASE, 'RELEASE'], [FUSE_FSYNC, 'FSYNC'],
  [FUSE_SETXATTR, 'SETXATTR'], [FUSE_GETXATTR, 'GETXATTR'], [FUSE_LISTXATTR, 'LISTXATTR'],
  [FUSE_REMOVEXATTR, 'REMOVEXATTR'], [FUSE_FLUSH, 'FLUSH'], [FUSE_INIT, 'INIT'],
  [FUSE_OPENDIR, 'OPENDIR'], [FUSE_READDIR, 'READDIR'], [FUSE_RELEASEDIR, 'RELEASEDIR'],
  [FUSE_FSYNCDIR, 'FSYNCDIR'], [FUSE_GETLK, 'GETLK'], [FUSE_SETLK, 'SETLK'],
  [FUSE_SETLKW, 'SETLKW'], [FUSE_ACCESS, 'ACCESS'], [FUSE_CREATE, 'CREATE'],
  [FUSE_INTERRUPT, 'INTERRUPT'], [FUSE_BMAP, 'BMAP'], [FUSE_DESTROY, 'DESTROY'],
  [FUSE_IOCTL, 'IOCTL'], [FUSE_POLL, 'POLL'], [FUSE_NOTIFY_REPLY, 'NOTIFY_REPLY'],
  [FUSE_BATCH_FORGET, 'BATCH_FORGET'], [FUSE_FALLOCATE, 'FALLOCATE'],
  [FUSE_READDIRPLUS, 'READDIRPLUS'], [FUSE_RENAME2, 'RENAME2'], [FUSE_LSEEK, 'LSEEK'],
  [FUSE_COPY_FILE_RANGE, 'COPY_FILE_RANGE'], [FUSE_SETUPMAPPING, 'SETUPMAPPING'],
  [FUSE_REMOVEMAPPING, 'REMOVEMAPPING'], [FUSE_SYNCFS, 'SYNCFS'], [FUSE_TMPFILE, 'TMPFILE'],
  [FUSE_STATX, 'STATX'], [FUSE_COPY_FILE_RANGE_64, 'COPY_FILE_RANGE_64'], [CUSE_INIT, 'CUSE_INIT'],
])

/** libfuse-style name for logs ('LOOKUP'); unknown opcodes stay visible as numbers. */
export function opcodeName (op: number): string {
  return OPCODE_NAMES.get(op) ?? `OPCODE_${op}`
}

/* ------------------------------------------------- INIT flags (init.flags) */

export const FUSE_ASYNC_READ = 1 << 0
export const FUSE_POSIX_LOCKS = 1 << 1
export const FUSE_FILE_OPS = 1 << 2
export const FUSE_ATOMIC_O_TRUNC = 1 << 3
export const FUSE_EXPORT_SUPPORT = 1 << 4
export const FUSE_BIG_WRITES = 1 << 5
export const FUSE_DONT_MASK = 1 << 6
export const FUSE_SPLICE_WRITE = 1 << 7
export const FUSE_SPLICE_MOVE = 1 << 8
export const FUSE_SPLICE_READ = 1 << 9
export const FUSE_FLOCK_LOCKS = 1 << 10
export const FUSE_HAS_IOCTL_DIR = 1 << 11
export const FUSE_AUTO_INVAL_DATA = 1 << 12
export const FUSE_DO_READDIRPLUS = 1 << 13
export const FUSE_READDIRPLUS_AUTO = 1 << 14
export const FUSE_ASYNC_DIO = 1 << 15
export const FUSE_WRITEBACK_CACHE = 1 << 16
export const FUSE_NO_OPEN_SUPPORT = 1 << 17
export const FUSE_PARALLEL_DIROPS = 1 << 18
export const FUSE_HANDLE_KILLPRIV = 1 << 19
export const FUSE_POSIX_ACL = 1 << 20
export const FUSE_ABORT_ERROR = 1 << 21
export const FUSE_MAX_PAGES = 1 << 22
export const FUSE_CACHE_SYMLINKS = 1 << 23
export const FUSE_NO_OPENDIR_SUPPORT = 1 << 24
export const FUSE_EXPLICIT_INVAL_DATA = 1 << 25
export const FUSE_MAP_ALIGNMENT = 1 << 26
export const FUSE_SUBMOUNTS = 1 << 27
export const FUSE_HANDLE_KILLPRIV_V2 = 1 << 28
export const FUSE_SETXATTR_EXT = 1 << 29
export const FUSE_INIT_EXT = 1 << 30
/** Reserved, never set. Written as an unsigned literal: `1 << 31` is negative in JS. */
export const FUSE_INIT_RESERVED = 0x80000000

/* ----------------------------------------------- INIT flags (init.flags2) */
// The kernel numbers these 1ULL<<32 and up; on the wire they are bits 0..31
// of the separate flags2 word, and a JS bitwise op cannot hold bit 32. The
// _FLAGS2 suffix marks "bit value within flags2": never OR these into flags.

export const FUSE_SECURITY_CTX_FLAGS2 = 1 << 0 // FUSE_SECURITY_CTX (1ULL << 32)
export const FUSE_HAS_INODE_DAX_FLAGS2 = 1 << 1 // FUSE_HAS_INODE_DAX (1ULL << 33)
export const FUSE_CREATE_SUPP_GROUP_FLAGS2 = 1 << 2 // 7.39+ (1ULL << 34)
export const FUSE_HAS_EXPIRE_ONLY_FLAGS2 = 1 << 3 // FUSE_HAS_EXPIRE_ONLY (1ULL << 35)
export const FUSE_DIRECT_IO_ALLOW_MMAP_FLAGS2 = 1 << 4 // 7.39+ (1ULL << 36)
export const FUSE_PASSTHROUGH_FLAGS2 = 1 << 5 // 7.40+ (1ULL << 37)
export const FUSE_NO_EXPORT_SUPPORT_FLAGS2 = 1 << 6 // 7.40+ (1ULL << 38)
export const FUSE_HAS_RESEND_FLAGS2 = 1 << 7 // 7.40+ (1ULL << 39)
export const FUSE_ALLOW_IDMAP_FLAGS2 = 1 << 8 // 7.41+ (1ULL << 40)
export const FUSE_OVER_IO_URING_FLAGS2 = 1 << 9 // 7.42+ (1ULL << 41)
export const FUSE_REQUEST_TIMEOUT_FLAGS2 = 1 << 10 // 7.43+ (1ULL << 42)

/* -------------------------------------------------- per-request flag words */

// fuse_setattr_in.valid
export const FATTR_MODE = 1 << 0
export const FATTR_UID = 1 << 1
export const FATTR_GID = 1 << 2
export const FATTR_SIZE = 1 << 3
export const FATTR_ATIME = 1 << 4
export const FATTR_MTIME = 1 << 5
export const FATTR_FH = 1 << 6
export const FATTR_ATIME_NOW = 1 << 7
export const FATTR_MTIME_NOW = 1 << 8
export const FATTR_LOCKOWNER = 1 << 9
export const FATTR_CTIME = 1 << 10
export const FATTR_KILL_SUIDGID = 1 << 11

// fuse_open_out.open_flags
export const FOPEN_DIRECT_IO = 1 << 0
export const FOPEN_KEEP_CACHE = 1 << 1
export const FOPEN_NONSEEKABLE = 1 << 2
export const FOPEN_CACHE_DIR = 1 << 3
export const FOPEN_STREAM = 1 << 4
export const FOPEN_NOFLUSH = 1 << 5
export const FOPEN_PARALLEL_DIRECT_WRITES = 1 << 6
export const FOPEN_PASSTHROUGH = 1 << 7 // 7.40+

export const FUSE_OPEN_KILL_SUIDGID = 1 << 0 // fuse_open_in.open_flags
export const FUSE_RELEASE_FLUSH = 1 << 0
export const FUSE_RELEASE_FLOCK_UNLOCK = 1 << 1
export const FUSE_GETATTR_FH = 1 << 0
export const FUSE_LK_FLOCK = 1 << 0
export const FUSE_WRITE_CACHE = 1 << 0
export const FUSE_WRITE_LOCKOWNER = 1 << 1
export const FUSE_WRITE_KILL_SUIDGID = 1 << 2
export const FUSE_READ_LOCKOWNER = 1 << 1
export const FUSE_FSYNC_FDATASYNC = 1 << 0
export const FUSE_ATTR_SUBMOUNT = 1 << 0 // fuse_attr.flags
export const FUSE_ATTR_DAX = 1 << 1
export const FUSE_SETXATTR_ACL_KILL_SGID = 1 << 0
export const FUSE_EXPIRE_ONLY = 1 << 0 // fuse_notify_inval_entry_out.flags

/* ------------------------------------------------------------ notify codes */
// Sent as fuse_out_header.error with unique 0.

export const FUSE_NOTIFY_POLL = 1
export const FUSE_NOTIFY_INVAL_INODE = 2
export const FUSE_NOTIFY_INVAL_ENTRY = 3
export const FUSE_NOTIFY_STORE = 4
export const FUSE_NOTIFY_RETRIEVE = 5
export const FUSE_NOTIFY_DELETE = 6
export const FUSE_NOTIFY_RESEND = 7 // 7.40+
export const FUSE_NOTIFY_INC_EPOCH = 8 // 7.44+
export const FUSE_NOTIFY_PRUNE = 9 // 7.45+

/* ---------------------------------------------------- resent requests */

/**
 * 7.40: after FUSE_NOTIFY_RESEND the kernel queues again every request a
 * daemon read but never answered, with this bit set in fuse_in_header.unique
 * (and in fuse_interrupt_in.unique naming one). The reply must carry it too:
 * the kernel finds the request by the whole value. New uniques never have it
 * (fs/fuse/dev.c masks it out of the counter). decode.ts maps it to a
 * negative unique, encode.ts back.
 */
export const FUSE_UNIQUE_RESEND = 1n << 63n

/* ------------------------------------------------------------- misc limits */

/** A read() of /dev/fuse with a smaller buffer fails with EINVAL. */
export const FUSE_MIN_READ_BUFFER = 8192
export const FUSE_MAX_NR_SECCTX = 31
/** _IOR(229, 0, uint32_t): clone a /dev/fuse fd onto the same connection. */
export const FUSE_DEV_IOC_CLONE = 0x8004e500

/* ------------------------------------------------- struct sizes (bytes) */

export const IN_HEADER_SIZE = 40
export const OUT_HEADER_SIZE = 16
export const ATTR_SIZE = 88
export const KSTATFS_SIZE = 80
export const ENTRY_OUT_SIZE = 128
export const ATTR_OUT_SIZE = 104
export const FORGET_IN_SIZE = 8
export const FORGET_ONE_SIZE = 16
export const BATCH_FORGET_IN_SIZE = 8
export const GETATTR_IN_SIZE = 16
export const SETATTR_IN_SIZE = 88
export const MKNOD_IN_SIZE = 16
export const MKDIR_IN_SIZE = 8
export const RENAME_IN_SIZE = 8
export const RENAME2_IN_SIZE = 16
export const LINK_IN_SIZE = 8
export const OPEN_IN_SIZE = 8
export const CREATE_IN_SIZE = 16
export const OPEN_OUT_SIZE = 16
export const CREATE_OUT_SIZE = ENTRY_OUT_SIZE + OPEN_OUT_SIZE // entry_out then open_out
export const RELEASE_IN_SIZE = 24
export const FLUSH_IN_SIZE = 24
export const READ_IN_SIZE = 40
export const WRITE_IN_SIZE = 40
export const WRITE_OUT_SIZE = 8
export const STATFS_OUT_SIZE = 80
export const FSYNC_IN_SIZE = 16
export const SETXATTR_IN_SIZE = 16 // with FUSE_SETXATTR_EXT (negotiated with -o acl)
export const GETXATTR_IN_SIZE = 8
export const GETXATTR_OUT_SIZE = 8
export const ACCESS_IN_SIZE = 8
export const INIT_IN_SIZE = 64
export const INIT_OUT_SIZE = 64
export const INTERRUPT_IN_SIZE = 8
export const FALLOCATE_IN_SIZE = 32
export const LSEEK_IN_SIZE = 24
export const LSEEK_OUT_SIZE = 8
export const COPY_FILE_RANGE_IN_SIZE = 56
export const STATX_IN_SIZE = 24 // 7.39+
export const NOTIFY_INVAL_INODE_OUT_SIZE = 24
export const NOTIFY_INVAL_ENTRY_OUT_SIZE = 16
export const NOTIFY_DELETE_OUT_SIZE = 24
/** offsetof(struct fuse_dirent, name): the fixed part of a READDIR record. */
export const FUSE_NAME_OFFSET = 24
/** offsetof(struct fuse_direntplus, dirent.name): entry_out + dirent header. */
export const FUSE_NAME_OFFSET_DIRENTPLUS = 152
export const DIRENT_HEADER_SIZE = FUSE_NAME_OFFSET
export const DIRENTPLUS_HEADER_SIZE = FUSE_NAME_OFFSET_DIRENTPLUS

// Older, shorter forms of structs that grew.
export const FUSE_COMPAT_ENTRY_OUT_SIZE = 120
export const FUSE_COMPAT_ATTR_OUT_SIZE = 96
export const FUSE_COMPAT_MKNOD_IN_SIZE = 8
export const FUSE_COMPAT_WRITE_IN_SIZE = 24
export const FUSE_COMPAT_STATFS_SIZE = 48
/** setxattr_in {size, flags}: what the kernel sends without FUSE_SETXATTR_EXT. */
export const FUSE_COMPAT_SETXATTR_IN_SIZE = 8
export const FUSE_COMPAT_INIT_OUT_SIZE = 8
export const FUSE_COMPAT_22_INIT_OUT_SIZE = 24
/** init_in before 7.36 {major, minor, max_readahead, flags}: no kernel macro names it. */
export const COMPAT_INIT_IN_SIZE = 16

/** FUSE_REC_ALIGN: dirent records start on 8-byte boundaries. */
export const fuseRecAlign = (n: number): number => (n + 7) & ~7

/* ------------------------------------------ VFS constants the ops decode */

export const FALLOC_FL_KEEP_SIZE = 0x01
export const FALLOC_FL_PUNCH_HOLE = 0x02
export const FALLOC_FL_COLLAPSE_RANGE = 0x08
export const FALLOC_FL_ZERO_RANGE = 0x10
export const FALLOC_FL_INSERT_RANGE = 0x20
export const FALLOC_FL_UNSHARE_RANGE = 0x40

export const SEEK_SET = 0
export const SEEK_CUR = 1
export const SEEK_END = 2
export const SEEK_DATA = 3
export const SEEK_HOLE = 4

export const RENAME_NOREPLACE = 1 << 0
export const RENAME_EXCHANGE = 1 << 1
export const RENAME_WHITEOUT = 1 << 2

export const XATTR_CREATE = 1
export const XATTR_REPLACE = 2

export const S_IFMT = 0o170000
export const S_IFSOCK = 0o140000
export const S_IFLNK = 0o120000
export const S_IFREG = 0o100000
export const S_IFBLK = 0o060000
export const S_IFDIR = 0o040000
export const S_IFCHR = 0o020000
export const S_IFIFO = 0o010000
export const S_ISUID = 0o4000
export const S_ISGID = 0o2000
export const S_ISVTX = 0o1000

export const DT_UNKNOWN = 0
export const DT_FIFO = 1
export const DT_CHR = 2
export const DT_DIR = 4
export const DT_BLK = 6
export const DT_REG = 8
export const DT_LNK = 10
export const DT_SOCK = 12
export const DT_WHT = 14

/**
 * The dirent type for a st_mode. DT_* is the file-type nibble of S_IFMT by
 * construction (the kernel's own S_DT()), so this is a shift, not a table.
 */
export function modeToDirentType (mode: number): number {
  return (mode & S_IFMT) >>> 12
}
