// Writing objects: committing a staged file as a new version (one PUT, or a
// multipart upload with parts in parallel), and server-side copies.
//
// A commit of a file up to two parts long is one PUT of its whole content.
// Above that it is a multipart upload (parts.ts says where the parts are
// cut): each part is uploaded from the staging file, or, when nothing in
// it was written here, copied on the server from the base version
// (UploadPartCopy), so that appending to a large object does not move its
// untouched bytes through this machine. A file that streamed parts while
// it was written (stream.ts) completes that upload, sending only the parts
// not uploaded yet or written again since.
import {
  AbortMultipartUploadCommand, CompleteMultipartUploadCommand, CopyObjectCommand, CreateMultipartUploadCommand,
  PutObjectCommand, UploadPartCommand, UploadPartCopyCommand,
} from '@aws-sdk/client-s3'
import { open } from 'node:fs/promises'
import { FsError, errno as E } from '../../errors.ts'
import { logger } from '../../log.ts'
import { metadataOf, type Metadata } from './attrs.ts'
import { asFsError, quoteEtag } from './client.ts'
import { copySource } from './keys.ts'
import { head, type ObjectInfo } from './meta.ts'
import { MAX_PARTS, type PartRange } from './parts.ts'
import type { Session } from './session.ts'
import type { Staged } from './staging.ts'
import type { Stream } from './stream.ts'

const log = logger('s3-write')

const MiB = 1024 * 1024
/** CopyObject copies at most 5 GiB in one request; above, a multipart copy. */
const COPY_MAX = 5 * 1024 * MiB
const COPY_PART = 512 * MiB

export const DIR_CONTENT_TYPE = 'application/x-directory'

/** The staged file's bytes [start, end): staged blocks, then the base version, then zeros. */
export async function materialize (s: Session, st: Staged, start: number, end: number): Promise<Uint8Array> {
  const out = new Uint8Array(Math.max(0, end - start))
  if (out.byteLength === 0) return out
  const bs = s.blockSize
  if (st.blocks.size > 0) {
    // Where nothing was written the sparse staging file reads as zeros.
    const fh = await open(st.path, 'r').catch(() => undefined)
    if (fh !== undefined) {
      try {
        await fh.read(out, 0, out.byteLength, start)
      } finally {
        await fh.close()
      }
    }
  }
  const base = st.base
  const limit = Math.min(end, st.baseLimit)
  if (base === null || limit <= start) return out
  // Runs of blocks not written here, below the base limit, come from the server.
  let runStart = -1
  const runs: Array<[number, number]> = []
  for (let i = Math.floor(start / bs); i * bs < limit; i++) {
    const local = st.blocks.has(i)
    if (!local && runStart < 0) runStart = Math.max(start, i * bs)
    if (local && runStart >= 0) { runs.push([runStart, i * bs]); runStart = -1 }
  }
  if (runStart >= 0) runs.push([runStart, limit])
  await Promise.all(runs.map(async ([a, b]) => {
    const data = await s.reader.read({ key: st.key, etag: base.etag, size: base.size }, a, Math.min(b, base.size))
    out.set(data, a - start)
  }))
  return out
}

/** The part of [start, end) written here: false when the server's base holds all of it. */
function touchedHere (s: Session, st: Staged, start: number, end: number): boolean {
  const bs = s.blockSize
  for (let i = Math.floor(start / bs); i * bs < end; i++) if (st.blocks.has(i)) return true
  return false
}

/**
 * Upload the staged file as the new version of its key. The caller holds
 * the file's exclusive section. Returns what the server now holds, and
 * `metadataStale` when the caller promised (`copyNext`) to copy the object
 * with its metadata right away and the upload, begun while the file was
 * written, still carries the metadata of that moment.
 */
export async function commit (s: Session, st: Staged, copyNext = false): Promise<ObjectInfo & { metadataStale?: boolean }> {
  const size = st.attr.size
  const metadata = metadataOf(st.attr, st.xattrs)
  // Whatever happens below, the upload streamed so far ends here: completed, or aborted.
  const stream = st.stream
  st.stream = undefined
  let etag: string | undefined
  let metadataStale = false
  if (size <= 2 * s.layout.first) {
    // Truncated back below multipart size since streaming began.
    if (stream !== undefined) await stream.abort()
    const body = await materialize(s, st, 0, size)
    etag = await putObject(s, st.key, body, metadata, st.contentType)
    if (etag !== undefined) s.reader.seed({ key: st.key, etag, size }, body)
  } else {
    ;({ etag, metadataStale } = await multipart(s, st, metadata, stream, copyNext))
  }
  s.backend.commits++
  return { kind: 'file', attr: { ...st.attr }, etag, lastModified: 0, xattrs: st.xattrs, marker: false, contentType: st.contentType, metadataStale }
}

