// What the store knows of names on the server: HEAD and LIST answers,
// kept for metadata_ttl so that a stat storm costs one request per name.
//
// A name is a file (an object at the key), a directory (a marker object
// "key/" or any key below "key/"), or absent. When both a file and a
// directory answer to one name, the directory wins: hiding it would hide
// everything below it.
//
// Entries past their TTL are not trusted for lookups, but a listing that
// shows the same ETag and Last-Modified still reuses their attributes:
// that is how readdirplus answers with real modes and times without a
// HEAD per entry, and how a lookup past the TTL costs one LIST for the
// whole directory instead of a HEAD per name as well.
//
// A directory that fits one LIST page also keeps the names it holds (kept
// current by this mount's own changes), so that looking up a name that is
// not there, which every create does first, costs no request: a LIST is
// slower than a HEAD on most services (on AWS tens of ms), and S3 bills it
// 12.5 times a GET.
import { HeadObjectCommand, ListObjectsV2Command, type HeadObjectCommandOutput, type ListObjectsV2CommandOutput, type _Object } from '@aws-sdk/client-s3'
import { LRUCache } from 'lru-cache'
import type { ObjectAttr } from '../types.ts'
import { attrOf, parseXattrs, type Metadata } from './attrs.ts'
import { asFsError, isNotFound, quoteEtag } from './client.ts'
import { inoOf, isUnlinkedId, parentOf } from './keys.ts'
import type { Session } from './session.ts'
import type { Staged } from './staging.ts'

export interface ObjectInfo {
  kind: 'file' | 'dir'
  attr: ObjectAttr
  /** The version's ETag (files), or the marker's (directories with one). */
  etag: string | undefined
  /** Last-Modified in ms; 0 when unknown. */
  lastModified: number
  xattrs: Map<string, Uint8Array>
  /** Directories: a marker object "key/" exists (holds the directory's own attributes). */
  marker: boolean
  contentType: string | undefined
}

interface Cached {
  info: ObjectInfo | null
  at: number
}

/** A file's version as a listing shows it. */
export interface Listed {
  size: number
  etag: string | undefined
  lastModified: number
}

/** The names in a directory, from one complete LIST page. */
export interface Children {
  names: Map<string, 'file' | 'dir'>
  /** The listed version of each file the listing showed (not of names this mount added since). */
  versions: Map<string, Listed>
  at: number
}

const sameSecond = (a: number, b: number): boolean => Math.floor(a / 1000) === Math.floor(b / 1000)

/**
 * Whether a listing's ETag and Last-Modified show the version `known`
 * describes, so its attributes (which a listing lacks) still hold: a
 * metadata-only change keeps the ETag but moves Last-Modified. A version
 * this mount wrote has no Last-Modified yet: the listing's becomes its own.
 */
function sameVersion (known: ObjectInfo, etag: string | undefined, lastModified: number): boolean {
  if (etag === undefined || known.etag !== quoteEtag(etag)) return false
  if (known.lastModified === 0) {
    known.lastModified = lastModified
    return true
  }
  return sameSecond(known.lastModified, lastModified)
}

const bare = (id: string): string => id.endsWith('/') ? id.slice(0, -1) : id

export class MetaCache {
  readonly #ttl: number
  readonly #entries = new LRUCache<string, Cached>({ max: 200_000 })
  readonly #children = new LRUCache<string, Children>({ max: 20_000 })
  /** fetchDir's LISTs in flight, by directory id. */
  readonly listing = new Map<string, Promise<ObjectInfo | null>>()
  /** Per directory, a count of this mount's changes to its names: a listing that raced one is not kept. */
  readonly #changes = new LRUCache<string, number>({ max: 20_000 })

  constructor (ttlMs: number) {
    this.#ttl = ttlMs
  }

