// S3Store against a real S3 engine (Ceph RGW, test/s3-env.ts): the
// conformance suite every store runs, then what only S3 promises
// (test/store/s3/*.ts).
import { createHash } from 'node:crypto'
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CopyObjectCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3'
import t, { type Test } from 'tap'
import { errno as E } from '../../src/errors.ts'
import { S3Store } from '../../src/store/s3/store.ts'
import type { DirEntry, ObjectAttr, ObjectId, ObjectStore, StoreConfig } from '../../src/store/types.ts'
import { client, deletePrefix, listKeys, s3Tier, testBucket, uniquePrefix } from '../s3-env.ts'
import { conformance, type StoreFixture } from './conformance.ts'
import { S_IFDIR, S_IFLNK, S_IFMT, S_IFREG, file, mkdir, must, pattern, readRange, rejectsErrno } from './conformance/helpers.ts'

const BS = 64 * 1024

const env = await s3Tier(t)
if (env !== undefined) {
  const c = client(env)
  const bucket = await testBucket(c)
  t.teardown(() => { c.destroy() })

  const configFor = (prefix: string, options: Record<string, string> = {}): StoreConfig =>
    ({ url: `s3://${bucket}/${prefix}`, blockSize: BS, readOnly: false, create: true, options: { endpoint: env.endpoint, ...options } })

  const makeS3 = async (): Promise<StoreFixture> => {
    const prefix = uniquePrefix('conformance')
    const open: ObjectStore[] = []
    const openOne = async (): Promise<ObjectStore> => {
      const s = await S3Store.open(configFor(prefix), { bucket, prefix })
      open.push(s)
      return s
    }
    const store = await openOne()
    return {
      store,
      openAgain: openOne,
      cleanup: async () => {
        for (const s of open) await s.close()
        await deletePrefix(c, bucket, `${prefix}/`)
      },
    }
  }

  conformance(t, 'S3Store', makeS3)
  s3Tests(c, bucket, configFor)
}

type ConfigFor = (prefix: string, options?: Record<string, string>) => StoreConfig

const ops = (s: ObjectStore): Record<string, number> => ((s.counters().backend?.byOperation ?? {}) as Record<string, number>)
const backend = (s: ObjectStore): Record<string, number> => s.counters().backend as Record<string, number>
const delta = (before: Record<string, number>, after: Record<string, number>, op: string): number => (after[op] ?? 0) - (before[op] ?? 0)

async function getBody (c: S3Client, bucket: string, key: string): Promise<Uint8Array> {
  const r = await c.send(new GetObjectCommand({ Bucket: bucket, Key: key }))
  return await (r.Body as { transformToByteArray: () => Promise<Uint8Array> }).transformToByteArray()
}

const md5 = (b: Uint8Array): string => createHash('md5').update(b).digest('hex')

