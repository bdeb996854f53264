// Inode metadata: modes, owners, times and extended attributes.
import t from 'tap'
import { dropCaches, mountObjfs, mountTier, q, sh, shOk } from './harness.ts'

if (mountTier(t)) {
  t.test('metadata', async t => {
    const m = await mountObjfs(t)
    const M = q(m.mountpoint)
    await shOk(`mkdir ${M}/meta && echo x > ${M}/meta/f && mkdir ${M}/meta/d`)

    t.test('chmod', async t => {
      await shOk(`chmod 640 ${M}/meta/f && chmod 700 ${M}/meta/d`)
      await dropCaches()
      t.equal(await shOk(`stat -c '%a %A' ${M}/meta/f ${M}/meta/d`), '640 -rw-r-----\n700 drwx------\n')
      await shOk(`chmod 4755 ${M}/meta/f`)
      t.equal(await shOk(`stat -c %a ${M}/meta/f`), '4755\n', 'the setuid bit')
      await shOk(`chmod 644 ${M}/meta/f && chmod 755 ${M}/meta/d`)
    })

    t.test('chown', async t => {
      await shOk(`chown 1234:5678 ${M}/meta/f && chown 4321 ${M}/meta/d`)
      await dropCaches()
      t.equal(await shOk(`stat -c '%u:%g' ${M}/meta/f ${M}/meta/d`), '1234:5678\n4321:0\n')
      await shOk(`chgrp 99 ${M}/meta/f`)
      t.equal(await shOk(`stat -c '%u:%g' ${M}/meta/f`), '1234:99\n', 'chgrp keeps the owner')
    })

    t.test('touch -d', async t => {
      await shOk(`touch -d '2001-02-03 04:05:06.123456789 UTC' ${M}/meta/f`)
      await shOk(`touch -m -d '1999-12-31 23:59:59 UTC' ${M}/meta/d`)
      await shOk(`touch -a -d '2010-06-07 08:09:10 UTC' ${M}/meta/d`)
      await dropCaches()
      t.equal(await shOk(`stat -c '%.9X %.9Y' ${M}/meta/f`), '981173106.123456789 981173106.123456789\n',
        'atime and mtime to the nanosecond')
      t.equal(await shOk(`stat -c '%X %Y' ${M}/meta/d`), '1275898150 946684799\n', 'touch -a and -m set one time each')
      // A new file gets the current time.
      const now = Math.floor(Date.now() / 1000)
      const mtime = Number(await shOk(`touch ${M}/meta/fresh && stat -c %Y ${M}/meta/fresh`))
      t.ok(Math.abs(mtime - now) < 60, `touch of a new file stamps now (${mtime} vs ${now})`)
    })

    t.test('setfattr and getfattr', async t => {
      // Listing order is the filesystem's business: compare sorted.
      const dump = (f: string): string => `getfattr -d -m '^user\\.' ${f} | grep '^user' | sort`
      await shOk(`setfattr -n user.color -v blue ${M}/meta/f`)
      await shOk(`setfattr -n user.binary -v 0x00ff10 ${M}/meta/f`)
      await shOk(`setfattr -n user.empty ${M}/meta/f`)
      await shOk(`setfattr -n user.on-dir -v yes ${M}/meta/d`)
      await dropCaches()
      t.equal(await shOk(`getfattr --only-values -n user.color ${M}/meta/f`), 'blue')
      t.equal(await shOk(`getfattr --only-values -n user.binary ${M}/meta/f | od -An -tx1`), ' 00 ff 10\n', 'binary values')
      t.equal(await shOk(dump(`${M}/meta/f`)), 'user.binary=0sAP8Q\nuser.color="blue"\nuser.empty=""\n',
        'getfattr -d lists every attribute')
      t.equal(await shOk(dump(`${M}/meta/d`)), 'user.on-dir="yes"\n', 'on a directory too')
      await shOk(`setfattr -n user.color -v green ${M}/meta/f`)
      t.equal(await shOk(`getfattr --only-values -n user.color ${M}/meta/f`), 'green', 'replace')

      await shOk(`setfattr -x user.color ${M}/meta/f`)
      await dropCaches()
      const gone = await sh(`getfattr -n user.color ${M}/meta/f`, { timeoutMs: 30_000 })
      t.equal(gone.code, 1, 'a removed attribute is gone')
      t.match(gone.stderr, /No such attribute/)
      t.equal(await shOk(dump(`${M}/meta/f`)), 'user.binary=0sAP8Q\nuser.empty=""\n', 'the others remain')
      const again = await sh(`setfattr -x user.color ${M}/meta/f`, { timeoutMs: 30_000 })
      t.not(again.code, 0, 'removing it twice fails')
    })
  })
}
