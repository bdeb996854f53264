// forceUnmount's escalation, proven on real kernel mounts. bindfs stands in
// for a FUSE daemon here because these cases need one that can be made busy
// or frozen on purpose; objfs's own unmount is covered by cli.test.ts.
import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import {
  connectionLive, connectionOf, ensureFusectl, findMount, forceUnmount, fuseConnectionOf, isMounted, parseMountinfo, sameConnection
} from '../../src/channel/unmount.ts'
import { daemonPids, mountBindfs, mountTier, q, sh, shOk, takeConnectionId, tempDir, unmountAtEnd, waitForNoDaemon } from './harness.ts'
import type { Test } from 'tap'

t.test('mountinfo parsing unescapes paths and skips optional fields', async t => {
  const text = [
    '36 35 98:0 /mnt1 /mnt/with\\040space rw,noatime master:1 shared:2 - ext3 /dev/root rw',
    '40 27 0:52 / /tmp/back\\134slash rw,nosuid - fuse.objfs local:/var/lib/x rw,user_id=0',
    ''
  ].join('\n')
  const [a, b] = parseMountinfo(text)
  t.match(a, { mountId: 36, parentId: 35, major: 98, minor: 0, root: '/mnt1', mountpoint: '/mnt/with space', fstype: 'ext3' })
  t.match(b, { major: 0, minor: 52, mountpoint: '/tmp/back\\slash', fstype: 'fuse.objfs', source: 'local:/var/lib/x' })
})

/** Mount src (with `file` in it) on mnt with bindfs. */
async function bindfs (t: Test): Promise<{ src: string, mnt: string }> {
  const { src, mnt, r } = await mountBindfs(t, tempDir(t), { file: 'data\n' })
  t.equal(r.code, 0, 'bindfs mounts', { stderr: r.stderr })
  t.ok(isMounted(mnt), 'the mount is in mountinfo')
  return { src, mnt }
}

/**
 * A background process that holds the mount busy until killed. The shell
 * that starts it must not touch the mount itself (it may be frozen).
 */
async function park (t: Test, script: string): Promise<number> {
  const r = await sh(`(${script}) >/dev/null 2>&1 </dev/null & echo $!`, { timeoutMs: 10_000 })
  const pid = Number(r.stdout.trim())
  t.teardown(() => { try { process.kill(pid, 'SIGKILL') } catch {} })
  return pid
}

if (mountTier(t)) {
  t.test('an idle FUSE mount comes down with a plain umount', async t => {
    const { mnt } = await bindfs(t)
    await ensureFusectl(msg => t.comment(msg))
    const conn = fuseConnectionOf(mnt)
    t.type(conn, 'number', 'a FUSE mount has a connection id')
    t.ok(existsSync(`/sys/fs/fuse/connections/${conn}/abort`), 'the id names a fusectl connection')
    t.equal(fuseConnectionOf(`${mnt}/`), conn, 'a trailing slash names the same mount')
    t.equal(await forceUnmount(mnt), 'unmounted')
    t.notOk(isMounted(mnt))
    t.equal(await forceUnmount(mnt), 'not-mounted', 'a second call is a no-op')
    t.equal(await forceUnmount('/nonexistent/objfs/mountpoint'), 'not-mounted')
    t.same(await waitForNoDaemon(mnt, 5000), [], 'the daemon exits')
  })

  t.test('a busy mount is detached and its connection aborted', async t => {
    const { mnt } = await bindfs(t)
    const sleeper = await park(t, `cd ${q(mnt)} && exec sleep 600`)
    const log: string[] = []
    t.equal(await forceUnmount(mnt, { log: m => log.push(m) }), 'aborted')
    t.match(log.join('\n'), /busy/, 'the plain umount was refused as busy')
    t.notOk(isMounted(mnt))
    process.kill(sleeper, 'SIGKILL')
    t.same(await waitForNoDaemon(mnt, 5000), [], 'the aborted daemon exits')
  })

  t.test('a frozen daemon cannot hang forceUnmount or its callers', async t => {
    const { mnt } = await bindfs(t)
    const [daemon] = daemonPids(mnt)
    t.ok(daemon, 'found the bindfs daemon')
    t.teardown(() => { try { process.kill(daemon, 'SIGKILL') } catch {} })
    process.kill(daemon, 'SIGSTOP')
    // A lookup the daemon will never answer: proves the mount is hung.
    const stuck = await sh(`stat ${q(mnt)}/not-cached-yet`, { timeoutMs: 2000 })
    t.ok(stuck.timedOut, 'a lookup in the frozen mount hangs')
    await park(t, `exec cat ${q(mnt)}/not-cached-either`)
    const started = Date.now()
    const how = await forceUnmount(mnt, { timeoutMs: 5000 })
    t.ok(how === 'aborted' || how === 'unmounted', `forceUnmount settles (${how})`)
    t.ok(Date.now() - started < 30_000, 'within its time bounds')
    t.notOk(isMounted(mnt))
    // The aborted connection answers the parked reader with an error.
    const after = await sh(`ls ${q(mnt)}`, { timeoutMs: 5000 })
    t.notOk(after.timedOut, 'the mountpoint answers again')
    process.kill(daemon, 'SIGCONT')
    t.same(await waitForNoDaemon(mnt, 5000), [], 'the daemon exits once it runs again')
  })

  // The kernel gives an ended connection's id to the next mount at once.
  // Taken for the old one, a keeper would not wait for a daemon still
  // storing (predecessors.ts), and a stop would abort a stranger's mount.
  t.test('a connection whose id another FUSE mount has taken is not taken for it', async t => {
    await ensureFusectl(msg => t.comment(msg))
    // Another test's mount may take the id first: try again, a few times.
    for (let attempt = 1; attempt <= 5; attempt++) {
      const { mnt } = await bindfs(t)
      const first = connectionOf(mnt)
      if (first === null) return t.fail('bindfs made a FUSE mount')
      t.type(first.ino, 'number', 'the record names its fusectl directory')
      t.equal(connectionLive(first), true, 'live while mounted')
      t.ok(sameConnection(connectionOf(mnt), first), 'and found again at its path')
      await shOk(`umount ${q(mnt)}`)
      t.equal(connectionLive(first), false, 'ended once unmounted')
      const other = await takeConnectionId(t, first.id)
      if (other === undefined) {
        t.comment(`attempt ${attempt}: another mount took id ${first.id} first`)
        continue
      }
      t.equal(connectionOf(other)?.id, first.id, 'another FUSE mount has the id')
      t.equal(connectionLive(first), false, 'the ended connection is still ended')
      t.notOk(sameConnection(connectionOf(other), first), 'the other mount is not it')
      t.equal(await forceUnmount(mnt, { connection: first }), 'not-mounted', 'stopping the ended one does nothing')
      t.equal(connectionLive(connectionOf(other) ?? first), true, 'the other mount is not aborted')
      t.equal(await shOk(`ls -a ${q(other)}`), '.\n..\n', 'and serves')
      return
    }
    t.fail('no attempt had the id taken by another FUSE mount of this test')
  })

  t.test('mountpoints with escaped characters are found', async t => {
    const base = tempDir(t)
    const mnt = join(base, 'a b\\c')
    mkdirSync(mnt)
    unmountAtEnd(t, mnt)
    await shOk(`mount -t tmpfs objfs-test ${q(mnt)}`)
    t.equal(findMount(mnt)?.fstype, 'tmpfs')
    t.equal(fuseConnectionOf(mnt), null, 'not a FUSE mount')
    t.equal(await forceUnmount(mnt), 'unmounted')
    t.notOk(isMounted(mnt))
  })
}
