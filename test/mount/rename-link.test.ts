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

    t.test('O_TMPFILE: a file with no name, named later by linkat', async t => {
      await shOk(`mkdir -p ${M}/tmpfile`)
      const out = await shOk(`cd ${M}/tmpfile && python3 -c ${q(TMPFILE_CLIENT)}`)
      t.same(JSON.parse(out), {
        unnamed: { nlink: 0, mode: '0o100640', size: 13, listed: [] },
        named: { nlink: 1, listed: ['named'], content: 'hello tmpfile' },
        exclusive: { linkErrno: 2, listed: ['named'] },
        temporaryFile: { read: 'abc', listed: ['named'] },
      }, 'no name until linkat gives one; O_EXCL keeps it nameless; Python\'s TemporaryFile takes this path')
      await dropCaches()
      t.equal(await shOk(`stat -c '%h %a %s' ${M}/tmpfile/named && cat ${M}/tmpfile/named`), '1 640 13\nhello tmpfile', 'the name and data are stored')
    })

    t.test('O_TMPFILE never named: its data is freed at close', async t => {
      const stored = async (): Promise<number> => Number((await shOk(`du -sk ${q(m.storeDir)} | cut -f1`)).trim())
      const before = await stored()
      const holding = Number(await shOk(`cd ${M} && python3 -c ${q(TMPFILE_HOLD)} ${q(m.storeDir)}`))
      t.ok(holding - before >= 4096, `the open file's 4 MiB are stored (${before} KiB, then ${holding})`)
      let after = await stored()
      for (let i = 0; i < 100 && after - before >= 1024; i++) {
        await new Promise(resolve => setTimeout(resolve, 100))
        after = await stored()
      }
      t.ok(after - before < 1024, `freed once closed (${after} KiB)`)
    })
  })
}

// What a program sees of O_TMPFILE: nlink 0 and no name, linkat(AT_EMPTY_PATH) names it, O_EXCL forbids that.
const TMPFILE_CLIENT = `
import ctypes, json, os, tempfile
libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD, AT_EMPTY_PATH = -100, 0x1000
out = {}
fd = os.open('.', os.O_TMPFILE | os.O_RDWR, 0o640)
os.write(fd, b'hello tmpfile')
st = os.fstat(fd)
out['unnamed'] = dict(nlink=st.st_nlink, mode=oct(st.st_mode), size=st.st_size, listed=os.listdir('.'))
if libc.linkat(fd, b'', AT_FDCWD, b'named', AT_EMPTY_PATH) != 0: raise OSError(ctypes.get_errno(), 'linkat')
out['named'] = dict(nlink=os.fstat(fd).st_nlink, listed=os.listdir('.'), content=open('named').read())
os.close(fd)
fd = os.open('.', os.O_TMPFILE | os.O_RDWR | os.O_EXCL, 0o600)
r = libc.linkat(fd, b'', AT_FDCWD, b'excl', AT_EMPTY_PATH)
out['exclusive'] = dict(linkErrno=ctypes.get_errno() if r != 0 else 0, listed=os.listdir('.'))
os.close(fd)
with tempfile.TemporaryFile(dir='.') as f:
    f.write(b'abc'); f.seek(0)
    out['temporaryFile'] = dict(read=f.read().decode(), listed=os.listdir('.'))
print(json.dumps(out))
`

// Writes 4 MiB into a file with no name, syncs it, prints the store's size (du -sk of argv) while it is open, closes it.
const TMPFILE_HOLD = `
import os, subprocess, sys
fd = os.open('.', os.O_TMPFILE | os.O_RDWR, 0o600)
os.write(fd, os.urandom(4 << 20))
os.fsync(fd)
print(subprocess.check_output(['du', '-sk', sys.argv[1]]).split()[0].decode())
os.close(fd)
`