export async function putObject (s: Session, key: string, body: Uint8Array, metadata: Metadata, contentType?: string): Promise<string | undefined> {
  try {
    const res = await s.client.send(new PutObjectCommand({ Bucket: s.bucket, Key: key, Body: body, ContentLength: body.byteLength, Metadata: metadata, ContentType: contentType }))
    s.backend.bytesUploaded += body.byteLength
    return quoteEtag(res.ETag)
  } catch (err) {
    throw asFsError(err)
  }
}

/** Start a multipart upload; its id. */
export async function createUpload (s: Session, key: string, metadata: Metadata | undefined, contentType: string | undefined): Promise<string> {
  const r = await s.client.send(new CreateMultipartUploadCommand({ Bucket: s.bucket, Key: key, Metadata: metadata, ContentType: contentType }))
  if (r.UploadId === undefined) throw new Error('CreateMultipartUpload answered no UploadId')
  return r.UploadId
}

/**
 * End a multipart upload that will not be completed, so that the bucket
 * does not keep its parts. Never rejects: a failure is logged (a lifecycle
 * rule for incomplete uploads is the fallback), and one already gone is
 * fine.
 */
export async function abortUpload (s: Session, key: string, uploadId: string): Promise<void> {
  try {
    await s.client.send(new AbortMultipartUploadCommand({ Bucket: s.bucket, Key: key, UploadId: uploadId }))
  } catch (err) {
    if ((err as { name?: string }).name === 'NoSuchUpload') return
    log.warn({ key, err: String(err) }, 'aborting a multipart upload failed; the bucket may keep its parts (a lifecycle rule for incomplete uploads removes them)')
  }
}

/**
 * Upload `body` as part `partNumber`; the ETag as the server answered it
 * (unquoted by some servers: each caller decides what it sends back at
 * completion).
 */
export async function uploadPart (s: Session, key: string, uploadId: string, partNumber: number, body: Uint8Array): Promise<string | undefined> {
  const res = await s.client.send(new UploadPartCommand({ Bucket: s.bucket, Key: key, UploadId: uploadId, PartNumber: partNumber, Body: body, ContentLength: body.byteLength }))
  s.backend.bytesUploaded += body.byteLength
  return res.ETag
}

/** Part `r` of the new version, uploaded from the staging file or copied from the base on the server. */
async function commitPart (s: Session, st: Staged, UploadId: string, r: PartRange): Promise<{ PartNumber: number, ETag: string | undefined }> {
  const { Bucket, Key } = { Bucket: s.bucket, Key: st.key }
  const PartNumber = r.n + 1
  const base = st.base
  if (base !== null && r.end <= st.baseLimit && r.end <= base.size && !touchedHere(s, st, r.start, r.end)) {
    const res = await s.client.send(new UploadPartCopyCommand({
      Bucket, Key, UploadId, PartNumber, CopySource: copySource(Bucket, Key), CopySourceRange: `bytes=${r.start}-${r.end - 1}`, CopySourceIfMatch: base.etag,
    }))
    return { PartNumber, ETag: res.CopyPartResult?.ETag }
  }
  const body = await materialize(s, st, r.start, r.end)
  return { PartNumber, ETag: await uploadPart(s, Key, UploadId, PartNumber, body) }
}

const sameMetadata = (a: Metadata, b: Metadata): boolean => JSON.stringify(Object.entries(a).sort()) === JSON.stringify(Object.entries(b).sort())

