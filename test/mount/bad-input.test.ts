// Bad input to `objfs mount`: wrong options, a store of a newer format, a
// directory that is not a store, a store on read-only media, a store on a
// full disk. Each gets a one-line reason and exit status 2 (or, for the full
// disk, ENOSPC to the writer), and nothing of what was there is changed.
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import t from 'tap'
import type { Test } from 'tap'
import { isMounted } from '../../src/channel/unmount.ts'
import { mountObjfs, mountTier, objfsBin, q, run, sh, shOk, tempDir, unmountAtEnd, waitForNoDaemon } from './harness.ts'

/** A mountpoint for a mount that must fail; unmounted in teardown should it succeed after all. */
function mountpoint (t: Test): { base: string, mnt: string } {
  const base = tempDir(t)
  const mnt = join(base, 'mnt')
  mkdirSync(mnt)
  unmountAtEnd(t, mnt)
  return { base, mnt }
}

/** `objfs mount` fails with exit 2 and one line naming the problem, mounting nothing and leaving no daemon. */
async function refused (t: Test, args: string[], mnt: string, names: RegExp): Promise<void> {
  const r = await run(objfsBin, ['mount', ...args], { timeoutMs: 60_000 })
  t.equal(r.code, 2, `exit status 2: ${args.join(' ')}`)
  t.match(r.stderr, new RegExp(`^objfs: [^\\n]*${names.source}[^\\n]*\\n$`), 'one line naming the problem', { stderr: r.stderr })
  t.notOk(isMounted(mnt), 'nothing mounted')
  t.same(await waitForNoDaemon(mnt, 5000), [], 'no daemon left running')
}

/** Every file of a directory with its checksum: to show nothing was touched. */
const snapshot = async (dir: string): Promise<string> =>
  await shOk(`cd ${q(dir)} && find . -printf '%p %y %m %s\\n' | sort && find . -type f -print0 | sort -z | xargs -0 -r sha256sum`)

