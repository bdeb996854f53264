// One large sequential write and read back: 256 MiB through dd.
import t from 'tap'
import { dropCaches, mountObjfs, mountTier, q, shOk } from './harness.ts'

// Budget for a slow daemon: 256 MiB at ~2 MiB/s each way still fits.
t.setTimeout(900_000)

if (mountTier(t)) {
  t.test('dd of 256 MiB', async t => {
    const m = await mountObjfs(t)
    const M = q(m.mountpoint)
    const S = q(m.scratch)
    await shOk(`head -c 256M /dev/urandom > ${S}/src`, { timeoutMs: 120_000 })
    const want = await shOk(`sha256sum < ${S}/src`, { timeoutMs: 120_000 })

    await shOk(`dd if=${S}/src of=${M}/big bs=1M conv=fsync status=none`, { timeoutMs: 400_000 })
    t.equal(await shOk(`stat -c %s ${M}/big`), '268435456\n', 'the size is right')
    await dropCaches()
    t.equal(await shOk(`dd if=${M}/big bs=1M status=none | sha256sum`, { timeoutMs: 400_000 }), want,
      'read back with cold caches, the checksum matches the source')
  })
}
