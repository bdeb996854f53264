// S3Store uploading a large file while it is written (src/store/s3/stream.ts):
// parts go up before the file is closed, within the upload buffer; rewrites
// and truncation of parts already uploaded still give the right object; a
// rename moves it whole; a part that keeps failing fails the commit with
// EIO and leaves no multipart upload behind.
import { createHash } from 'node:crypto'
import type { Server } from 'node:http'
import {
  GetObjectCommand, HeadObjectCommand, ListMultipartUploadsCommand, ListPartsCommand, type S3Client,
} from '@aws-sdk/client-s3'
import t, { type Test } from 'tap'
import { errno as E } from '../../src/errors.ts'
import { S3Store } from '../../src/store/s3/store.ts'
import type { ObjectId, ObjectStore } from '../../src/store/types.ts'
import { client, deletePrefix, listKeys, s3Proxy, s3Tier, testBucket, uniquePrefix } from '../s3-env.ts'
import { file, must, pattern, rejectsErrno } from './conformance/helpers.ts'

t.setTimeout(600_000)

const MiB = 1024 * 1024
const BS = MiB
const PART = 5 * MiB
const BUFFER = 20 * MiB

const backend = (s: ObjectStore): Record<string, number> => s.counters().backend as Record<string, number>
const ops = (s: ObjectStore): Record<string, number> => (backend(s).byOperation as unknown as Record<string, number>) ?? {}
const block = (i: number): Uint8Array => pattern(BS, i * 7 + 3)
const T = (sec: number): { sec: number, nsec: number } => ({ sec, nsec: 0 })

/** Write blocks first..last-1 the way the coalescer does: a few store writes in flight at once. */
async function writeSequential (s: ObjectStore, id: ObjectId, first: number, last: number, data = block): Promise<void> {
  const inFlight = new Set<Promise<unknown>>()
  for (let i = first; i < last; i++) {
    const p = s.writeBlocks(id, [{ index: i, data: data(i) }], (i + 1) * BS, T(1_700_000_000 + i))
    inFlight.add(p)
    void p.finally(() => inFlight.delete(p))
    if (inFlight.size >= 4) await Promise.race(inFlight)
  }
  await Promise.all(inFlight)
}

function md5Of (blocks: number, data = block): string {
  const h = createHash('md5')
  for (let i = 0; i < blocks; i++) h.update(data(i))
  return h.digest('hex')
}

async function objectMd5 (c: S3Client, bucket: string, key: string): Promise<{ md5: string, size: number }> {
  const r = await c.send(new GetObjectCommand({ Bucket: bucket, Key: key }))
  const h = createHash('md5')
  let size = 0
  for await (const chunk of r.Body as AsyncIterable<Uint8Array>) {
    h.update(chunk)
    size += chunk.byteLength
  }
  return { md5: h.digest('hex'), size }
}

async function uploadsUnder (c: S3Client, bucket: string, prefix: string): Promise<Array<{ Key?: string, UploadId?: string }>> {
  return (await c.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix }))).Uploads ?? []
}

/** A proxy in front of the S3 engine that answers 500 to every upload of one part number. */
async function failingPartProxy (endpoint: string, partNumber: number): Promise<{ endpoint: string, failures: number, server: Server }> {
  const p = { failures: 0 }
  const proxy = await s3Proxy(endpoint, (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x')
    if (req.method !== 'PUT' || url.searchParams.get('partNumber') !== String(partNumber) || !url.searchParams.has('uploadId')) return false
    p.failures++
    req.resume()
    req.on('end', () => {
      res.writeHead(500, { 'content-type': 'application/xml' })
      res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>injected</Message></Error>')
    })
    return true
  })
  return Object.assign(p, proxy)
}