function s3Tests (c: S3Client, bucket: string, configFor: ConfigFor): void {
  /** A store on a fresh prefix, closed and emptied at the end of the subtest. */
  const fresh = async (t: Test, options: Record<string, string> = {}, blockSize?: number): Promise<{ s: ObjectStore, prefix: string, key: (k: string) => string }> => {
    const prefix = uniquePrefix('s3')
    const config = configFor(prefix, options)
    const s = await S3Store.open(blockSize === undefined ? config : { ...config, blockSize }, { bucket, prefix })
    t.teardown(async () => {
      await s.close()
      await deletePrefix(c, bucket, `${prefix}/`)
    })
    return { s, prefix, key: (k: string) => `${prefix}/${k}` }
  }
  const put = async (Key: string, Body: Uint8Array | string, Metadata?: Record<string, string>): Promise<void> => {
    await c.send(new PutObjectCommand({ Bucket: bucket, Key, Body, Metadata }))
  }

  t.test('objects written by other tools are files, their prefixes directories', async t => {
    const { s, key } = await fresh(t, { uid: '1234', gid: '2345', file_mode: '0640', dir_mode: '0750' })
    await put(key('a/b/c.txt'), 'hello')
    await put(key('a/top'), 'x', { mode: String(S_IFREG | 0o600), uid: '7', gid: '8', mtime: '1700000000.5' })
    const root = await s.root()
    t.equal(root.ino, 1, 'the mount root is ino 1')
    const a = await must(s, root.id, 'a')
    t.equal(a.mode, S_IFDIR | 0o750, 'a prefix is a directory with dir_mode')
    const b = await must(s, a.id, 'b')
    const f = await must(s, b.id, 'c.txt')
    t.match(f, { mode: S_IFREG | 0o640, uid: 1234, gid: 2345, size: 5, nlink: 1 }, 'no metadata: the mount defaults')
    t.same(await readRange(s, f.id, 0, 5), new TextEncoder().encode('hello'), 'its bytes')
    const top = await must(s, a.id, 'top')
    t.match(top, { mode: S_IFREG | 0o600, uid: 7, gid: 8 }, 'x-amz-meta-mode/uid/gid')
    t.same(top.mtime, { sec: 1700000000, nsec: 500_000_000 }, 'a fractional mtime (rclone style) is seconds and a fraction')
    t.same((await s.list(a.id, null, 10)).entries.map(e => e.name), ['b', 'top'], 'the listing merges prefixes and keys')
    t.equal(a.nlink, 3, 'nlink counts the subdirectory')
  })

  t.test('attributes are stored the way s3fs and rclone read them', async t => {
    const { s, key } = await fresh(t)
    const root = await s.root()
    const f = await file(s, root.id, 'f', 0o640)
    await s.writeBlocks(f.id, [{ index: 0, data: pattern(100, 1) }], 100, { sec: 1600000000, nsec: 123 })
    await s.setattr(f.id, { uid: 42, gid: 43 })
    await s.setxattr(f.id, 'user.k', new Uint8Array([1, 2, 3]), 0)
    await s.sync(f.id)
    const h = await c.send(new HeadObjectCommand({ Bucket: bucket, Key: key('f') }))
    t.match(h.Metadata, { mode: String(S_IFREG | 0o640), uid: '42', gid: '43', mtime: '1600000000.000000123' }, 'x-amz-meta-mode, -uid, -gid, -mtime')
    t.same(JSON.parse(decodeURIComponent(h.Metadata?.xattr ?? '')), { 'user.k': 'AQID' }, 'xattrs as s3fs keeps them (URL-encoded JSON, base64 values)')
    await s.setattr(f.id, { mode: 0o600, mtime: { sec: 1500000000, nsec: 0 } })
    const h2 = await c.send(new HeadObjectCommand({ Bucket: bucket, Key: key('f') }))
    t.match(h2.Metadata, { mode: String(S_IFREG | 0o600), mtime: '1500000000' }, 'chmod and utimes of an uploaded file rewrite its metadata')
    t.equal(md5(await getBody(c, bucket, key('f'))), md5(pattern(100, 1)), 'and keep its data')
    const l = await s.create(root.id, 'l', { mode: S_IFLNK | 0o777, uid: 0, gid: 0, target: '../x/y' })
    t.equal(l.mode & S_IFMT, S_IFLNK)
    await s.sync(l.id)
    t.equal(new TextDecoder().decode(await getBody(c, bucket, key('l'))), '../x/y', 'a symlink is an object holding its target (s3fs)')
    t.equal((await c.send(new HeadObjectCommand({ Bucket: bucket, Key: key('l') }))).Metadata?.mode, String(S_IFLNK | 0o777), 'with S_IFLNK in its mode')
    await mkdir(s, root.id, 'empty')
    t.ok(await c.send(new HeadObjectCommand({ Bucket: bucket, Key: key('empty/') })), 'mkdir writes a "dir/" marker')
    await rejectsErrno(t, s.link(f.id, root.id, 'f2'), E.EPERM, 'hard links')
  })

  t.test('a file renamed before its upload is uploaded once, under its final name', async t => {
    const { s, key, prefix } = await fresh(t, { commit_delay: '30' })
    const root = await s.root()
    const before = ops(s)
    const tmp = await file(s, root.id, '.f.tmp123')
    await s.writeBlocks(tmp.id, [{ index: 0, data: pattern(5000, 3) }], 5000, { sec: 1, nsec: 0 })
    await s.flush?.(tmp.id)
    await s.setattr(tmp.id, { mode: 0o644, mtime: { sec: 1234, nsec: 0 } })
    const r = await s.rename(root.id, '.f.tmp123', root.id, 'f', 0)
    t.same(r.moved, [{ from: tmp.id, to: `${prefix}/f`, subtree: false }], 'the identity change is reported')
    const f = await must(s, root.id, 'f')
    await s.sync(f.id)
    const after = ops(s)
    t.equal(delta(before, after, 'PutObject'), 1, 'one PUT')
    t.equal(delta(before, after, 'CopyObject'), 0, 'no server-side copy')
    t.equal(delta(before, after, 'DeleteObject'), 0, 'nothing to delete')
    t.same(await listKeys(c, bucket, `${prefix}/`), [key('f')], 'only the final key exists')
    t.equal(md5(await getBody(c, bucket, key('f'))), md5(pattern(5000, 3)), 'with the data')
    t.equal((await c.send(new HeadObjectCommand({ Bucket: bucket, Key: key('f') }))).Metadata?.mtime, '1234', 'and the attributes set before the rename')
  })

  t.test('close commits after commit_delay; fsync at once', async t => {
    const { s, key } = await fresh(t, { commit_delay: '0.2' })
    const root = await s.root()
    const f = await file(s, root.id, 'f')
    await s.writeBlocks(f.id, [{ index: 0, data: pattern(10, 1) }], 10, { sec: 1, nsec: 0 })
    await s.flush?.(f.id)
    await new Promise(resolve => setTimeout(resolve, 1500))
    t.equal(md5(await getBody(c, bucket, key('f'))), md5(pattern(10, 1)), 'uploaded after the delay, with no further call')
    const g = await file(s, root.id, 'g')
    await s.writeBlocks(g.id, [{ index: 0, data: pattern(10, 2) }], 10, { sec: 1, nsec: 0 })
    await s.sync(g.id)
    t.equal(md5(await getBody(c, bucket, key('g'))), md5(pattern(10, 2)), 'fsync uploads before it returns')
  })

  t.test('an unlinked file lives on for its open handles while all of it is here, and never reaches the server', async t => {
    const cache = mkdtempSync(join(tmpdir(), 'objfs-s3-unlinked-'))
    t.teardown(() => { rmSync(cache, { recursive: true, force: true }) })
    const { s, key } = await fresh(t, { commit_delay: '0.2', cache_dir: cache })
    const root = await s.root()
    const before = ops(s)
    const f = await file(s, root.id, 'f')
    await s.writeBlocks(f.id, [{ index: 0, data: pattern(100, 1) }], 100, { sec: 1, nsec: 0 })
    await s.flush?.(f.id)
    const r = await s.remove(root.id, 'f', false)
    t.ok(r.orphan !== undefined, 'a file not uploaded yet is kept, under an unlinked id')
    const o = r.orphan as ObjectId
    await s.writeBlocks(o, [{ index: 1, data: pattern(10, 2) }], BS + 10, { sec: 1, nsec: 0 })
    await s.setattr(o, { mode: 0o600 })
    await s.setxattr(o, 'user.k', new Uint8Array([1]), 0)
    await s.flush?.(o)
    await s.sync(o)
    const u = await s.createUnnamed?.(root.id, { mode: S_IFREG | 0o600, uid: 0, gid: 0 }) as ObjectAttr
    await s.writeBlocks(u.id, [{ index: 0, data: pattern(10, 3) }], 10, { sec: 1, nsec: 0 })
    await s.sync(u.id)
    await new Promise(resolve => setTimeout(resolve, 800))
    t.equal(delta(before, ops(s), 'PutObject') + delta(before, ops(s), 'CreateMultipartUpload'), 0, 'nothing uploaded, past commit_delay and after fsync')
    t.same(await listKeys(c, bucket, key('')), [], 'no key in the bucket')
    t.match(await s.getattr(o), { size: BS + 10, nlink: 0, mode: S_IFREG | 0o600 }, 'the orphan keeps its attributes')
    t.same(await s.readBlock(o, 0, 0, 100), pattern(100, 1), 'and its data')
    t.same(await s.getxattr(o, 'user.k'), new Uint8Array([1]), 'and its xattrs')
    t.same(await s.readBlock(u.id, 0, 0, 10), pattern(10, 3), 'an unnamed file likewise')

    const g = await file(s, root.id, 'g')
    await s.writeBlocks(g.id, [{ index: 0, data: pattern(10, 4) }], 10, { sec: 1, nsec: 0 })
    await s.sync(g.id)
    const rg = await s.remove(root.id, 'g', false)
    t.ok(rg.orphan !== undefined && rg.orphan !== o, 'an uploaded file gets an unlinked id of its own too')
    await rejectsErrno(t, s.getattr(rg.orphan as ObjectId), E.ENOENT, 'but is deleted at once: nothing is kept under it')
    await rejectsErrno(t, s.readBlock(rg.orphan as ObjectId, 0, 0, 10), E.ENOENT, 'its reads fail from then on')
    await rejectsErrno(t, s.getattr(g.id), E.ENOENT, 'nor under its key')
    t.same(await listKeys(c, bucket, key('')), [], 'and its key is gone')

    const staged = (): string[] => readdirSync(cache, { recursive: true }).map(String).filter(n => n.endsWith('.stage'))
    t.ok(staged().length >= 2, 'the kept files are staged')
    await s.reclaim(o)
    await rejectsErrno(t, s.getattr(o), E.ENOENT, 'reclaim frees the orphan')
    await s.close()
    t.same(staged(), [], 'close frees what was never reclaimed')
  })

  t.test('large files: multipart upload, appends copy untouched parts on the server', async t => {
    const MiB = 1024 * 1024
    const { s, key } = await fresh(t, {}, MiB)
    const root = await s.root()
    const f = await file(s, root.id, 'big')
    const blocks = Array.from({ length: 12 }, (_, i) => ({ index: i, data: pattern(MiB, i) }))
    const whole = new Uint8Array(12 * MiB)
    blocks.forEach(b => whole.set(b.data, b.index * MiB))
    let before = ops(s)
    await s.writeBlocks(f.id, blocks, 12 * MiB, { sec: 1, nsec: 0 })
    await s.sync(f.id)
    let after = ops(s)
    t.equal(delta(before, after, 'CreateMultipartUpload'), 1, '12 MiB is a multipart upload')
    t.equal(delta(before, after, 'UploadPart'), 3, 'of three 5 MiB parts')
    t.equal(md5(await getBody(c, bucket, key('big'))), md5(whole), 'the object is the file')
    before = ops(s)
    const tail = pattern(1000, 99)
    await s.writeBlocks(f.id, [{ index: 12, data: tail }], 12 * MiB + 1000, { sec: 2, nsec: 0 })
    await s.sync(f.id)
    after = ops(s)
    t.equal(delta(before, after, 'UploadPartCopy'), 2, 'the untouched parts are copied on the server')
    t.equal(delta(before, after, 'UploadPart'), 1, 'only the changed part is uploaded')
    const grown = new Uint8Array(12 * MiB + 1000)
    grown.set(whole)
    grown.set(tail, 12 * MiB)
    t.equal(md5(await getBody(c, bucket, key('big'))), md5(grown), 'the appended object is right')
    const mid = pattern(MiB, 7)
    await s.writeBlocks(f.id, [{ index: 6, data: mid }], 0, { sec: 3, nsec: 0 })
    await s.sync(f.id)
    grown.set(mid, 6 * MiB)
    t.equal(md5(await getBody(c, bucket, key('big'))), md5(grown), 'a write in the middle makes a correct new version')
  })

  t.test('reads: head of a large object is one small GET; sequential reads fetch ahead', async t => {
    const MiB = 1024 * 1024
    const { s, key } = await fresh(t, {}, 8 * MiB)
    const big = new Uint8Array(32 * MiB)
    for (let i = 0; i < big.byteLength; i += 4096) big[i] = (i / 4096) % 251
    await put(key('big'), big)
    const root = await s.root()
    const f = await must(s, root.id, 'big')
    let b0 = backend(s)
    let o0 = ops(s)
    t.same(await s.readBlock(f.id, 0, 0, 100), big.subarray(0, 100), 'head -c 100')
    let b1 = backend(s)
    t.equal(delta(o0, ops(s), 'GetObject'), 1, 'one GET')
    t.ok(b1.bytesFetched - b0.bytesFetched <= 256 * 1024, `of at most 256 KiB (${b1.bytesFetched - b0.bytesFetched})`)
    b0 = backend(s)
    o0 = ops(s)
    const step = 128 * 1024
    for (let pos = 0; pos < big.byteLength; pos += step) {
      const got = await s.readBlock(f.id, Math.floor(pos / (8 * MiB)), pos % (8 * MiB), step)
      if (got === null || md5(got) !== md5(big.subarray(pos, pos + step))) {
        t.fail(`bytes at ${pos}`)
        return
      }
    }
    b1 = backend(s)
    const gets = delta(o0, ops(s), 'GetObject')
    t.ok(gets < 20, `a 32 MiB sequential read took ${gets} GETs`)
    t.ok(b1.bytesFetched - b0.bytesFetched <= 32 * MiB + 16 * MiB, 'and fetched little more than the object')
  })

  t.test('a changed object is never served from the cache of its old version', async t => {
    const { s, key } = await fresh(t, { metadata_ttl: '0' })
    await put(key('f'), 'old content')
    const root = await s.root()
    const f = await must(s, root.id, 'f')
    t.same(await s.readBlock(f.id, 0, 0, 11), new TextEncoder().encode('old content'))
    await put(key('f'), 'NEW CONTENT')
    t.same(await s.readBlock(f.id, 0, 0, 11), new TextEncoder().encode('NEW CONTENT'), 'the new version is read')
  })

  t.test('a directory of many keys lists without a request per entry', async t => {
    const { s, key } = await fresh(t)
    const n = 2500
    for (let i = 0; i < n; i += 100) {
      await Promise.all(Array.from({ length: Math.min(100, n - i) }, async (_, j) => await put(key(`many/f${String(i + j).padStart(5, '0')}`), 'x')))
    }
    const root = await s.root()
    const d = await must(s, root.id, 'many')
    const before = ops(s)
    const names: string[] = []
    let attrs: ObjectAttr[] = []
    const partial: Array<DirEntry['partial']> = []
    let after: string | null = null
    do {
      const page = await s.list(d.id as ObjectId, after, 1000)
      names.push(...page.entries.map(e => e.name))
      attrs = attrs.concat(page.entries.map(e => e.attr))
      partial.push(...page.entries.map(e => e.partial))
      after = page.next
    } while (after !== null)
    const used = ops(s)
    t.equal(names.length, n, 'every key listed')
    t.equal(new Set(names).size, n, 'once')
    t.equal(delta(before, used, 'ListObjectsV2'), 3, 'three LIST pages')
    t.equal(delta(before, used, 'HeadObject'), 0, 'no HEAD per entry')
    t.ok(attrs.every(a => a.size === 1 && (a.mode & S_IFMT) === S_IFREG), 'attributes guessed from the listing')
    t.ok(partial.every(p => p?.typeKnown === false), 'and marked as guesses (a small object may be a symlink)')
  })

  t.test('past metadata_ttl, one LIST a directory revalidates its names: no HEAD for an unchanged one', async t => {
    const ttlMs = 400
    const { s, key } = await fresh(t, { metadata_ttl: String(ttlMs / 1000) })
    const sleep = async (ms: number): Promise<void> => await new Promise(resolve => setTimeout(resolve, ms))
    for (const n of ['f1', 'f2', 'f3']) await put(key(`d/${n}`), n, { mode: String(S_IFREG | 0o600), mtime: '1700000000' })
    const root = await s.root()
    const d = await must(s, root.id, 'd')
    const first = await Promise.all(['f1', 'f2', 'f3'].map(async n => await must(s, d.id, n)))
    await sleep(ttlMs + 100)

    let before = ops(s)
    const again = await Promise.all(['f1', 'f2', 'f3'].map(async n => await must(s, d.id, n)))
    t.equal(delta(before, ops(s), 'ListObjectsV2'), 1, 'one LIST of the directory')
    t.equal(delta(before, ops(s), 'HeadObject'), 0, 'no HEAD per name: the listing shows the same versions')
    t.same(again, first, 'the attributes they had, metadata included')

    before = ops(s)
    t.same((await s.list(d.id, null, 100)).entries.map(e => [e.name, e.attr.mode]), [['f1', S_IFREG | 0o600], ['f2', S_IFREG | 0o600], ['f3', S_IFREG | 0o600]],
      'readdir within the TTL: the names and their attributes')
    t.equal(delta(before, ops(s), 'ListObjectsV2'), 0, 'from that listing, no LIST')

    before = ops(s)
    await s.create(d.id, 'sub', { mode: S_IFDIR | 0o755, uid: 0, gid: 0 })
    t.equal((await s.getattr(d.id)).nlink, 3, 'mkdir counts the new subdirectory')
    t.equal(delta(before, ops(s), 'ListObjectsV2'), 0, 'without listing the parent again')

    // Another client changes f2's mode only: same ETag, later Last-Modified (S3 keeps seconds).
    await sleep(1100)
    await c.send(new CopyObjectCommand({
      Bucket: bucket, Key: key('d/f2'), CopySource: `${bucket}/${key('d/f2')}`, MetadataDirective: 'REPLACE', Metadata: { mode: String(S_IFREG | 0o644) },
    }))
    await sleep(ttlMs + 100)
    before = ops(s)
    t.equal((await must(s, d.id, 'f2')).mode, S_IFREG | 0o644, 'a metadata-only change by another client is seen')
    t.equal(delta(before, ops(s), 'HeadObject'), 1, 'by a HEAD, since the listing shows a new Last-Modified')
  })

  t.test('a file uploaded after a lookup listed its directory stays in the listing and in lookups', async t => {
    const ttlMs = 1000
    const { s } = await fresh(t, { metadata_ttl: String(ttlMs / 1000), commit_delay: '60' })
    const root = await s.root()
    const d = await s.create(root.id, 'd', { mode: S_IFDIR | 0o755, uid: 0, gid: 0 })
    const f = await file(s, d.id, 'f')
    await s.writeBlocks(f.id, [{ index: 0, data: pattern(10, 1) }], 10, { sec: 1, nsec: 0 })
    await new Promise(resolve => setTimeout(resolve, ttlMs + 100))
    // Past the TTL a lookup of another name lists the directory while f is
    // only staged: the server does not have it yet.
    t.equal(await s.lookup(d.id, 'other'), null)
    await s.sync(f.id)
    t.same((await s.list(d.id, null, 100)).entries.map(e => e.name), ['f'], 'readdir after the upload shows it')
    t.equal((await s.lookup(d.id, 'f'))?.size, 10, 'and a lookup finds it')
  })

  t.test('renaming a directory moves every key below it', async t => {
    const { s, key, prefix } = await fresh(t)
    await put(key('d/a'), 'a')
    await put(key('d/sub/b'), 'b')
    const root = await s.root()
    const r = await s.rename(root.id, 'd', root.id, 'e', 0)
    t.same(r.moved, [{ from: `${prefix}/d/`, to: `${prefix}/e/`, subtree: true }], 'a subtree move is reported')
    t.same((await listKeys(c, bucket, `${prefix}/`)).sort(), [key('e/a'), key('e/sub/b')], 'the keys moved')
    const e = await must(s, root.id, 'e')
    t.ok(await s.lookup((await must(s, e.id, 'sub')).id, 'b'), 'and are found under the new name')
  })

  t.test('opening refuses what cannot be mounted, in one line', async t => {
    const missing = S3Store.open(configFor('x'), { bucket: 'no-such-bucket-objfs', prefix: '' })
    await t.rejects(missing, /bucket 'no-such-bucket-objfs' does not exist/, 'a missing bucket')
    const saved = process.env.AWS_SECRET_ACCESS_KEY
    process.env.AWS_SECRET_ACCESS_KEY = 'wrong-secret'
    try {
      await t.rejects(S3Store.open(configFor('y'), { bucket, prefix: 'y' }), /denied|credentials/, 'wrong credentials')
    } finally {
      process.env.AWS_SECRET_ACCESS_KEY = saved
    }
    await t.rejects(S3Store.open(configFor('x', { endpoint: 'http://127.0.0.1:9' }), { bucket, prefix: 'x' }), /cannot reach S3 at http:\/\/127\.0\.0\.1:9/, 'an endpoint that does not answer')
  })
}