if (mountTier(t)) {
  t.test('bad mount options', async t => {
    const { base, mnt } = mountpoint(t)
    const store = `local:${base}/store`
    for (const [opt, names] of [
      ['dirty_limit=lots', /dirty_limit/], ['workers=0', /workers/], ['block_size=3000', /block_size/],
      ['ro=yes', /'ro' takes no value/], ['entry_timeout=-1', /entry_timeout/], ['log_level=loud', /log_level/], ['no_such_option', /no_such_option/],
      ['block_io=fast', /block_io/], ['serve_cpu=first', /serve_cpu/], ['serve_cpu=4095', /serve_cpu=4095: the daemon may use/],
    ] as const) {
      await refused(t, [store, mnt, '-o', opt], mnt, names)
    }
    await refused(t, [store, join(base, 'absent'), '-o', 'ro'], mnt, /does not exist/)
  })

  t.test('a store of a newer format, in the background and in the foreground', async t => {
    const m = await mountObjfs(t)
    await shOk(`echo data > ${q(m.mountpoint)}/f`)
    await m.unmount()
    const db = new DatabaseSync(join(m.storeDir, 'objfs.db'))
    db.exec("UPDATE meta SET value = '99' WHERE key = 'format_version'")
    db.close()
    const before = await snapshot(m.storeDir)
    await refused(t, [m.source, m.mountpoint], m.mountpoint, /store format 99 is newer than this objfs supports/)
    await refused(t, [m.source, m.mountpoint, '-f'], m.mountpoint, /newer/)
    t.equal(await snapshot(m.storeDir), before, 'the store is untouched')
    const fsck = await run(objfsBin, ['fsck', m.storeDir], { timeoutMs: 60_000 })
    t.equal(fsck.code, 2, 'fsck refuses it too')
  })

  t.test('a directory that is not a store', async t => {
    const { base, mnt } = mountpoint(t)
    const dir = join(base, 'precious')
    mkdirSync(dir)
    writeFileSync(join(dir, 'objfs.db'), 'not a database, only named like one')
    writeFileSync(join(dir, 'notes'), 'mine')
    const before = await snapshot(dir)
    await refused(t, [dir, mnt], mnt, /objfs store/)
    t.equal(await snapshot(dir), before, 'nothing written, nothing changed')
  })

  t.test('a store on read-only media', async t => {
    const m = await mountObjfs(t)
    await shOk(`echo data > ${q(m.mountpoint)}/f`)
    await m.unmount()
    const ro = join(m.scratch, 'ro')
    mkdirSync(ro)
    t.teardown(async () => { await sh(`umount ${q(ro)}`) })
    await shOk(`mount --bind ${q(m.storeDir)} ${q(ro)} && mount -o remount,bind,ro ${q(ro)}`)
    const before = await snapshot(m.storeDir)
    await refused(t, [`local:${ro}`, m.mountpoint], m.mountpoint, /read-only filesystem; mount it with -o ro/)
    const r = await run(objfsBin, ['mount', `local:${ro}`, m.mountpoint, '-o', 'ro'], { timeoutMs: 60_000 })
    t.equal(r.code, 0, 'read-only, it mounts', { stderr: r.stderr })
    t.equal(await shOk(`cat ${q(m.mountpoint)}/f`), 'data\n', 'and serves its files')
    t.match((await sh(`touch ${q(m.mountpoint)}/g`)).stderr, /Read-only file system/, 'changes are EROFS')
    t.equal((await run(objfsBin, ['umount', m.mountpoint], { timeoutMs: 60_000 })).code, 0)
    t.equal(await snapshot(m.storeDir), before, 'nothing on the media changed')
  })

  t.test('a store on a full disk', async t => {
    const base = tempDir(t)
    const storeDir = join(base, 'small-disk')
    mkdirSync(storeDir)
    t.teardown(async () => { await sh(`umount ${q(storeDir)}`) })
    await shOk(`mount -t tmpfs -o size=8m objfs-test-full ${q(storeDir)}`)
    const m = await mountObjfs(t, { storeDir })
    const M = q(m.mountpoint)
    const S = q(m.scratch)
    await shOk(`head -c 2000000 /dev/urandom > ${S}/keep && cp ${S}/keep ${M}/keep && sync ${M}/keep`)
    // Room is asked for before it is used: more than the disk has is refused then, not partway through the writes.
    for (const flags of ['', '-n ']) {
      const pre = await sh(`fallocate ${flags}-l 20MiB ${M}/pre`)
      t.match(pre.stderr, /No space left on device/, `fallocate ${flags}of more room than the disk has: ENOSPC`)
      t.equal(await shOk(`stat -c %s ${M}/pre`), '0\n', 'and the file keeps its size')
    }
    await shOk(`fallocate -l 1MiB ${M}/pre`)
    t.equal(await shOk(`stat -c %s ${M}/pre && rm ${M}/pre`), '1048576\n', 'fallocate of room the disk has sets the size')
    const full = await sh(`dd if=/dev/urandom of=${M}/big bs=1M count=20 conv=fsync status=none`)
    t.not(full.code, 0, 'writing past the free space fails')
    t.match(full.stderr, /No space left on device/, 'with ENOSPC to the writer')
    await shOk(`cmp ${S}/keep ${M}/keep`)
    t.pass('what was stored before is intact')
    // The last page of room goes too, from outside: deleting must work on a disk with none.
    const filler = q(join(storeDir, 'filler'))
    t.match((await sh(`dd if=/dev/zero of=${filler} bs=4k status=none`)).stderr, /No space left on device/, 'the disk is full to the last page')
    await shOk(`rm ${M}/big && echo small > ${M}/small`)
    t.pass('deleting works on it and frees room (the failed write left nothing behind), and writing works again')
    await shOk(`dd if=/dev/urandom of=${M}/again bs=1M count=3 conv=fsync status=none`)
    await shOk(`rm ${filler}`)
    await m.unmount()
    const fsck = await run(objfsBin, ['fsck', storeDir], { timeoutMs: 60_000 })
    t.equal(fsck.code, 0, 'fsck: clean', { out: fsck.stdout })
  })
}
