// S3Store when S3 misbehaves: throttling is retried with backoff, a lost
// network is EIO after the retries and the store serves again once it is
// back; S3 errors map to errno in one place. Between the store and Ceph
// sits a small HTTP proxy that can answer 503 SlowDown or drop connections.
import type { Server } from 'node:http'
import { PutObjectCommand } from '@aws-sdk/client-s3'
import t from 'tap'
import { errno as E } from '../../src/errors.ts'
import { s3Errno } from '../../src/store/s3/client.ts'
import { S3Store } from '../../src/store/s3/store.ts'
import { client, deletePrefix, s3Proxy, s3Tier, testBucket, uniquePrefix } from '../s3-env.ts'
import { must, rejectsErrno } from './conformance/helpers.ts'

t.test('S3 errors map to errno', async t => {
  const cases: Array<[unknown, number]> = [
    [{ name: 'NoSuchKey' }, E.ENOENT],
    [{ name: 'NotFound', $metadata: { httpStatusCode: 404 } }, E.ENOENT],
    [{ name: 'AccessDenied' }, E.EACCES],
    [{ name: 'Unknown', $metadata: { httpStatusCode: 403 } }, E.EACCES],
    [{ name: 'SlowDown', $metadata: { httpStatusCode: 503 } }, E.EIO],
    [Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), E.EIO],
    [{ name: 'EntityTooLarge' }, E.EFBIG],
  ]
  for (const [err, errno] of cases) t.equal(s3Errno(err), errno, JSON.stringify(err))
})

interface Proxy {
  endpoint: string
  mode: 'pass' | 'down'
  slowDowns: number
  server: Server
}

async function proxyTo (endpoint: string): Promise<Proxy> {
  const p: Proxy = { endpoint: '', mode: 'pass', slowDowns: 0, server: undefined as unknown as Server }
  const proxy = await s3Proxy(endpoint, (req, res) => {
    if (p.mode === 'down') { req.socket.destroy(); return true }
    if (p.slowDowns > 0) {
      p.slowDowns--
      res.writeHead(503, { 'content-type': 'application/xml' })
      res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>')
      return true
    }
    return false
  })
  return Object.assign(p, proxy)
}

const env = await s3Tier(t)
if (env !== undefined) {
  const c = client(env)
  const bucket = await testBucket(c)
  t.teardown(() => { c.destroy() })

  t.test('throttling is retried; a lost network is EIO; then it serves again', async t => {
    const proxy = await proxyTo(env.endpoint)
    t.teardown(() => { proxy.server.closeAllConnections(); proxy.server.close() })
    const prefix = uniquePrefix('faults')
    for (const k of ['a', 'b', 'c']) await c.send(new PutObjectCommand({ Bucket: bucket, Key: `${prefix}/${k}`, Body: `content of ${k}` }))
    const s = await S3Store.open({ url: `s3://${bucket}/${prefix}`, blockSize: 65536, readOnly: false, create: false, options: { endpoint: proxy.endpoint, metadata_ttl: '0' } }, { bucket, prefix })
    t.teardown(async () => {
      await s.close()
      await deletePrefix(c, bucket, `${prefix}/`)
    })
    const root = await s.root()

    proxy.slowDowns = 3
    const a = await must(s, root.id, 'a')
    t.same(await s.readBlock(a.id, 0, 0, 12), new TextEncoder().encode('content of a'), 'served through three 503 SlowDown answers')
    t.equal(proxy.slowDowns, 0, 'each of which was retried')

    proxy.mode = 'down'
    proxy.server.closeAllConnections()
    const started = Date.now()
    await rejectsErrno(t, s.lookup(root.id, 'b'), E.EIO, 'no network: a lookup fails')
    await rejectsErrno(t, s.readBlock(a.id, 0, 0, 12), E.EIO, 'and so does a read')
    t.ok(Date.now() - started < 120_000, `after the retries, in ${Date.now() - started} ms`)

    proxy.mode = 'pass'
    const b = await must(s, root.id, 'b')
    t.same(await s.readBlock(b.id, 0, 0, 12), new TextEncoder().encode('content of b'), 'the network back, the same store serves again')
  })
}
