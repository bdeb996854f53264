// S3Store staged files across a crash of the serving process (recover.ts,
// manifest.ts): a process that wrote and did not upload is killed (kill -9);
// a successor under the same keeper takes its staged files over, shows them
// as they were, and uploads them. A fresh mount discards them, and leaves
// alone those of another keeper still alive.
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { GetObjectCommand, HeadObjectCommand, ListMultipartUploadsCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3'
import t, { type Test } from 'tap'
import { S3Store } from '../../src/store/s3/store.ts'
import type { ObjectId, StoreConfig } from '../../src/store/types.ts'
import { client, deletePrefix, s3Tier, testBucket, uniquePrefix } from '../s3-env.ts'
import { must, pattern, readRange } from './conformance/helpers.ts'

t.setTimeout(300_000)

const BS = 1024 * 1024
const here = dirname(fileURLToPath(import.meta.url))

const concat = (...parts: Uint8Array[]): Buffer => Buffer.concat(parts)

async function getObject (c: S3Client, bucket: string, key: string): Promise<{ body: Buffer, metadata: Record<string, string> }> {
  const r = await c.send(new GetObjectCommand({ Bucket: bucket, Key: key }))
  return { body: Buffer.from(await (r.Body as { transformToByteArray: () => Promise<Uint8Array> }).transformToByteArray()), metadata: r.Metadata ?? {} }
}

async function exists (c: S3Client, bucket: string, key: string): Promise<boolean> {
  try {
    await c.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))
    return true
  } catch {
    return false
  }
}

/** All manifests under cacheDir, as text. */
const manifests = (cacheDir: string): string[] => existsSync(cacheDir)
  ? readdirSync(cacheDir).flatMap(d => existsSync(join(cacheDir, d)) && !d.endsWith('.json')
    ? readdirSync(join(cacheDir, d)).filter(n => n.endsWith('.manifest')).map(n => readFileSync(join(cacheDir, d, n), 'utf8'))
    : [])
  : []

