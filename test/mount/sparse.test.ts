// A 1 GiB sparse file: tools that read only its ends must not make the
// daemon fetch the whole thing.
import t from 'tap'
import { dropCaches, mountObjfs, mountTier, q, shOk } from './harness.ts'

const GiB = 1073741824
const MiB = 1048576

if (mountTier(t)) {
  t.test('head, tail and file on a 1 GiB sparse file', async t => {
    const m = await mountObjfs(t)
    const M = q(m.mountpoint)
    const S = q(m.scratch)
    // A gzip header at the start gives `file` something to recognise; a
    // marker just before the end gives tail something to find. The same
    // steps on local disk give the reference answers.
    const make = (f: string): string => `
      truncate -s 1G ${f}
      echo hello | gzip -n | dd of=${f} conv=notrunc status=none
      printf 'THE-END-MARKER' | dd of=${f} bs=1 seek=${GiB - 100} conv=notrunc status=none`
    await shOk(make(`${S}/ref`))
    await shOk(make(`${M}/sparse`), { timeoutMs: 120_000 })
    await dropCaches()

    t.equal(await shOk(`stat -c %s ${M}/sparse`), `${GiB}\n`, 'the size is 1 GiB')
    const kind = await shOk(`file -b ${S}/ref`)
    t.match(kind, /gzip compressed data/, 'the reference is recognised')
    t.equal(await shOk(`file -b ${M}/sparse`), kind, 'file says the same on the mount')
    t.equal(await shOk(`head -c 100 ${M}/sparse | sha256sum`), await shOk(`head -c 100 ${S}/ref | sha256sum`), 'head -c 100')
    t.equal(await shOk(`tail -c 100 ${M}/sparse | od -An -c`), await shOk(`tail -c 100 ${S}/ref | od -An -c`), 'tail -c 100')
    t.match(await shOk(`tail -c 100 ${M}/sparse`), /THE-END-MARKER/)

    // Only what is read may come from the store: a 100-byte head costs at
    // most the kernel's read-ahead (128 KiB by default) plus the daemon's
    // own, never whole blocks of megabytes or the whole 1 GiB. Remounting
    // first empties the daemon's caches, so every byte comes from the store.
    await m.remount()
    for (const [name, cmd] of [['head -c 100', 'head -c 100'], ['tail -c 100', 'tail -c 100']]) {
      await dropCaches()
      const before = (await m.stats()).store.bytesRead
      await shOk(`${cmd} ${M}/sparse > /dev/null`)
      const after = (await m.stats()).store.bytesRead
      t.type(before, 'number', 'objfs.stats reports store.bytesRead')
      t.ok(after - before < MiB, `${name} read ${after - before} bytes from the store (< 1 MiB)`)
    }
  })
}
