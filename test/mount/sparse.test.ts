// A 1 GiB sparse file: tools that read only its ends must not make the
// daemon fetch the whole thing. A sparse file shows the blocks it holds,
// so that du counts them and cp and tar keep its holes.
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

  t.test('st_blocks counts what a file holds: du, cp and tar keep a sparse file sparse', async t => {
    const m = await mountObjfs(t)
    const M = q(m.mountpoint)
    const S = q(m.scratch)
    await shOk(`
      truncate -s 64M ${M}/sparse
      printf middle | dd of=${M}/sparse bs=1 seek=${10 * MiB} conv=notrunc status=none
      head -c ${5 * MiB} /dev/urandom > ${M}/dense
    `, { timeoutMs: 60_000 })
    const blocks = async (f: string): Promise<number> => Number(await shOk(`stat -c %b ${f}`))
    t.equal(await blocks(`${M}/dense`), 5 * MiB / 512, 'a dense file counts its size')
    const sparse = await blocks(`${M}/sparse`)
    t.ok(sparse > 0 && sparse <= MiB / 512, `a 64 MiB file holding 6 bytes counts ${sparse} blocks of 512`)
    t.ok(Number((await shOk(`du -B1 ${M}/sparse`)).split('\t')[0]) <= MiB, 'du says so too')
    // cp and tar look for holes only in a file with fewer blocks than its size needs.
    await shOk(`cp ${M}/sparse ${S}/copied && cp ${M}/sparse ${M}/copied`, { timeoutMs: 60_000 })
    t.equal(await shOk(`cmp ${M}/sparse ${S}/copied && cmp ${M}/sparse ${M}/copied && echo same`), 'same\n', 'the copies read the same')
    t.ok(await blocks(`${S}/copied`) <= MiB / 512, 'cp onto local disk left the holes holes')
    t.ok(await blocks(`${M}/copied`) <= MiB / 512, 'and onto the mount too')
    // Holes are found a block at a time (SEEK_DATA): the block holding the 6 bytes goes in whole.
    await shOk(`tar -cSf ${S}/a.tar -C ${M} sparse`, { timeoutMs: 60_000 })
    const archived = Number(await shOk(`stat -c %s ${S}/a.tar`))
    t.ok(archived < 4 * MiB, `tar --sparse archived ${archived} bytes of the 64 MiB`)
  })
}
