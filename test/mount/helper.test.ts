// Mounting the way admins do: mount(8) with type fuse.objfs, from the
// command line and from an fstab file (-T), through the helper that
// `objfs install` puts at /sbin/mount.fuse.objfs; plain umount; and
// recovery after the daemon is killed.
//
// mount(8) looks for helpers in /sbin only, so this file installs the real
// one and puts back whatever was there before, in teardown and on exit.
import { chmodSync, existsSync, mkdirSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { onExit } from 'signal-exit'
import t, { type Test } from 'tap'
import { findMount, isMounted } from '../../src/channel/unmount.ts'
import { crashDaemon, daemonPids, mountObjfs, mountTier, objfsBin, q, repoRoot, run, sh, shOk, tempDir, unmountAtEnd, waitForNoDaemon } from './harness.ts'

const HELPER = '/sbin/mount.fuse.objfs'
const MOUNT_TIMEOUT = { timeoutMs: 60_000 }

function keepHelperAsFound (): void {
  const before = existsSync(HELPER) ? { data: readFileSync(HELPER), mode: statSync(HELPER).mode & 0o7777 } : undefined
  const restore = (): void => {
    try {
      if (before === undefined) rmSync(HELPER, { force: true })
      else { writeFileSync(HELPER, before.data); chmodSync(HELPER, before.mode) }
    } catch {}
  }
  t.teardown(restore)
  // tap kills a file that overruns its time: the helper must not outlive the run.
  onExit(restore)
}

interface Place { base: string, mnt: string, store: string, log: string }

/** A mountpoint, store path and log file; teardown unmounts whatever state the mount is in. */
function place (t: Test): Place {
  const base = tempDir(t)
  const p = { base, mnt: join(base, 'mnt'), store: join(base, 'store'), log: join(base, 'daemon.log') }
  mkdirSync(p.mnt)
  unmountAtEnd(t, p.mnt)
  return p
}

/** Files that cross block boundaries, a tree, and their checksums. */
async function writeSample (dir: string, scratch: string): Promise<string> {
  await shOk(`
    mkdir -p ${q(scratch)}/sample/a/b
    head -c 3300000 /dev/urandom > ${q(scratch)}/sample/big.bin
    echo "kept across mounts" > ${q(scratch)}/sample/a/b/note.txt
    seq 1 20000 > ${q(scratch)}/sample/a/numbers
    cp -a ${q(scratch)}/sample/. ${q(dir)}/
  `)
  return await checksums(`${scratch}/sample`)
}

const checksums = async (dir: string): Promise<string> => await shOk(`cd ${q(dir)} && find . -type f -print0 | sort -z | xargs -0 sha256sum`)

async function plainUmount (t: Test, p: Place): Promise<void> {
  const r = await run('umount', [p.mnt], MOUNT_TIMEOUT)
  t.equal(r.code, 0, 'plain umount succeeds', { stderr: r.stderr })
  t.notOk(isMounted(p.mnt), 'nothing is mounted')
  t.same(await waitForNoDaemon(p.mnt, 10_000), [], 'the daemon exits')
  // The daemon logs "stopped" after storing everything, right before it
  // returns status 0; a background daemon's status is not ours to wait for.
  const log = readFileSync(p.log, 'utf8')
  t.match(log, /"msg":"stopped"/, 'the daemon stopped cleanly (its last step before exit status 0)')
  t.notMatch(log, /"level":(50|60)/, 'and logged no error')
}

if (mountTier(t)) {
  keepHelperAsFound()

  t.test('objfs install puts the helper in place', async t => {
    const r = await run(objfsBin, ['install', '--force'])
    t.equal(r.code, 0, 'objfs install succeeds', { stderr: r.stderr })
    t.equal(statSync(HELPER).mode & 0o777, 0o755)
  })

  t.test('mount -t fuse.objfs with mount(8) options, then plain umount', async t => {
    const p = place(t)
    const opts = `defaults,_netdev,nofail,noauto,x-systemd.requires=network-online.target,x-systemd.automount,comment=x,allow_other,log_file=${p.log}`
    const r = await run('mount', ['-t', 'fuse.objfs', `local:${p.store}`, p.mnt, '-o', opts], MOUNT_TIMEOUT)
    t.equal(r.code, 0, 'mount returns 0', { stderr: r.stderr })
    const m = findMount(p.mnt)
    t.equal(m?.fstype, 'fuse.objfs', 'the mount is live when mount(8) returns')
    t.equal(m?.source, `local:${p.store}`)
    t.match(readFileSync('/proc/self/mountinfo', 'utf8'), new RegExp(`${p.mnt} .* fuse\\.objfs .*allow_other`), 'allow_other reached the kernel')

    const [pid] = daemonPids(p.mnt)
    t.equal(realpathSync(`/proc/${pid}/exe`), realpathSync(join(repoRoot, 'node_modules/node/bin/node')), 'the daemon runs on the project\'s own Node')

    const sums = await writeSample(p.mnt, p.base)
    t.equal(await checksums(p.mnt), sums, 'what was written reads back')
    await plainUmount(t, p)

    const again = await mountObjfs(t, { storeDir: p.store })
    t.equal(await checksums(again.mountpoint), sums, 'nothing was lost: the store has every byte after umount')
  })

  t.test('an fstab line: mount MOUNTPOINT, mount -a, umount', async t => {
    const p = place(t)
    const fstab = join(p.base, 'fstab')
    writeFileSync(fstab, `# objfs test\nlocal:${p.store} ${p.mnt} fuse.objfs defaults,_netdev,allow_other,log_file=${p.log} 0 0\n`)

    const first = await run('mount', ['-T', fstab, p.mnt], MOUNT_TIMEOUT)
    t.equal(first.code, 0, 'mount -T FSTAB MOUNTPOINT', { stderr: first.stderr })
    t.equal(findMount(p.mnt)?.fstype, 'fuse.objfs')
    const sums = await writeSample(p.mnt, p.base)
    await plainUmount(t, p)

    const all = await run('mount', ['-a', '-T', fstab], MOUNT_TIMEOUT)
    t.equal(all.code, 0, 'mount -a -T FSTAB', { stderr: all.stderr })
    t.equal(await checksums(p.mnt), sums, 'the files are back')
    const twice = await run('mount', ['-a', '-T', fstab], MOUNT_TIMEOUT)
    t.equal(twice.code, 0, 'mount -a again is a no-op', { stderr: twice.stderr })
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(l => l.split(' ')[4] === p.mnt)
    t.equal(mounts.length, 1, 'still one mount')
    t.same(daemonPids(p.mnt).length, 2, 'and one daemon: its keeper and serving process')
    await plainUmount(t, p)
  })

  t.test('failures are one clear line, and leave nothing behind', async t => {
    const p = place(t)
    const bad = await run('mount', ['-t', 'fuse.objfs', `local:${p.store}`, p.mnt, '-o', 'rw,bogus_opt'], MOUNT_TIMEOUT)
    t.not(bad.code, 0, `an unknown option fails (exit ${bad.code})`)
    t.equal(bad.stderr.trim().split('\n').length, 1, 'with one line', { stderr: bad.stderr })
    t.match(bad.stderr, /^mount\.fuse\.objfs: unknown mount option 'bogus_opt'/)

    const precious = join(p.base, 'precious')
    mkdirSync(precious)
    writeFileSync(join(precious, 'keep.txt'), 'not a store\n')
    const notStore = await run('mount', ['-t', 'fuse.objfs', precious, p.mnt], MOUNT_TIMEOUT)
    t.equal(notStore.code, 32, 'a store that cannot be opened is a mount failure (32)')
    t.match(notStore.stderr, /^mount\.fuse\.objfs: .+\n$/, 'in one line', { stderr: notStore.stderr })
    t.same(readFileSync(join(precious, 'keep.txt'), 'utf8'), 'not a store\n', 'the directory is untouched')

    const fake = await run('mount', ['-f', '-t', 'fuse.objfs', `local:${p.store}`, p.mnt], MOUNT_TIMEOUT)
    t.equal(fake.code, 0, 'mount -f (fake) succeeds', { stderr: fake.stderr })
    t.notOk(isMounted(p.mnt), 'nothing is mounted by any of these')
    t.same(daemonPids(p.mnt), [], 'and no daemon is running')
    t.notOk(existsSync(p.store), 'not even the store was created')
  })

  t.test('sloppy options, and an environment of its own', async t => {
    const p = place(t)
    // A stand-in for the distribution's Node 20 first on PATH: never used.
    const fakeBin = join(p.base, 'bin')
    mkdirSync(fakeBin)
    writeFileSync(join(fakeBin, 'node'), '#!/bin/sh\necho "wrong node" >&2\nexit 1\n', { mode: 0o755 })
    const r = await run('mount', ['-s', '-t', 'fuse.objfs', `local:${p.store}`, p.mnt, '-o', `bogus_opt,log_file=${p.log}`], {
      ...MOUNT_TIMEOUT, env: { PATH: `${fakeBin}:/usr/sbin:/usr/bin:/sbin:/bin` },
    })
    t.equal(r.code, 0, 'mount -s drops what objfs does not know', { stderr: r.stderr })
    t.ok(isMounted(p.mnt))
    await shOk(`echo ok > ${q(p.mnt)}/file && cat ${q(p.mnt)}/file`)
    await plainUmount(t, p)
  })

  t.test('a killed daemon: objfs umount and the next mount recover the mountpoint', async t => {
    const p = place(t)
    const mount = async (): Promise<void> => {
      const r = await run('mount', ['-t', 'fuse.objfs', `local:${p.store}`, p.mnt, '-o', `log_file=${p.log}`], MOUNT_TIMEOUT)
      t.equal(r.code, 0, 'mount -t fuse.objfs', { stderr: r.stderr })
    }
    await mount()
    const sums = await writeSample(p.mnt, p.base)
    await crashDaemon(t, p.mnt)
    const stale = await sh(`stat ${q(p.mnt)}`, { timeoutMs: 10_000 })
    t.match(stale.stderr, /Transport endpoint is not connected|Software caused connection abort/, 'the mount is stale')

    const um = await run(objfsBin, ['umount', p.mnt], MOUNT_TIMEOUT)
    t.equal(um.code, 0, 'objfs umount cleans it', { stderr: um.stderr })
    t.notOk(isMounted(p.mnt))
    t.equal(await shOk(`ls -A ${q(p.mnt)} | wc -l`), '0\n', 'the mountpoint is an empty directory again')

    await mount()
    t.equal(await checksums(p.mnt), sums, 'files closed before the kill are in the store')
    await crashDaemon(t, p.mnt)
    await mount()
    t.equal(findMount(p.mnt)?.fstype, 'fuse.objfs', 'mounting over the stale mount replaces it')
    t.equal(readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(l => l.split(' ')[4] === p.mnt).length, 1, 'one mount, not two stacked')
    t.equal(await checksums(p.mnt), sums, 'with every file')
    await plainUmount(t, p)
  })
}