const env = await s3Tier(t)
if (env !== undefined) {
  const c = client(env)
  const bucket = await testBucket(c)
  t.teardown(() => { c.destroy() })

  const fresh = async (t: Test, options: Record<string, string> = {}): Promise<{ s: ObjectStore, prefix: string, key: (k: string) => string }> => {
    const prefix = uniquePrefix('stream')
    const s = await S3Store.open({
      url: `s3://${bucket}/${prefix}`,
      blockSize: BS,
      readOnly: false,
      create: true,
      options: { endpoint: env.endpoint, part_size: '5M', stream_threshold: '10M', upload_buffer: '20M', commit_delay: '3600', ...options },
    }, { bucket, prefix })
    t.teardown(async () => {
      await s.close()
      await deletePrefix(c, bucket, `${prefix}/`)
    })
    return { s, prefix, key: (k: string) => `${prefix}/${k}` }
  }

  t.test('a large sequential write uploads its parts before close, within the upload buffer', async t => {
    const { s, key, prefix } = await fresh(t)
    const root = await s.root()
    const f = await file(s, root.id, 'big')
    const blocks = 200

    await writeSequential(s, f.id, 0, 100)
    const uploads = await uploadsUnder(c, bucket, `${prefix}/`)
    t.equal(uploads.length, 1, 'half way through the write, a multipart upload is in progress')
    t.equal(uploads[0]?.Key, key('big'), 'under the file\'s key')
    const listed = await c.send(new ListPartsCommand({ Bucket: bucket, Key: key('big'), UploadId: uploads[0]?.UploadId }))
    t.ok((listed.Parts ?? []).length >= 10, `and the server holds parts already (${(listed.Parts ?? []).length} of the 20 written so far)`)
    t.ok(backend(s).partsAhead >= 10, `parts uploaded ahead: ${backend(s).partsAhead}`)

    await writeSequential(s, f.id, 100, blocks)
    const last = T(1_700_000_000 + blocks - 1)
    await s.flush?.(f.id)
    const ahead = backend(s).partsAhead
    await s.sync(f.id)
    const b = backend(s)
    t.ok(ahead >= 36, `before the commit ${ahead} of the 40 parts were up`)
    t.equal(ops(s).CreateMultipartUpload, 1, 'one multipart upload')
    t.equal(ops(s).UploadPart, 40, 'each of the 40 parts of 5 MiB uploaded once')
    t.equal(ops(s).PutObject ?? 0, 0, 'no single PUT')
    t.ok(b.uploadBacklogPeak <= BUFFER, `parts waiting or uploading never took more than upload_buffer (${b.uploadBacklogPeak / MiB} MiB of ${BUFFER / MiB})`)
    t.ok(b.uploadMemoryPeak <= 4 * PART, `part bodies in memory at most ${b.uploadMemoryPeak / MiB} MiB (four uploads at a time)`)
    t.equal(b.uploadMemory, 0, 'and none once done')
    t.same(await objectMd5(c, bucket, key('big')), { md5: md5Of(blocks), size: blocks * BS }, 'the object holds the bytes written')
    const h = await c.send(new HeadObjectCommand({ Bucket: bucket, Key: key('big') }))
    t.equal(h.Metadata?.mtime, String(last.sec), 'and the mtime of the last write, not of when the upload began')
    t.same(await uploadsUnder(c, bucket, `${prefix}/`), [], 'no upload left in progress')
  })

  t.test('parts rewritten or cut after their upload are uploaded again', async t => {
    const { s, key } = await fresh(t)
    const root = await s.root()
    const f = await file(s, root.id, 'edited')
    await writeSequential(s, f.id, 0, 40)
    const changed = (i: number): Uint8Array => i === 2 ? pattern(BS, 99) : block(i)
    // Block 2 sits in part 1, uploaded by now: written again.
    await s.writeBlocks(f.id, [{ index: 2, data: changed(2) }], 40 * BS, T(1_800_000_000))
    await s.sync(f.id)
    t.same(await objectMd5(c, bucket, key('edited')), { md5: md5Of(40, changed), size: 40 * BS }, 'a rewrite of an uploaded part')

    const g = await file(s, root.id, 'cut')
    await writeSequential(s, g.id, 0, 30)
    // Part 3 (blocks 15..19) was uploaded whole; the file now ends inside it.
    await s.setattr(g.id, { size: 17 * BS + 100 })
    await s.sync(g.id)
    const want = createHash('md5')
    for (let i = 0; i < 17; i++) want.update(block(i))
    want.update(block(17).subarray(0, 100))
    t.same(await objectMd5(c, bucket, key('cut')), { md5: want.digest('hex'), size: 17 * BS + 100 }, 'a truncation inside an uploaded part')
  })

  t.test('a rename of a file still uploading ends under its final key only', async t => {
    const { s, key, prefix } = await fresh(t)
    const root = await s.root()
    const tmp = await file(s, root.id, '.big.tmp')
    await writeSequential(s, tmp.id, 0, 30)
    await s.flush?.(tmp.id)
    // rsync's order: write, close, utimes, rename.
    await s.setattr(tmp.id, { mtime: T(1_234_567_890) })
    const r = await s.rename(root.id, '.big.tmp', root.id, 'big', 0)
    t.same(r.moved, [{ from: tmp.id, to: key('big'), subtree: false }], 'the identity change is reported')
    const f = await must(s, root.id, 'big')
    await s.sync(f.id)
    t.same(await listKeys(c, bucket, `${prefix}/`), [key('big')], 'only the final key exists')
    t.same(await objectMd5(c, bucket, key('big')), { md5: md5Of(30), size: 30 * BS }, 'with the bytes')
    t.equal((await c.send(new HeadObjectCommand({ Bucket: bucket, Key: key('big') }))).Metadata?.mtime, '1234567890', 'and the attributes set before the rename')
    t.equal(ops(s).CopyObject, 1, 'at the cost of one copy on the server (the upload could not change its key), which also wrote the metadata')
    t.same(await uploadsUnder(c, bucket, `${prefix}/`), [], 'and no upload left in progress')
  })

  t.test('small files are one PUT, and never stream', async t => {
    const { s, prefix } = await fresh(t)
    const root = await s.root()
    const f = await file(s, root.id, 'small')
    await writeSequential(s, f.id, 0, 8)
    t.same(await uploadsUnder(c, bucket, `${prefix}/`), [], 'below stream_threshold nothing uploads while written')
    await s.sync(f.id)
    t.equal(ops(s).PutObject, 1, 'one PUT at the commit')
    t.equal(ops(s).CreateMultipartUpload ?? 0, 0, 'no multipart upload')
  })

  t.test('a part that keeps failing: EIO at close and fsync, and no upload left behind', async t => {
    const proxy = await failingPartProxy(env.endpoint, 3)
    t.teardown(() => { proxy.server.closeAllConnections(); proxy.server.close() })
    const { s, prefix } = await fresh(t, { endpoint: proxy.endpoint })
    const root = await s.root()
    const f = await file(s, root.id, 'doomed')
    await writeSequential(s, f.id, 0, 40)
    // The SDK retries the part (with backoff) before giving up on it.
    const until = Date.now() + 60_000
    while ((proxy.failures < 2 || (await uploadsUnder(c, bucket, `${prefix}/`)).length > 0) && Date.now() < until) await new Promise(resolve => setTimeout(resolve, 200))
    t.ok(proxy.failures >= 2, `the part was retried (${proxy.failures} attempts)`)
    t.same(await uploadsUnder(c, bucket, `${prefix}/`), [], 'then the multipart upload was aborted')
    await rejectsErrno(t, s.flush?.(f.id) as Promise<void>, E.EIO, 'close (flush) reports the failed part')
    await rejectsErrno(t, s.sync(f.id), E.EIO, 'fsync, uploading again, fails on the same part')
    t.same(await uploadsUnder(c, bucket, `${prefix}/`), [], 'and aborts its upload too')
    t.same(await listKeys(c, bucket, `${prefix}/`), [], 'no object was written')
    t.equal(backend(s).uploadMemory, 0, 'no part body is held')
    await s.remove(root.id, 'doomed', false)
  })
}