async function multipart (s: Session, st: Staged, metadata: Metadata, streamed: Stream | undefined, copyNext: boolean): Promise<{ etag: string | undefined, metadataStale: boolean }> {
  const size = st.attr.size
  const count = s.layout.count(size)
  if (count > MAX_PARTS) {
    await streamed?.abort()
    throw new FsError(E.EFBIG, `${size} bytes do not fit the 10,000 parts of an S3 object`)
  }
  const stream = await usable(streamed, count)
  const { Bucket, Key } = { Bucket: s.bucket, Key: st.key }
  let uploadId: string | undefined
  let completed = false
  try {
    uploadId = stream !== undefined ? await stream.created : await createUpload(s, Key, metadata, st.contentType)
    const UploadId = uploadId
    const parts = await Promise.all(Array.from({ length: count }, async (_, n) => {
      const r = s.layout.clipped(n, size)
      const ahead = stream?.uploaded.get(n)
      if (ahead !== undefined && stream?.holds(st, r, s.blockSize) === true) return { PartNumber: n + 1, ETag: ahead.etag }
      return await s.parts.add(async () => await commitPart(s, st, UploadId, r))
    }))
    const done = await s.client.send(new CompleteMultipartUploadCommand({ Bucket, Key, UploadId, MultipartUpload: { Parts: parts } }))
    completed = true
    // Ceph RGW answers CompleteMultipartUpload with an empty ETag; HEAD has the real one.
    const etag = quoteEtag(done.ETag) ?? quoteEtag((await head(s, Key))?.ETag)
    // A streamed upload carries the attributes of the moment it began (its
    // mtime at least has moved since): one copy onto itself, on the server,
    // gives the object the ones it has now; or the caller's copy does.
    const stale = stream !== undefined && (!sameMetadata(stream.metadata, metadata) || stream.contentType !== st.contentType)
    if (stale && !copyNext) return { etag: await copyObject(s, Key, etag, size, Key, metadata, st.contentType) ?? etag, metadataStale: false }
    return { etag, metadataStale: stale }
  } catch (err) {
    throw asFsError(err)
  } finally {
    if (!completed) {
      if (stream !== undefined) {
        await stream.abort()
      } else if (uploadId !== undefined) {
        await abortUpload(s, Key, uploadId)
      }
    }
  }
}

/**
 * The upload streamed while the file was written, once its running parts
 * are done, if the commit can complete it: not when a part failed (its
 * error is the commit's), nor when parts were uploaded past the end of a
 * file truncated since. S3 would drop those at completion, but Ceph RGW
 * refuses to complete without every uploaded part (InvalidPart), and no
 * call removes one: that upload is aborted and the commit starts afresh.
 */
async function usable (stream: Stream | undefined, count: number): Promise<Stream | undefined> {
  if (stream === undefined) return undefined
  stream.closed = true
  await stream.settled()
  if (stream.failed !== undefined) {
    await stream.abort()
    throw asFsError(stream.failed)
  }
  if ([...stream.uploaded.keys()].some(n => n >= count)) {
    await stream.abort()
    return undefined
  }
  return stream
}

/** A multipart copy needs the metadata spelled out; a single CopyObject can keep the source's. */
export const COPY_SINGLE_MAX = COPY_MAX

/**
 * Server-side copy of version `etag` of `from` to `to`, with new metadata
 * (rename; attribute changes of a committed object, a copy onto itself) or,
 * when `metadata` is undefined and the object fits one CopyObject, its own.
 */
export async function copyObject (s: Session, from: string, etag: string | undefined, size: number, to: string, metadata: Metadata | undefined, contentType?: string): Promise<string | undefined> {
  const { Bucket } = { Bucket: s.bucket }
  const CopySource = copySource(Bucket, from)
  try {
    if (size <= COPY_MAX) {
      const r = await s.client.send(new CopyObjectCommand({
        Bucket, Key: to, CopySource, CopySourceIfMatch: etag, MetadataDirective: metadata === undefined ? 'COPY' : 'REPLACE', Metadata: metadata, ContentType: metadata === undefined ? undefined : contentType,
      }))
      return quoteEtag(r.CopyObjectResult?.ETag)
    }
  } catch (err) {
    throw asFsError(err)
  }
  let uploadId: string | undefined
  try {
    uploadId = (await s.client.send(new CreateMultipartUploadCommand({ Bucket, Key: to, Metadata: metadata, ContentType: contentType }))).UploadId
    const UploadId = uploadId
    const count = Math.ceil(size / COPY_PART)
    const parts = await Promise.all(Array.from({ length: count }, async (_, n) => await s.parts.add(async () => {
      const start = n * COPY_PART
      const end = Math.min(size, start + COPY_PART)
      const r = await s.client.send(new UploadPartCopyCommand({
        Bucket, Key: to, UploadId, PartNumber: n + 1, CopySource, CopySourceRange: `bytes=${start}-${end - 1}`, CopySourceIfMatch: etag,
      }))
      return { PartNumber: n + 1, ETag: r.CopyPartResult?.ETag }
    })))
    const done = await s.client.send(new CompleteMultipartUploadCommand({ Bucket, Key: to, UploadId, MultipartUpload: { Parts: parts } }))
    uploadId = undefined
    return quoteEtag(done.ETag) ?? quoteEtag((await head(s, to))?.ETag)
  } catch (err) {
    throw asFsError(err)
  } finally {
    if (uploadId !== undefined) await abortUpload(s, to, uploadId)
  }
}
