// Names: mv across directories and over existing files, symbolic and hard links.
import t from 'tap'
import { dropCaches, mountObjfs, mountTier, q, shOk } from './harness.ts'

if (mountTier(t)) {
  t.test('names and links', async t => {
    const m = await mountObjfs(t)
    const M = q(m.mountpoint)

    t.test('mv across directories', async t => {
      await shOk(`mkdir -p ${M}/mv/a/sub ${M}/mv/b && echo moved > ${M}/mv/a/f && echo deep > ${M}/mv/a/sub/g`)
      const ino = await shOk(`stat -c %i ${M}/mv/a/f`)
      await shOk(`mv ${M}/mv/a/f ${M}/mv/b/f && mv ${M}/mv/a/sub ${M}/mv/b/`)
      await dropCaches()
      t.equal(await shOk(`ls -A ${M}/mv/a`), '', 'the source directory is empty')
      t.equal(await shOk(`cat ${M}/mv/b/f ${M}/mv/b/sub/g`), 'moved\ndeep\n', 'file and directory arrived with content')
      t.equal(await shOk(`stat -c %i ${M}/mv/b/f`), ino, 'a rename keeps the inode number')
    })

    t.test('mv over an existing file', async t => {
      await shOk(`mkdir -p ${M}/over/a ${M}/over/b && echo new > ${M}/over/a/n && echo old-and-longer > ${M}/over/b/o`)
      const ino = await shOk(`stat -c %i ${M}/over/a/n`)
      await shOk(`mv ${M}/over/a/n ${M}/over/b/o`)
      await dropCaches()
      t.equal(await shOk(`cat ${M}/over/b/o`), 'new\n', 'the target has the new content')
      t.equal(await shOk(`stat -c %i ${M}/over/b/o`), ino, 'and the moved inode')
      t.equal(await shOk(`ls -A ${M}/over/a ${M}/over/b`), `${m.mountpoint}/over/a:\n\n${m.mountpoint}/over/b:\no\n`, 'one name left')
      // Within one directory too: the classic atomic-save pattern.
      await shOk(`cd ${M}/over/b && echo v2 > .o.tmp && mv .o.tmp o`)
      t.equal(await shOk(`ls -A ${M}/over/b && cat ${M}/over/b/o`), 'o\nv2\n')
    })

    t.test('ln -s and readlink', async t => {
      await shOk(`mkdir -p ${M}/sym/dir && echo target > ${M}/sym/dir/file`)
      await shOk(`cd ${M}/sym && ln -s dir/file rel && ln -s ${m.mountpoint}/sym/dir abs && ln -s no/such/thing dangling`)
      await dropCaches()
      t.equal(await shOk(`readlink ${M}/sym/rel ${M}/sym/abs ${M}/sym/dangling`),
        `dir/file\n${m.mountpoint}/sym/dir\nno/such/thing\n`)
      t.equal(await shOk(`stat -c %F ${M}/sym/rel`), 'symbolic link\n')
      t.equal(await shOk(`cat ${M}/sym/rel ${M}/sym/abs/file`), 'target\ntarget\n', 'links resolve')
      t.equal(await shOk(`stat -c %s ${M}/sym/rel`), '8\n', 'a symlink\'s size is its target\'s length')
      t.equal(await shOk(`test ! -e ${M}/sym/dangling && test -L ${M}/sym/dangling && echo ok`), 'ok\n', 'a dangling link is still a link')
    })

    t.test('ln (hard link)', async t => {
      await shOk(`mkdir -p ${M}/hard/x ${M}/hard/y && echo shared > ${M}/hard/x/f && ln ${M}/hard/x/f ${M}/hard/y/g`)
      await dropCaches()
      t.equal(await shOk(`stat -c %h ${M}/hard/x/f`), '2\n', 'link count 2')
      t.equal(await shOk(`stat -c %i ${M}/hard/y/g`), await shOk(`stat -c %i ${M}/hard/x/f`), 'same inode')
      await shOk(`echo appended >> ${M}/hard/y/g`)
      t.equal(await shOk(`cat ${M}/hard/x/f`), 'shared\nappended\n', 'a write through one name shows through the other')
      await shOk(`rm ${M}/hard/x/f`)
      await dropCaches()
      t.equal(await shOk(`stat -c %h ${M}/hard/y/g && cat ${M}/hard/y/g`), '1\nshared\nappended\n', 'the other name survives')
    })
  })
}
