// Objects changed or deleted behind an S3 mount by another client show up
// within metadata_ttl even though the kernel was told to cache names and
// attributes for an hour: the store notices (a HEAD of the files the kernel
// may hold, every metadata_ttl) and the daemon drops the kernel's copies
// with FUSE_NOTIFY_INVAL_INODE / _ENTRY, written from its notifier thread.
// Without those notifications the kernel would go on answering stat(2)
// and lookups from its caches for the hour: the old size, and a name that
// no longer exists. (An open(2) has this kernel ask for attributes anyway:
// the S3 store does not keep the page cache across opens.)
import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3'
import t from 'tap'
import { client, deletePrefix, s3Tier, testBucket, uniquePrefix } from '../s3-env.ts'
import { mountObjfs, mountTier, q, sh, shOk } from './harness.ts'

t.setTimeout(300_000)

const TTL_S = 1
/** metadata_ttl, a revalidation round, and room for a slow machine. */
const WITHIN_MS = TTL_S * 1000 + 1000 + 8000

/** Run `probe` (a bounded step) until it answers `want`; how long that took, or undefined. */
async function until (probe: () => Promise<string>, want: string, withinMs: number): Promise<{ ms: number | undefined, last: string }> {
  const start = Date.now()
  let last = ''
  while (Date.now() - start < withinMs) {
    last = await probe()
    if (last === want) return { ms: Date.now() - start, last }
    await new Promise(resolve => setTimeout(resolve, 200))
  }
  return { ms: undefined, last }
}

const env = mountTier(t) ? await s3Tier(t) : undefined
if (env !== undefined) {
  const c = client(env)
  const bucket = await testBucket(c)
  t.teardown(() => { c.destroy() })

  t.test('changes by another client reach the kernel\'s caches by notification', async t => {
    const prefix = uniquePrefix('notify')
    t.teardown(async () => { await deletePrefix(c, bucket, `${prefix}/`) })
    const put = async (name: string, body: string): Promise<void> => { await c.send(new PutObjectCommand({ Bucket: bucket, Key: `${prefix}/${name}`, Body: body })) }
    await put('f', 'version one\n')
    await put('d/g', 'to be deleted\n')
    const m = await mountObjfs(t, {
      source: `s3://${bucket}/${prefix}`,
      options: [`endpoint=${env.endpoint}`, `metadata_ttl=${TTL_S}`, 'entry_timeout=3600', 'attr_timeout=3600'],
    })
    const M = q(m.mountpoint)
    const step = { timeoutMs: 20_000 }

    t.equal(await shOk(`cat ${M}/f`, step), 'version one\n', 'the object reads through the mount')
    t.equal(await shOk(`stat -c %s ${M}/f ${M}/d/g`, step), '12\n14\n', 'and the kernel now holds both names and sizes')

    const longer = 'version two, which is longer\n'
    await put('f', longer)
    // stat(2) alone: no open, which would have the kernel ask for attributes anyway.
    const resized = await until(async () => (await sh(`stat -c %s ${M}/f`, step)).stdout, `${longer.length}\n`, WITHIN_MS)
    t.ok(resized.ms !== undefined, `stat shows the new size (after ${resized.ms} ms)`, { last: resized.last })
    t.equal(await shOk(`cat ${M}/f`, step), longer, 'and a read the new content')

    await c.send(new DeleteObjectCommand({ Bucket: bucket, Key: `${prefix}/d/g` }))
    const gone = await until(async () => (await sh(`test -e ${M}/d/g && echo present || echo absent`, step)).stdout, 'absent\n', WITHIN_MS)
    t.ok(gone.ms !== undefined, `the deleted object's name goes away (after ${gone.ms} ms)`, { last: gone.last })

    const backend = (await m.stats()).store.backend
    t.ok(backend.staleNoticed >= 2, `the store noticed both changes (${backend.staleNoticed})`)
  })
}
