// Object ids and S3 keys.
//
// An ObjectId is the object's key relative to the bucket. Directories are
// prefixes and their ids end with '/' ("a/b/"), files do not ("a/b/c.txt"),
// so a file and a directory of the same name never share an id. The mount
// root is the mount prefix: "" for a whole bucket, "photos/" for
// s3://bucket/photos. A directory's marker object, when it has one, is the
// key equal to its id ("a/b/").
import { createHash } from 'node:crypto'
import { FsError, errno as E } from '../../errors.ts'

/** NAME_MAX, counted in bytes as the kernel counts it. */
export const NAME_MAX = 255
/** S3's limit on a key, in UTF-8 bytes. */
export const KEY_MAX = 1024

/**
 * Ids of files that lost their name while all their content was staged
 * here (names.ts): no key, so no name resolves to one and nothing under it
 * reaches S3 (NUL is in no name). Not a directory id: no trailing '/'.
 */
const UNLINKED = '\0unlinked-'
/** `tag` keeps the ids of one process apart from those a predecessor gave the kernel (the keeper's takeover). */
export const unlinkedId = (tag: string, n: number): string => `${UNLINKED}${tag}-${n}`
export const isUnlinkedId = (id: string): boolean => id.startsWith(UNLINKED)

/** A directory id (the root "" included). */
export const isDirId = (id: string): boolean => id === '' || id.endsWith('/')

/** The key of child `name` of directory `parent`, without a trailing slash. */
export function childKey (parent: string, name: string): string {
  if (!isDirId(parent)) throw new FsError(E.ENOTDIR)
  checkName(name)
  const key = parent + name
  // A directory's marker adds one byte.
  if (Buffer.byteLength(key) + 1 > KEY_MAX) throw new FsError(E.ENAMETOOLONG, 'the S3 key would exceed 1024 bytes')
  return key
}

export function checkName (name: string): void {
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) throw new FsError(E.EINVAL, `invalid name '${name}'`)
  if (Buffer.byteLength(name) > NAME_MAX) throw new FsError(E.ENAMETOOLONG)
}

/** "a/b/c" and "a/b/c/" -> "c". */
export function nameOf (id: string): string {
  const bare = id.endsWith('/') ? id.slice(0, -1) : id
  return bare.slice(bare.lastIndexOf('/') + 1)
}

/** "a/b/c" and "a/b/c/" -> "a/b/". */
export function parentOf (id: string): string {
  const bare = id.endsWith('/') ? id.slice(0, -1) : id
  return bare.slice(0, bare.lastIndexOf('/') + 1)
}

/**
 * st_ino: 53 bits of a hash of bucket and key, stable for as long as the
 * key exists (a rename changes it, as it changes the id). 0 and 1 are never
 * produced: 1 is the root's.
 */
export function inoOf (bucket: string, key: string): number {
  const h = createHash('sha256').update(bucket).update('\0').update(key).digest()
  const ino = (h.readUInt32BE(0) & 0x1fffff) * 2 ** 32 + h.readUInt32BE(4)
  return ino < 2 ? ino + 2 : ino
}

/** S3 lists keys in UTF-8 byte order; JavaScript compares UTF-16 code units. */
export function compareKeys (a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b))
}

/** CopySource: bucket and key, each path segment URL-encoded. */
export const copySource = (bucket: string, key: string): string =>
  `${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`
