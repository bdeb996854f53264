// readdir: one delimited ListObjectsV2 page per call, merged with the files
// being written here that the server does not have yet.
//
// Entries come in S3's order, UTF-8 bytes of the key, where a directory
// sorts as "name/". The cursor is that sort key of the last entry, so a
// page resumes with StartAfter and never repeats or skips a name, and no
// request is made per entry: files get their attributes from the listing
// (size, Last-Modified), or from what the store already knows of the same
// version (same ETag and second of Last-Modified); directories from what
// the store knows, or the mount's defaults.
import { ListObjectsV2Command, type ListObjectsV2CommandOutput } from '@aws-sdk/client-s3'
import type { DirEntry, ListPage, ObjectAttr } from '../types.ts'
import { attrOf } from './attrs.ts'
import { asFsError, quoteEtag } from './client.ts'
import { compareKeys, inoOf } from './keys.ts'
import { childrenOf } from './meta.ts'
import type { Session } from './session.ts'

interface Listed {
  sortKey: string
  entry: DirEntry
}

/** Symlink targets are shorter than PATH_MAX and special files empty: a bigger object is a regular file. */
const PATH_MAX = 4096

function listedFile (s: Session, key: string, name: string, size: number, etag: string | undefined, lastModified: number): DirEntry {
  const same = s.meta.revalidate(key, 'file', { etag, lastModified })
  if (same !== undefined) return { name, attr: same.attr }
  const known = s.meta.stale(key)
  const quoted = quoteEtag(etag)
  if (known?.kind === 'file' && etag !== undefined && known.etag !== quoted) {
    // Replaced by another client: say so once, and look it up afresh next time.
    s.stale.compareEtag(key, known, quoted)
    s.meta.drop(key)
  }
  const attr = attrOf(key, inoOf(s.bucket, key), 1, { kind: 'file', size, lastModified, metadata: undefined }, s.opts)
  return { name, attr, partial: { typeKnown: size >= PATH_MAX } }
}

/** A directory's attributes as the store knows them, with this mount's own time changes. */
export function dirAttr (s: Session, attr: ObjectAttr): ObjectAttr {
  const t = s.dirTimes.get(attr.id)
  return t === undefined ? attr : { ...attr, mtime: t.mtime, ctime: t.ctime }
}

function listedDir (s: Session, dirId: string, name: string): DirEntry {
  const known = s.meta.stale(dirId)
  if (known?.kind === 'dir') return { name, attr: dirAttr(s, known.attr) }
  const attr = attrOf(dirId, inoOf(s.bucket, dirId), 2, { kind: 'dir', size: 0, lastModified: s.openedAtMs, metadata: undefined }, s.opts)
  return { name, attr: dirAttr(s, attr), partial: { typeKnown: true } }
}

function fromPage (s: Session, dirId: string, page: ListObjectsV2CommandOutput): Listed[] {
  const out: Listed[] = []
  for (const c of page.Contents ?? []) {
    if (c.Key === undefined || c.Key === dirId) continue   // the directory's own marker
    const name = c.Key.slice(dirId.length)
    if (!usable(name)) continue
    out.push({ sortKey: name, entry: listedFile(s, c.Key, name, c.Size ?? 0, c.ETag, c.LastModified?.getTime() ?? 0) })
  }
  for (const p of page.CommonPrefixes ?? []) {
    if (p.Prefix === undefined) continue
    const name = p.Prefix.slice(dirId.length, -1)
    if (!usable(name)) continue
    out.push({ sortKey: `${name}/`, entry: listedDir(s, p.Prefix, name) })
  }
  return out
}

/** Keys that cannot be names ("a//b", "a/./b", over-long components) are not shown. */
const usable = (name: string): boolean => name !== '' && name !== '.' && name !== '..' && !name.includes('/') && Buffer.byteLength(name) <= 255

/**
 * The directory as a listing within metadata_ttl showed it (kept current by
 * this mount's own changes), or undefined when a name's attributes are not
 * known without asking: then it is listed again.
 */
