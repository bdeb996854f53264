// One `objects` row and its conversion to the contract's ObjectAttr; the
// small checks every operation shares (type bits, names, the clock).
import { constants as fsc } from 'node:fs'
import { FsError, errno as E } from '../../errors.ts'
import type { ObjectAttr, ObjectId } from '../types.ts'

export const { S_IFMT, S_IFREG, S_IFDIR, S_IFLNK, S_IFIFO, S_IFSOCK, S_IFCHR, S_IFBLK } = fsc

/** Column names match the DDL in schema.ts. */
export interface ObjectRow {
  id: string
  ino: number
  mode: number
  nlink: number
  uid: number
  gid: number
  size: number
  rdev: number
  atime_s: number
  atime_ns: number
  mtime_s: number
  mtime_ns: number
  ctime_s: number
  ctime_ns: number
  target: string | null
  /** Bytes the object's block rows hold (format 6): read, never written by a statement (schema.ts). */
  stored: number
}

/** An object row read as an array (statements.ts), its columns from `at` on in OBJECT_COLUMNS order. */
export function rowOf (a: unknown[], at = 0): ObjectRow {
  const [id, ino, mode, nlink, uid, gid, size, rdev, atime_s, atime_ns, mtime_s, mtime_ns, ctime_s, ctime_ns, target, stored] = at === 0 ? a : a.slice(at)
  return { id, ino, mode, nlink, uid, gid, size, rdev, atime_s, atime_ns, mtime_s, mtime_ns, ctime_s, ctime_ns, target, stored } as ObjectRow
}

export const toAttr = (r: ObjectRow): ObjectAttr => ({
  id: r.id as ObjectId,
  ino: r.ino,
  mode: r.mode,
  nlink: r.nlink,
  uid: r.uid,
  gid: r.gid,
  size: r.size,
  rdev: r.rdev,
  atime: { sec: r.atime_s, nsec: r.atime_ns },
  mtime: { sec: r.mtime_s, nsec: r.mtime_ns },
  ctime: { sec: r.ctime_s, nsec: r.ctime_ns },
  stored: r.stored,
})

export const isDir = (mode: number): boolean => (mode & S_IFMT) === S_IFDIR
export const isReg = (mode: number): boolean => (mode & S_IFMT) === S_IFREG

const creatable = new Set([S_IFREG, S_IFDIR, S_IFLNK, S_IFIFO, S_IFSOCK, S_IFCHR, S_IFBLK])
export const isCreatableType = (mode: number): boolean => creatable.has(mode & S_IFMT)

/** NAME_MAX of Linux, counted in bytes as the kernel does. */
export const NAME_MAX = 255
/** PATH_MAX including the terminating NUL, the bound on a symlink target. */
export const PATH_MAX = 4096

/**
 * A name that may become a directory entry. "." and ".." are the kernel's
 * own and never stored; '/' and NUL cannot occur in a component.
 */
export function checkName (name: string): void {
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) {
    throw new FsError(E.EINVAL, `invalid name '${name}'`)
  }
  if (Buffer.byteLength(name, 'utf8') > NAME_MAX) throw new FsError(E.ENAMETOOLONG)
}

/** Integers the caller hands in (indexes, sizes, offsets): NaN or fractions are bugs upstream. */
export function checkCount (n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new FsError(E.EINVAL, `${what} must be a non-negative integer, got ${n}`)
}
