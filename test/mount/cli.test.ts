// The objfs command line as a user meets it: failures are one line and
// touch nothing, and a plain umount ends the daemon cleanly.
import { spawn } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { isMounted } from '../../src/channel/unmount.ts'
import { daemonPids, mountObjfs, mountTier, objfsBin, q, run, shOk, tempDir, unmountAtEnd, waitForNoDaemon } from './harness.ts'
import type { RunResult } from './harness.ts'
import type { Test } from 'tap'

/** A scratch mountpoint whose teardown unmounts it should objfs mount it after all. */
function scratchMountpoint (t: Test): { base: string, mnt: string } {
  const base = tempDir(t)
  const mnt = join(base, 'mnt')
  mkdirSync(mnt)
  unmountAtEnd(t, mnt)
  return { base, mnt }
}

function failsWithOneLine (t: Test, r: RunResult, mnt: string, mentions: RegExp): void {
  t.notOk(r.timedOut, 'objfs mount returns')
  t.ok(r.code !== null && r.code !== 0, `non-zero exit (${r.code})`)
  const lines = r.stderr.trim().split('\n')
  t.equal(lines.length, 1, 'a one-line message', { stderr: r.stderr })
  t.match(lines[0], mentions, 'that names the problem')
  t.notOk(isMounted(mnt), 'nothing was mounted')
}

if (mountTier(t)) {
  t.test('mount with an unknown option', async t => {
    const { base, mnt } = scratchMountpoint(t)
    const r = await run(objfsBin, ['mount', `local:${base}/store`, mnt, '-o', 'no_such_option'], { timeoutMs: 60_000 })
    failsWithOneLine(t, r, mnt, /no_such_option/)
    t.same(await waitForNoDaemon(mnt, 5000), [], 'no daemon was left running')
  })

  for (const form of ['local:DIR', 'DIR']) {
    t.test(`mount of a non-empty directory that is not a store (${form})`, async t => {
      const { base, mnt } = scratchMountpoint(t)
      const dir = join(base, 'precious')
      mkdirSync(join(dir, 'sub'), { recursive: true })
      writeFileSync(join(dir, 'notes.txt'), 'do not touch\n')
      writeFileSync(join(dir, '.hidden'), '')
      writeFileSync(join(dir, 'sub', 'data.bin'), Buffer.alloc(70000, 7))
      const snapshot = `cd ${q(dir)} && find . -printf '%p %y %m %s %T@\\n' | sort && find . -type f -print0 | sort -z | xargs -0 sha256sum`
      const before = await shOk(snapshot)

      const r = await run(objfsBin, ['mount', form.replace('DIR', dir), mnt], { timeoutMs: 60_000 })
      failsWithOneLine(t, r, mnt, /./)
      t.equal(await shOk(snapshot), before, 'the directory\'s files are untouched, nothing added')
      t.same(await waitForNoDaemon(mnt, 5000), [], 'no daemon was left running')
    })
  }

  t.test('plain umount ends a foreground daemon with status 0', async t => {
    const { base, mnt } = scratchMountpoint(t)
    const storeDir = join(base, 'store')
    const daemon = spawn(objfsBin, ['mount', `local:${storeDir}`, mnt, '-f'], {
      stdio: ['ignore', 'ignore', 'pipe'], detached: true
    })
    let stderr = ''
    daemon.stderr.setEncoding('utf8').on('data', (s: string) => { stderr = (stderr + s).slice(-4000) })
    const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>(resolve => {
      daemon.on('exit', (code, signal) => resolve({ code, signal }))
    })
    let done = false
    void exited.then(() => { done = true })
    t.teardown(() => { if (!done && daemon.pid !== undefined) try { process.kill(-daemon.pid, 'SIGKILL') } catch {} })

    const until = Date.now() + 60_000
    while (!isMounted(mnt) && !done && Date.now() < until) await new Promise(resolve => setTimeout(resolve, 100))
    if (!isMounted(mnt)) throw new Error(`objfs mount -f did not mount within 60 s: ${stderr}`)

    await shOk(`echo kept > ${q(mnt)}/file`)
    const r = await run('umount', [mnt], { timeoutMs: 60_000 })
    t.equal(r.code, 0, 'umount succeeds', { stderr: r.stderr })
    const end = await Promise.race([exited, new Promise(resolve => setTimeout(resolve, 10_000, 'still running'))])
    t.same(end, { code: 0, signal: null }, 'the daemon exits with status 0', { stderr })

    const again = await mountObjfs(t, { storeDir })
    t.equal(await shOk(`cat ${q(again.mountpoint)}/file`), 'kept\n', 'what was written before umount is in the store')
  })

  t.test('plain umount ends a background daemon', async t => {
    const m = await mountObjfs(t)
    t.ok(daemonPids(m.mountpoint).length > 0, 'the daemon is running (found by its mountpoint argument)')
    await shOk(`echo x > ${q(m.mountpoint)}/file`)
    const r = await run('umount', [m.mountpoint], { timeoutMs: 60_000 })
    t.equal(r.code, 0, 'umount succeeds', { stderr: r.stderr })
    t.notOk(isMounted(m.mountpoint))
    t.same(await waitForNoDaemon(m.mountpoint, 5000), [], 'no objfs process for the mountpoint remains')
  })
}