const env = await s3Tier(t)
if (env !== undefined) {
  const c = client(env)
  const bucket = await testBucket(c)
  t.teardown(() => { c.destroy() })

  const setup = (t: Test): { prefix: string, cacheDir: string, options: Record<string, string> } => {
    const prefix = uniquePrefix('recover')
    const cacheDir = mkdtempSync(join(tmpdir(), 'objfs-recover-'))
    t.teardown(async () => {
      await deletePrefix(c, bucket, `${prefix}/`)
      rmSync(cacheDir, { recursive: true, force: true })
    })
    return { prefix, cacheDir, options: { endpoint: env.endpoint, cache_dir: cacheDir, commit_delay: '3600', part_size: '5M', stream_threshold: '12M', upload_buffer: '20M' } }
  }

  /** Run the writer (s3-recover-child.ts) until it has staged everything, then kill -9 it. */
  async function crashWriter (t: Test, job: { prefix: string, options: Record<string, string>, keeper: number | undefined }, cacheDir: string, waitUpload: boolean): Promise<void> {
    const child = spawn(process.execPath, [join(here, 's3-recover-child.ts'), JSON.stringify({ ...job, bucket, blockSize: BS })], { stdio: ['ignore', 'pipe', 'pipe'] })
    t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
    let out = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d })
    child.stderr.setEncoding('utf8').on('data', (d: string) => { out += d })
    const exited = new Promise<void>(resolve => child.on('close', () => { resolve() }))
    const until = Date.now() + 120_000
    while (!out.includes('ready')) {
      if (Date.now() > until || child.exitCode !== null) throw new Error(`the writer did not get ready: ${out}`)
      await new Promise(resolve => setTimeout(resolve, 50))
    }
    // The streaming file's upload id reaches its manifest when CreateMultipartUpload answers.
    while (waitUpload && !manifests(cacheDir).some(m => m.includes('"uploadId":"'))) {
      if (Date.now() > until) throw new Error('no multipart upload recorded')
      await new Promise(resolve => setTimeout(resolve, 50))
    }
    child.kill('SIGKILL')
    await exited
  }

  const open = async (prefix: string, options: Record<string, string>, takeover: StoreConfig['takeover']): Promise<S3Store> => await S3Store.open({
    url: `s3://${bucket}/${prefix}`, blockSize: BS, readOnly: false, create: true, options, takeover,
  }, { bucket, prefix })

  const wantF = concat(pattern(BS, 0), pattern(BS, 1), pattern(BS, 2), pattern(1000, 3))
  const baseBytes = concat(pattern(BS, 50), pattern(BS, 51))
  const wantEdited = concat(pattern(BS, 50), pattern(BS, 77))
  const wantBig = concat(...Array.from({ length: 16 }, (_, i) => pattern(BS, 100 + i)))

  t.test('a successor under the same keeper takes over the staged files and uploads them', async t => {
    const { prefix, cacheDir, options } = setup(t)
    const key = (k: string): string => `${prefix}/${k}`
    await c.send(new PutObjectCommand({ Bucket: bucket, Key: key('edited'), Body: baseBytes }))
    await crashWriter(t, { prefix, options, keeper: process.pid }, cacheDir, true)
    t.notOk(await exists(c, bucket, key('f')), 'nothing was uploaded before the crash')
    t.same((await c.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: `${prefix}/` }))).Uploads?.map(u => u.Key), [key('big')], 'the dead process left its multipart upload')

    // A fresh mount elsewhere (no takeover) leaves alone what belongs to a keeper still alive.
    const other = await open(prefix, options, undefined)
    t.notOk(await other.lookup((await other.root()).id, 'f'), 'a fresh mount does not see the staged files')
    await other.close()
    t.equal(manifests(cacheDir).length, 4, 'and leaves them for the keeper\'s next process')

    const s = await open(prefix, options, { keeper: process.pid, resumed: true })
    let closed = false
    t.teardown(async () => { if (!closed) await s.close() })
    const root = (await s.root()).id
    const f = await must(s, root, 'f')
    t.equal(f.size, wantF.byteLength, 'the size as written')
    t.equal(f.mode, 0o100600, 'the mode as changed')
    t.equal(f.uid, 1234, 'the owner')
    t.equal(f.mtime.sec, 1_700_000_000, 'the mtime of the writes')
    t.equal(Buffer.from(await s.getxattr(f.id, 'user.k')).toString(), 'v', 'the xattr')
    t.ok(Buffer.from(await readRange(s, f.id, 0, wantF.byteLength)).equals(wantF), 'the bytes as written')
    t.notOk(await s.lookup(root, '.tmp'), 'the renamed file is gone from its old name')
    const renamed = await must(s, root, 'renamed')
    t.ok(Buffer.from(await readRange(s, renamed.id, 0, 5000)).equals(Buffer.from(pattern(5000, 9))), 'and is under its new one')
    t.notOk(await s.lookup(root, 'gone'), 'a file unlinked does not come back')
    const edited = await must(s, root, 'edited')
    t.ok(Buffer.from(await readRange(s, edited.id, 0, 2 * BS)).equals(wantEdited), 'an edit reads the server\'s base where not written')
    const big = await must(s, root, 'big')
    t.equal(big.size, wantBig.byteLength, 'the file that was streaming has its size')
    const names = (await s.list(root, null, 100)).entries.map(e => e.name).sort()
    t.same(names, ['big', 'edited', 'f', 'renamed'], 'the listing shows the staged files')
    // The dead process's upload is aborted in the background.
    const until = Date.now() + 30_000
    while (((await c.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: `${prefix}/` }))).Uploads ?? []).length > 0) {
      if (Date.now() > until) break
      await new Promise(resolve => setTimeout(resolve, 200))
    }
    t.same((await c.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: `${prefix}/` }))).Uploads ?? [], [], 'the dead process\'s multipart upload is aborted')

    await s.sync(f.id as ObjectId)
    const got = await getObject(c, bucket, key('f'))
    t.ok(got.body.equals(wantF), 'fsync uploads the taken-over file with its bytes')
    t.equal(got.metadata.mode, String(0o100600), 'and its mode')
    closed = true
    await s.close()
    t.ok((await getObject(c, bucket, key('renamed'))).body.equals(Buffer.from(pattern(5000, 9))), 'close uploads the rest: the renamed file')
    t.ok((await getObject(c, bucket, key('edited'))).body.equals(wantEdited), 'the edit')
    t.ok((await getObject(c, bucket, key('big'))).body.equals(wantBig), 'the large file')
    t.notOk(await exists(c, bucket, key('.tmp')), 'nothing under the temporary name')
    t.notOk(await exists(c, bucket, key('gone')), 'nor the unlinked file')
    t.same(readdirSync(cacheDir), [], 'no staging directory left')
  })

  t.test('a second crash before the upload: the next successor takes the files over again', async t => {
    const { prefix, cacheDir, options } = setup(t)
    const key = (k: string): string => `${prefix}/${k}`
    await c.send(new PutObjectCommand({ Bucket: bucket, Key: key('edited'), Body: baseBytes }))
    const noStream = { ...options }
    delete noStream.stream_threshold
    await crashWriter(t, { prefix, options: noStream, keeper: process.pid }, cacheDir, false)
    // The first successor takes over, then dies too (its session is simply never closed: run in a child).
    const child = spawn(process.execPath, ['--input-type=module', '-e', `
      const { S3Store } = await import(${JSON.stringify(join(here, '../../src/store/s3/store.ts'))})
      const s = await S3Store.open({ url: 's3://${bucket}/${prefix}', blockSize: ${BS}, readOnly: false, create: true, options: ${JSON.stringify(noStream)}, takeover: { keeper: ${process.pid}, resumed: true } }, { bucket: '${bucket}', prefix: '${prefix}' })
      const root = (await s.root()).id
      const f = await s.lookup(root, 'f')
      await s.writeBlocks(f.id, [{ index: 4, data: new Uint8Array([1, 2, 3]) }], ${4 * BS + 3}, { sec: 1, nsec: 0 })
      console.log('ready ' + f.size)
      setInterval(() => {}, 1000)
    `], { stdio: ['ignore', 'pipe', 'pipe'] })
    t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
    let out = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d })
    child.stderr.setEncoding('utf8').on('data', (d: string) => { out += d })
    const until = Date.now() + 60_000
    while (!out.includes('ready')) {
      if (Date.now() > until || child.exitCode !== null) throw new Error(`the first successor did not get ready: ${out}`)
      await new Promise(resolve => setTimeout(resolve, 50))
    }
    t.match(out, `ready ${wantF.byteLength}`, 'the first successor saw the file')
    const exited = new Promise(resolve => child.on('close', resolve))
    child.kill('SIGKILL')
    await exited

    const s = await open(prefix, noStream, { keeper: process.pid, resumed: true })
    const root = (await s.root()).id
    const f = await must(s, root, 'f')
    const want = concat(wantF, new Uint8Array(BS - 1000), new Uint8Array([1, 2, 3]))
    t.equal(f.size, want.byteLength, 'the second successor sees the first one\'s write too')
    await s.close()
    t.ok((await getObject(c, bucket, key('f'))).body.equals(want), 'and uploads it all at close')
    t.ok((await getObject(c, bucket, key('edited'))).body.equals(wantEdited), 'the edit too')
  })

  t.test('a fresh mount discards what a dead daemon with no keeper staged', async t => {
    const { prefix, cacheDir, options } = setup(t)
    const noStream = { ...options }
    delete noStream.stream_threshold
    await c.send(new PutObjectCommand({ Bucket: `${bucket}`, Key: `${prefix}/edited`, Body: baseBytes }))
    await crashWriter(t, { prefix, options: noStream, keeper: undefined }, cacheDir, false)
    t.equal(manifests(cacheDir).length, 3, 'the dead daemon left its manifests')
    const s = await open(prefix, noStream, { keeper: process.pid, resumed: true })
    t.notOk(await s.lookup((await s.root()).id, 'f'), 'nothing of it is taken over, even by a takeover')
    await s.close()
    t.same(readdirSync(cacheDir), [], 'its staging directory is removed')
    t.notOk(await exists(c, bucket, `${prefix}/f`), 'nor uploaded')
  })
}
