// Writing objects: committing a staged file as a new version (one PUT, or a
// multipart upload with parts in parallel), and server-side copies.
//
// A commit of a file up to two parts long is one PUT of its whole content.
// Above that it is a multipart upload: each part is uploaded from the
// staging file, or, when nothing in it was written here, copied on the
// server from the base version (UploadPartCopy), so that appending to a
// large object does not move its untouched bytes through this machine.
// Parts are one block, or as many blocks as make the 5 MiB S3 minimum,
// and grow when 10,000 parts would not hold the object.
import {
  AbortMultipartUploadCommand, CompleteMultipartUploadCommand, CopyObjectCommand, CreateMultipartUploadCommand,
  PutObjectCommand, UploadPartCommand, UploadPartCopyCommand,
} from '@aws-sdk/client-s3'
import { open } from 'node:fs/promises'
import { logger } from '../../log.ts'
import { metadataOf, type Metadata } from './attrs.ts'
import { asFsError, quoteEtag } from './client.ts'
import { copySource } from './keys.ts'
import { head, type ObjectInfo } from './meta.ts'
import type { Session } from './session.ts'
import type { Staged } from './staging.ts'

const log = logger('s3-write')

const MiB = 1024 * 1024
const PART_MIN = 5 * MiB
const MAX_PARTS = 10_000
/** CopyObject copies at most 5 GiB in one request; above, a multipart copy. */
const COPY_MAX = 5 * 1024 * MiB
const COPY_PART = 512 * MiB

export const DIR_CONTENT_TYPE = 'application/x-directory'

/** Part size for an object of `size` bytes: whole blocks, at least 5 MiB, at most 10,000 parts. */
export function partSize (bs: number, size: number): number {
  let p = Math.ceil(PART_MIN / bs) * bs
  if (p * MAX_PARTS < size) p = Math.ceil(size / MAX_PARTS / bs) * bs
  return p
}

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
 * the file's exclusive section. Returns what the server now holds.
 */
export async function commit (s: Session, st: Staged): Promise<ObjectInfo> {
  const size = st.attr.size
  const metadata = metadataOf(st.attr, st.xattrs)
  const p = partSize(s.blockSize, size)
  let etag: string | undefined
  if (size <= 2 * p) {
    const body = await materialize(s, st, 0, size)
    etag = await putObject(s, st.key, body, metadata, st.contentType)
    if (etag !== undefined) s.reader.seed({ key: st.key, etag, size }, body)
  } else {
    etag = await multipart(s, st, p, metadata)
  }
  s.backend.commits++
  return { kind: 'file', attr: { ...st.attr }, etag, lastModified: 0, xattrs: st.xattrs, marker: false, contentType: st.contentType }
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

async function multipart (s: Session, st: Staged, p: number, metadata: Metadata): Promise<string | undefined> {
  const size = st.attr.size
  const { Bucket, Key } = { Bucket: s.bucket, Key: st.key }
  let uploadId: string | undefined
  try {
    uploadId = (await s.client.send(new CreateMultipartUploadCommand({ Bucket, Key, Metadata: metadata, ContentType: st.contentType }))).UploadId
    const UploadId = uploadId
    const count = Math.ceil(size / p)
    const base = st.base
    const parts = await Promise.all(Array.from({ length: count }, async (_, n) => await s.parts.add(async () => {
      const start = n * p
      const end = Math.min(size, start + p)
      const PartNumber = n + 1
      if (base !== null && end <= st.baseLimit && end <= base.size && !touchedHere(s, st, start, end)) {
        const r = await s.client.send(new UploadPartCopyCommand({
          Bucket, Key, UploadId, PartNumber, CopySource: copySource(Bucket, Key), CopySourceRange: `bytes=${start}-${end - 1}`, CopySourceIfMatch: base.etag,
        }))
        return { PartNumber, ETag: r.CopyPartResult?.ETag }
      }
      const body = await materialize(s, st, start, end)
      const r = await s.client.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber, Body: body, ContentLength: body.byteLength }))
      s.backend.bytesUploaded += body.byteLength
      return { PartNumber, ETag: r.ETag }
    })))
    const done = await s.client.send(new CompleteMultipartUploadCommand({ Bucket, Key, UploadId, MultipartUpload: { Parts: parts } }))
    uploadId = undefined
    // Ceph RGW answers CompleteMultipartUpload with an empty ETag; HEAD has the real one.
    return quoteEtag(done.ETag) ?? quoteEtag((await head(s, Key))?.ETag)
  } catch (err) {
    throw asFsError(err)
  } finally {
    if (uploadId !== undefined) {
      await s.client.send(new AbortMultipartUploadCommand({ Bucket, Key, UploadId: uploadId }))
        .catch(err => { log.warn({ key: Key, err: String(err) }, 'aborting a failed multipart upload failed; the bucket may keep its parts') })
    }
  }
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
    if (uploadId !== undefined) await s.client.send(new AbortMultipartUploadCommand({ Bucket, Key: to, UploadId: uploadId })).catch(() => {})
  }
}
