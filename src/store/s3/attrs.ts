// POSIX attributes in S3 user metadata, the way s3fs and rclone keep them:
//
//   x-amz-meta-mode   st_mode with type bits, decimal (a leading 0 means octal, as s3fs reads it)
//   x-amz-meta-uid    x-amz-meta-gid   decimal
//   x-amz-meta-mtime  x-amz-meta-atime x-amz-meta-ctime
//                     seconds, or "seconds.fraction": s3fs writes nine digits
//                     of nanoseconds, rclone a decimal fraction; both read the same
//   x-amz-meta-rdev   device number of character and block special files
//   x-amz-meta-xattr  URL-encoded JSON object, name -> base64 value (s3fs)
//
// An object without them (written by another tool) gets the mount's
// defaults and its Last-Modified time.
import { constants } from 'node:fs'
import type { ObjectAttr, Timespec } from '../types.ts'
import type { S3Options } from './options.ts'
import { timespecOf as timeOf } from '../../time.ts'

export const { S_IFMT, S_IFREG, S_IFDIR, S_IFLNK, S_IFIFO, S_IFSOCK, S_IFCHR, S_IFBLK } = constants

export type Metadata = Record<string, string>

/** S3 (AWS) caps user metadata at 2 KiB; beyond it a PUT fails. */
export const METADATA_MAX = 2048

export function formatTime (t: Timespec): string {
  return t.nsec === 0 ? String(t.sec) : `${t.sec}.${String(t.nsec).padStart(9, '0')}`
}

export function parseTime (text: string | undefined): Timespec | undefined {
  if (text === undefined) return undefined
  const m = /^\s*(-?\d+)(?:\.(\d+))?\s*$/.exec(text)
  if (m === null) return undefined
  const sec = Number(m[1])
  if (!Number.isSafeInteger(sec)) return undefined
  const frac = (m[2] ?? '').slice(0, 9).padEnd(9, '0')
  return { sec, nsec: Number(frac) }
}

function parseNumber (text: string | undefined): number | undefined {
  if (text === undefined || !/^\s*\d+\s*$/.test(text)) return undefined
  const t = text.trim()
  // s3fs reads modes with strtol base 0: "0100644" is octal.
  return t.length > 1 && t.startsWith('0') ? parseInt(t, 8) : Number(t)
}

interface Described {
  kind: 'file' | 'dir'
  size: number
  /** Last-Modified, ms since the epoch. */
  lastModified: number
  metadata: Metadata | undefined
}

/** Attributes from what a HEAD or a listing said of an object; `ino` and `nlink` are the caller's. */
export function attrOf (id: string, ino: number, nlink: number, d: Described, o: S3Options): ObjectAttr {
  const m = d.metadata ?? {}
  const type = d.kind === 'dir' ? S_IFDIR : S_IFREG
  let mode = parseNumber(m.mode)
  if (mode === undefined) mode = type | (d.kind === 'dir' ? o.dirMode : o.fileMode)
  // A directory marker is a directory whatever its metadata says; a file
  // keeps special types (symlinks, fifos) but never claims to be a directory.
  if (d.kind === 'dir') mode = S_IFDIR | (mode & 0o7777)
  else if ((mode & S_IFMT) === 0 || (mode & S_IFMT) === S_IFDIR) mode = S_IFREG | (mode & 0o7777)
  const modified = timeOf(d.lastModified)
  const mtime = parseTime(m.mtime) ?? modified
  return {
    id: id as ObjectAttr['id'],
    ino,
    mode,
    nlink,
    uid: parseNumber(m.uid) ?? o.uid,
    gid: parseNumber(m.gid) ?? o.gid,
    size: d.kind === 'dir' ? 0 : d.size,
    rdev: parseNumber(m.rdev) ?? 0,
    atime: parseTime(m.atime) ?? mtime,
    mtime,
    ctime: parseTime(m.ctime) ?? mtime,
  }
}

/** The metadata to store with an object. */
export function metadataOf (a: ObjectAttr, xattrs: ReadonlyMap<string, Uint8Array>): Metadata {
  const m: Metadata = {
    mode: String(a.mode),
    uid: String(a.uid),
    gid: String(a.gid),
    mtime: formatTime(a.mtime),
    atime: formatTime(a.atime),
    ctime: formatTime(a.ctime),
  }
  if (a.rdev !== 0) m.rdev = String(a.rdev)
  if (xattrs.size > 0) m.xattr = formatXattrs(xattrs)
  return m
}

/** Bytes the metadata takes against S3's 2 KiB limit (names and values). */
export const metadataBytes = (m: Metadata): number =>
  Object.entries(m).reduce((n, [k, v]) => n + Buffer.byteLength(`x-amz-meta-${k}`) + Buffer.byteLength(v), 0)

export function formatXattrs (x: ReadonlyMap<string, Uint8Array>): string {
  const o: Record<string, string> = {}
  for (const [k, v] of x) o[k] = Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64')
  return encodeURIComponent(JSON.stringify(o))
}

export function parseXattrs (text: string | undefined): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>()
  if (text === undefined || text === '') return out
  try {
    const o = JSON.parse(decodeURIComponent(text)) as unknown
    if (typeof o !== 'object' || o === null) return out
    for (const [k, v] of Object.entries(o)) if (typeof v === 'string') out.set(k, new Uint8Array(Buffer.from(v, 'base64')))
  } catch {
    // Unreadable xattrs from some other tool: shown as none rather than failing the file.
  }
  return out
}
