// S3Store.onStale (src/store/s3/stale.ts): objects changed or deleted by
// another client are reported, from the watch rounds while the kernel may
// hold them, and from any answer of the server that differs; the store's
// own changes are not.
import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3'
import t from 'tap'
import { S3Store } from '../../src/store/s3/store.ts'
import type { StaleEvent } from '../../src/store/types.ts'
import { client, deletePrefix, s3Tier, testBucket, uniquePrefix } from '../s3-env.ts'
import { file, must, pattern } from './conformance/helpers.ts'

const env = await s3Tier(t)
if (env !== undefined) {
  const c = client(env)
  const bucket = await testBucket(c)
  t.teardown(() => { c.destroy() })

  const open = async (prefix: string, ttl: string): Promise<S3Store> => await S3Store.open(
    { url: `s3://${bucket}/${prefix}`, blockSize: 65536, readOnly: false, create: true, options: { endpoint: env.endpoint, metadata_ttl: ttl, commit_delay: '0' } },
    { bucket, prefix })

  const waitFor = async (events: StaleEvent[], n: number, ms: number): Promise<boolean> => {
    const until = Date.now() + ms
    while (events.length < n && Date.now() < until) await new Promise(resolve => setTimeout(resolve, 50))
    return events.length >= n
  }

  t.test('changes by others are reported while the kernel may hold the name; our own are not', async t => {
    const prefix = uniquePrefix('stale')
    const s = await open(prefix, '0.5')
    t.teardown(async () => {
      await s.close()
      await deletePrefix(c, bucket, `${prefix}/`)
    })
    const events: StaleEvent[] = []
    const off = s.onStale(e => { events.push(e) }, 3_600_000)
    await c.send(new PutObjectCommand({ Bucket: bucket, Key: `${prefix}/d/f`, Body: 'one' }))
    const root = await s.root()
    const d = await must(s, root.id, 'd')
    const f = await must(s, d.id, 'f')

    const mine = await file(s, d.id, 'mine')
    await s.writeBlocks(mine.id, [{ index: 0, data: pattern(10, 1) }], 10, { sec: 1, nsec: 0 })
    await s.flush(mine.id)
    await s.getattr(mine.id)
    await s.writeBlocks(mine.id, [{ index: 0, data: pattern(20, 2) }], 20, { sec: 2, nsec: 0 })
    await s.flush(mine.id)

    await c.send(new PutObjectCommand({ Bucket: bucket, Key: `${prefix}/d/f`, Body: 'two, longer' }))
    t.ok(await waitFor(events, 1, 5000), 'a change by another client is reported without any call (a watch round)')
    t.same(events, [{ id: f.id, parent: d.id, name: 'f', gone: false }], 'naming the object, its directory and its name')

    await c.send(new DeleteObjectCommand({ Bucket: bucket, Key: `${prefix}/d/f` }))
    t.ok(await waitFor(events, 2, 5000), 'a deletion too')
    t.same(events[1], { id: f.id, parent: d.id, name: 'f', gone: true }, 'as gone')
    await new Promise(resolve => setTimeout(resolve, 1500))
    t.equal(events.length, 2, 'once each, and nothing for the file this store wrote twice')

    off()
    await c.send(new PutObjectCommand({ Bucket: bucket, Key: `${prefix}/d/mine`, Body: 'theirs' }))
    await new Promise(resolve => setTimeout(resolve, 1500))
    t.equal(events.length, 2, 'no listener: nothing is watched')
  })

  t.test('kernel timeouts within metadata_ttl: nothing is watched, and no request is made for it', async t => {
    const prefix = uniquePrefix('stale')
    const s = await open(prefix, '5')
    t.teardown(async () => {
      await s.close()
      await deletePrefix(c, bucket, `${prefix}/`)
    })
    s.onStale(() => {}, 1000)
    await c.send(new PutObjectCommand({ Bucket: bucket, Key: `${prefix}/f`, Body: 'one' }))
    await must(s, (await s.root()).id, 'f')
    const before = s.counters().backend as Record<string, number>
    await new Promise(resolve => setTimeout(resolve, 1500))
    const after = s.counters().backend as Record<string, number>
    t.equal(after.requests, before.requests, 'no request while idle')
    t.equal(after.staleChecks, 0, 'no watch round checked anything')
  })
}