  /** A fresh answer for a name (by file key or directory id), or undefined when the server must be asked. */
  get (id: string): ObjectInfo | null | undefined {
    const c = this.#entries.get(bare(id))
    if (c === undefined || Date.now() - c.at >= this.#ttl) return undefined
    return c.info
  }

  /** Any answer, however old: for revalidation by ETag. */
  stale (id: string): ObjectInfo | null | undefined {
    return this.#entries.get(bare(id))?.info
  }

  set (id: string, info: ObjectInfo | null): void {
    this.#entries.set(bare(id), { info, at: Date.now() })
  }

  /**
   * What is known of a file (or a directory, by its marker), however old,
   * when a listing shows that same version: its age starts again. Undefined
   * when it must be asked for.
   */
  revalidate (id: string, kind: 'file' | 'dir', listed: Pick<Listed, 'etag' | 'lastModified'>): ObjectInfo | undefined {
    const c = this.#entries.get(bare(id))
    const info = c?.info
    if (c === undefined || info == null || info.kind !== kind || !sameVersion(info, listed.etag, listed.lastModified)) return undefined
    c.at = Date.now()
    return info
  }

  drop (id: string): void {
    this.#entries.delete(bare(id))
  }

  /** Everything at or below a directory id (a directory rename or removal). */
  dropTree (dirId: string): void {
    this.drop(dirId)
    for (const k of [...this.#entries.keys()]) if (k.startsWith(dirId)) this.#entries.delete(k)
    for (const k of [...this.#children.keys()]) if (k.startsWith(dirId)) this.#children.delete(k)
  }

  /** The names of a directory, when known and fresh. */
  children (dirId: string): Children | undefined {
    const c = this.#children.get(dirId)
    return c === undefined || Date.now() - c.at >= this.#ttl ? undefined : c
  }

  /** Taken before a LIST whose names setChildren will keep. */
  generation (dirId: string): number {
    return this.#changes.get(dirId) ?? 0
  }

  /** The names a LIST found, unless this mount changed the directory's names since `generation`. */
  setChildren (dirId: string, names: Map<string, 'file' | 'dir'>, versions = new Map<string, Listed>(), generation = this.generation(dirId)): void {
    if (this.generation(dirId) !== generation) return
    this.#children.set(dirId, { names, versions, at: Date.now() })
  }

  /** This mount added (kind) or removed (undefined) a name: known listings follow. */
  child (dirId: string, name: string, kind: 'file' | 'dir' | undefined): void {
    this.#changes.set(dirId, this.generation(dirId) + 1)
    const c = this.#children.get(dirId)
    if (c === undefined) return
    c.versions.delete(name)
    if (kind === undefined) c.names.delete(name)
    else c.names.set(name, kind)
  }

  /**
   * A subdirectory came (+1) or went (-1): a directory's known nlink follows,
   * without asking the server again. Unknown or uncounted (nlink 1, past one
   * page of names) stays so.
   */
  addLinks (dirId: string, delta: number): void {
    const c = this.#entries.get(bare(dirId))
    const info = c?.info
    if (c === undefined || info == null || info.kind !== 'dir' || info.attr.nlink < 2) return
    c.info = { ...info, attr: { ...info.attr, nlink: Math.max(2, info.attr.nlink + delta) } }
  }
}

export function fileInfo (s: Session, key: string, h: { ContentLength?: number, LastModified?: Date, ETag?: string, Metadata?: Metadata, ContentType?: string }): ObjectInfo {
  const lastModified = h.LastModified?.getTime() ?? 0
  const metadata = h.Metadata
  return {
    kind: 'file',
    attr: attrOf(key, inoOf(s.bucket, key), 1, { kind: 'file', size: h.ContentLength ?? 0, lastModified, metadata }, s.opts),
    etag: quoteEtag(h.ETag),
    lastModified,
    xattrs: parseXattrs(metadata?.xattr),
    marker: false,
    contentType: h.ContentType,
  }
}

export function dirInfo (s: Session, dirId: string, nlink: number, marker: HeadObjectCommandOutput | undefined): ObjectInfo {
  const lastModified = marker?.LastModified?.getTime() ?? s.openedAtMs
  const ino = dirId === s.root ? 1 : inoOf(s.bucket, dirId)
  let attr = attrOf(dirId, ino, nlink, { kind: 'dir', size: 0, lastModified, metadata: marker?.Metadata }, s.opts)
  if (dirId === '' && s.rootOverride !== undefined) attr = { ...attr, ...s.rootOverride }
  return {
    kind: 'dir',
    attr,
    etag: quoteEtag(marker?.ETag),
    lastModified,
    xattrs: parseXattrs(marker?.Metadata?.xattr),
    marker: marker !== undefined,
    contentType: marker?.ContentType,
  }
}

/** A listed object's version. */
export const versionOf = (c: _Object): Listed => ({ size: c.Size ?? 0, etag: c.ETag, lastModified: c.LastModified?.getTime() ?? 0 })

/** The names (and files' versions) of one complete, delimited LIST page of `dirId`. */
export function childrenOf (dirId: string, page: ListObjectsV2CommandOutput, staged: Staged[]): Pick<Children, 'names' | 'versions'> {
  const names = new Map<string, 'file' | 'dir'>()
  const versions = new Map<string, Listed>()
  for (const c of page.Contents ?? []) {
    if (c.Key === undefined || c.Key === dirId) continue
    const name = c.Key.slice(dirId.length)
    names.set(name, 'file')
    versions.set(name, versionOf(c))
  }
  for (const p of page.CommonPrefixes ?? []) if (p.Prefix !== undefined) names.set(p.Prefix.slice(dirId.length, -1), 'dir')
  // This mount's files the server may not have yet: once uploaded they are
  // no longer staged, and must not drop out of the names meanwhile.
  for (const st of staged) {
    const name = st.key.slice(dirId.length)
    if (!names.has(name)) names.set(name, 'file')
  }
  return { names, versions }
}

/** HEAD, with 404 as undefined. */
export async function head (s: Session, key: string): Promise<HeadObjectCommandOutput | undefined> {
  try {
    return await s.client.send(new HeadObjectCommand({ Bucket: s.bucket, Key: key }))
  } catch (err) {
    if (isNotFound(err)) return undefined
    throw asFsError(err)
  }
}

/** The server's view of a file key; null when there is no object. */
export async function fetchFile (s: Session, key: string): Promise<ObjectInfo | null> {
  // Unlinked (reclaimed, or never kept): such an id has nothing on the server to ask for.
  if (isUnlinkedId(key)) return null
  const h = await head(s, key)
  const info = h === undefined ? null : fileInfo(s, key, h)
  s.stale.compare(key, s.meta.stale(key), info)
  if (info !== null || s.meta.get(key)?.kind !== 'dir') s.meta.set(key, info)
  return info
}

/**
 * The server's view of a directory: one delimited LIST of its first 1000
 * names (existence, and nlink = 2 + subdirectories when they all fit), and
 * a HEAD of its marker when the listing shows one.
 */
export async function fetchDir (s: Session, dirId: string): Promise<ObjectInfo | null> {
  // Lookups of many names in one directory at once (parallel stat, rsync
  // -j) share one LIST.
  const running = s.meta.listing.get(dirId)
  if (running !== undefined) return await running
  const p = listDir(s, dirId).finally(() => { s.meta.listing.delete(dirId) })
  s.meta.listing.set(dirId, p)
  return await p
}

async function listDir (s: Session, dirId: string): Promise<ObjectInfo | null> {
  const generation = s.meta.generation(dirId)
  // Taken before asking the server: a file committed meanwhile is then in
  // one of the two, never in neither.
  const staged = s.stagedIn(dirId)
  let page
  try {
    page = await s.client.send(new ListObjectsV2Command({ Bucket: s.bucket, Prefix: dirId, Delimiter: '/', MaxKeys: 1000 }))
  } catch (err) {
    throw asFsError(err)
  }
  const listedMarker = dirId === '' ? undefined : (page.Contents ?? []).find(c => c.Key === dirId)
  const exists = dirId === s.root || (page.Contents ?? []).length > 0 || (page.CommonPrefixes ?? []).length > 0 || s.hasStagedBelow(dirId)
  if (!exists) {
    s.meta.set(dirId, null)
    return null
  }
  const subdirs = (page.CommonPrefixes ?? []).filter(p => p.Prefix !== undefined && p.Prefix.length > dirId.length + 1).length
  if (page.IsTruncated !== true) {
    const { names, versions } = childrenOf(dirId, page, staged)
    s.meta.setChildren(dirId, names, versions, generation)
  }
  // Past one page the count is unknown: nlink 1 is the convention find(1) knows.
  const nlink = page.IsTruncated === true ? 1 : 2 + subdirs
  // The marker holds the directory's attributes; the listing shows whether it is the version already known.
  const known = listedMarker === undefined ? undefined : s.meta.revalidate(dirId, 'dir', versionOf(listedMarker))
  const info = known !== undefined
    ? { ...known, attr: { ...known.attr, nlink } }
    : dirInfo(s, dirId, nlink, listedMarker !== undefined ? await head(s, dirId) : undefined)
  s.meta.set(dirId, info)
  return info
}

/**
 * The name `key` (no trailing slash) as file, directory or nothing. The
 * parent's names answer when they are known (listed within metadata_ttl,
 * or listed now, once for the many lookups that follow); past one page
 * of names, a HEAD of the key and a LIST of "key/" at once.
 */
export async function fetchName (s: Session, key: string): Promise<ObjectInfo | null> {
  const parent = parentOf(key)
  let children = s.meta.children(parent)
  if (children === undefined && s.meta.get(parent) === undefined) {
    await fetchDir(s, parent)
    children = s.meta.children(parent)
  }
  if (children !== undefined) {
    const kind = children.names.get(key.slice(parent.length))
    if (kind === undefined) {
      s.stale.compare(key, s.meta.stale(key), null)
      s.meta.set(key, null)
      return null
    }
    if (kind === 'dir') {
      const dir = await fetchDir(s, `${key}/`)
      if (dir !== null) return dir
    }
    // The listing shows the version already known: its attributes hold, no HEAD.
    const listed = children.versions.get(key.slice(parent.length))
    const known = listed === undefined ? undefined : s.meta.revalidate(key, 'file', listed)
    if (known !== undefined) return known
    const file = await fetchFile(s, key)
    if (file !== null) return file
    // Changed since the listing: ask for both.
  }
  return await fetchBoth(s, key)
}

async function fetchBoth (s: Session, key: string): Promise<ObjectInfo | null> {
  const [file, dir] = await Promise.all([head(s, key), fetchDir(s, `${key}/`)])
  const info = dir ?? (file === undefined ? null : fileInfo(s, key, file))
  s.stale.compare(key, s.meta.stale(key), dir === null ? info : null)
  s.meta.set(key, info)
  return info
}
