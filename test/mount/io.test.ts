// Small reads and writes through the shell, and truncate in both directions.
import t from 'tap'
import { dropCaches, mountObjfs, mountTier, q, shOk } from './harness.ts'

if (mountTier(t)) {
  t.test('file contents', async t => {
    const m = await mountObjfs(t)
    const M = q(m.mountpoint)
    const S = q(m.scratch)

    t.test('echo and cat', async t => {
      await shOk(`echo 'hello objfs' > ${M}/greeting`)
      t.equal(await shOk(`cat ${M}/greeting`), 'hello objfs\n')
      await shOk(`echo 'second line' >> ${M}/greeting`)
      t.equal(await shOk(`cat ${M}/greeting`), 'hello objfs\nsecond line\n', '>> appends')
      await shOk(`echo short > ${M}/greeting`)
      t.equal(await shOk(`cat ${M}/greeting`), 'short\n', '> truncates the old, longer content')
      await shOk(`: > ${M}/empty`)
      t.equal(await shOk(`stat -c %s ${M}/empty && cat ${M}/empty`), '0\n', 'an empty file')
      await dropCaches()
      t.equal(await shOk(`cat ${M}/greeting`), 'short\n', 'the daemon, not the page cache, has it')
    })

    t.test('truncate up and down', async t => {
      t.equal(await shOk(`printf abcdefghij > ${M}/small && truncate -s 5 ${M}/small && cat ${M}/small`), 'abcde')
      await shOk(`truncate -s 8 ${M}/small`)
      await dropCaches()
      t.equal(await shOk(`od -An -c ${M}/small | tr -s ' '`), ' a b c d e \\0 \\0 \\0\n', 'growing exposes zeros, not the old bytes')

      // The same steps on local disk and on the mount must leave the same
      // bytes. The sizes cross block boundaries for any power-of-two block
      // size up to 4 MiB, and regrowing after a shrink is where stale data
      // would show through.
      await shOk(`head -c 9437184 /dev/urandom > ${S}/orig`)
      const steps = ['20M', '5000007', '6M', '4194304', '4194305', '1', '0', '3000000']
      for (const [i, size] of steps.entries()) {
        const prep = i === 0 ? `cp ${S}/orig ${S}/ref && cp ${S}/orig ${M}/big` : ':'
        await shOk(`${prep}; truncate -s ${size} ${S}/ref; truncate -s ${size} ${M}/big`, { timeoutMs: 120_000 })
        await dropCaches()
        const ref = await shOk(`stat -c %s ${S}/ref; sha256sum < ${S}/ref`)
        t.equal(await shOk(`stat -c %s ${M}/big; sha256sum < ${M}/big`, { timeoutMs: 120_000 }), ref, `truncate -s ${size}`)
      }
      // Writing past the end after a shrink leaves a zero-filled gap.
      await shOk(`printf tail | dd of=${S}/ref bs=1 seek=5000000 conv=notrunc status=none`)
      await shOk(`printf tail | dd of=${M}/big bs=1 seek=5000000 conv=notrunc status=none`)
      await dropCaches()
      t.equal(await shOk(`cmp ${S}/ref ${M}/big && stat -c %s ${M}/big`), '5000004\n', 'a write past the end fills the gap with zeros')
    })
  })
}