function fromChildren (s: Session, dirId: string): Listed[] | undefined {
  const c = s.meta.children(dirId)
  if (c === undefined) return undefined
  const out: Listed[] = []
  for (const [name, kind] of c.names) {
    if (!usable(name)) continue
    const key = dirId + name
    if (kind === 'dir') {
      out.push({ sortKey: `${name}/`, entry: listedDir(s, `${key}/`, name) })
      continue
    }
    const v = c.versions.get(name)
    if (v !== undefined) {
      out.push({ sortKey: name, entry: listedFile(s, key, name, v.size, v.etag, v.lastModified) })
      continue
    }
    const known = s.meta.get(key)
    if (known?.kind === 'file') out.push({ sortKey: name, entry: { name, attr: { ...known.attr } } })
    else if (s.staged.get(key)?.removed !== false) return undefined   // staged ones come from s.stagedIn
  }
  return out
}

export async function listPage (s: Session, dirId: string, after: string | null, limit: number): Promise<ListPage> {
  // Taken before asking the server: a file committed meanwhile is then in
  // one of the two, never in neither.
  const stagedFiles = s.stagedIn(dirId)
  const staged: Listed[] = stagedFiles.map(st => {
    const name = st.key.slice(dirId.length)
    return { sortKey: name, entry: { name, attr: { ...st.attr } } }
  })
  const generation = s.meta.generation(dirId)
  const cached = fromChildren(s, dirId)
  const wanted = (e: Listed): boolean => after === null || compareKeys(e.sortKey, after) > 0
  const server: Listed[] = cached?.filter(wanted) ?? []
  let complete: ListObjectsV2CommandOutput | undefined
  let truncated = false
  let token: string | undefined
  // A page can be all repeats (a directory named by the cursor comes back
  // with StartAfter inside it): then read on.
  if (cached === undefined) do {
    let page: ListObjectsV2CommandOutput
    try {
      page = await s.client.send(new ListObjectsV2Command({
        Bucket: s.bucket,
        Prefix: dirId,
        Delimiter: '/',
        MaxKeys: Math.max(1, Math.min(1000, limit)),
        StartAfter: token === undefined && after !== null ? dirId + after : undefined,
        ContinuationToken: token,
      }))
    } catch (err) {
      throw asFsError(err)
    }
    for (const e of fromPage(s, dirId, page)) if (wanted(e)) server.push(e)
    truncated = page.IsTruncated === true
    if (after === null && !truncated) complete = page
    token = page.NextContinuationToken
  } while (server.length === 0 && truncated && token !== undefined)

  server.sort((a, b) => compareKeys(a.sortKey, b.sortKey))
  const serverLast = server.length > 0 ? server[server.length - 1].sortKey : undefined
  const byName = new Map<string, Listed>()
  for (const e of server) {
    const other = byName.get(e.entry.name)
    // A file and a directory of one name: the directory wins (meta.ts).
    if (other === undefined || e.sortKey.endsWith('/')) byName.set(e.entry.name, e)
  }
  for (const e of staged) {
    if (after !== null && compareKeys(e.sortKey, after) <= 0) continue
    if (truncated && serverLast !== undefined && compareKeys(e.sortKey, serverLast) > 0) continue
    if (byName.get(e.entry.name)?.sortKey.endsWith('/') === true) continue
    byName.set(e.entry.name, e)
  }
  // The whole directory in one page: its names answer the lookups that
  // follow a readdir (ls -l, rsync, rm -r) without listing it again.
  if (complete !== undefined) {
    const { names, versions } = childrenOf(dirId, complete, stagedFiles)
    s.meta.setChildren(dirId, names, versions, generation)
  }
  const merged = [...byName.values()].sort((a, b) => compareKeys(a.sortKey, b.sortKey))
  const page = merged.slice(0, limit)
  const more = truncated || page.length < merged.length
  return { entries: page.map(e => e.entry), next: more && page.length > 0 ? page[page.length - 1].sortKey : null }
}
