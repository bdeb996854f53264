// Unmount and mount again: everything is still there, with the same inode
// numbers, so tools that remember st_ino (git's index, rsync -H, backup
// tools) are not fooled.
import t from 'tap'
import { isMounted } from '../../src/channel/unmount.ts'
import { mountObjfs, mountTier, q, sameLines, shOk } from './harness.ts'

if (mountTier(t)) {
  t.test('unmount and remount', async t => {
    const m = await mountObjfs(t)
    const M = q(m.mountpoint)
    await shOk(`
      cd ${M}
      mkdir -p tree/a/b tree/empty-dir
      echo small > tree/a/small
      : > tree/a/empty
      head -c 9000000 /dev/urandom > tree/a/b/multi-block
      truncate -s 100M tree/sparse && printf end | dd of=tree/sparse bs=1 seek=50000000 conv=notrunc status=none
      ln -s a/small tree/link
      ln tree/a/small tree/a/b/hard
      chmod 600 tree/a/small && chmod 711 tree/a
      chown 1000:1000 tree/a/b/multi-block
      touch -d '2020-01-02 03:04:05.5 UTC' tree/a/b
      setfattr -n user.kept -v yes tree/a/small
    `, { timeoutMs: 120_000 })
    // Inode numbers, then everything stat shows that must survive.
    const inodes = `cd ${M} && find . -printf '%i %p\\n' | sort -k2`
    const state = `cd ${M} && {
      find . -printf '%p %y %m %u %g %s %n %T@ %l\\n' | sort
      find . -type f -print0 | sort -z | xargs -0 sha256sum
      getfattr -R -d -m '^user\\.' . 2>&1
    }`
    const inodesBefore = await shOk(inodes)
    const stateBefore = await shOk(state, { timeoutMs: 120_000 })

    await m.unmount()
    t.notOk(isMounted(m.mountpoint), 'unmounted')
    t.equal(await shOk(`ls -A ${M}`), '', 'the bare mountpoint directory is empty')
    t.equal(await shOk(`find ${q(m.storeDir)} -type f | head -n 1 | wc -l`), '1\n', 'the store holds files')

    await m.remount()
    sameLines(t, await shOk(inodes), inodesBefore, 'every path keeps its inode number')
    sameLines(t, await shOk(state, { timeoutMs: 120_000 }), stateBefore, 'contents, modes, owners, times, links and xattrs survive')
    t.equal(await shOk(`cat ${M}/tree/a/b/hard`), 'small\n')
    // And the remounted filesystem is writable as before.
    t.equal(await shOk(`echo after > ${M}/tree/new && cat ${M}/tree/new`), 'after\n')
  })
}
