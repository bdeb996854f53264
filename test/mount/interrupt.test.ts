// Ctrl-C on a process stuck on a slow store (the test-only fault wrapper's
// delay): it returns promptly instead of waiting the store out, the daemon
// answers the interrupted request at once (its in-flight count drops back
// to 0 long before the store call ends), other files are served meanwhile,
// and the mount is healthy afterwards.
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import t from 'tap'
import type { Test } from 'tap'
import { Driver } from './driver-client.ts'
import { dropCaches, mountTier, mountWithFaults, objfsBin, q, run, shOk, tempDir, type Mount } from './harness.ts'

const DELAY_MS = 6000
/** "Promptly": well inside the store's delay. */
const PROMPT_MS = 2000
const MiB = 1024 * 1024

const sleep = async (ms: number): Promise<void> => await new Promise(resolve => setTimeout(resolve, ms))

/** Poll the daemon's in-flight count until it is 0; the milliseconds it took. */
async function inFlightDrains (m: Mount, withinMs: number): Promise<number> {
  const started = Date.now()
  for (;;) {
    const s = await m.stats()
    if (s.inFlight === 0) return Date.now() - started
    if (Date.now() - started > withinMs) throw new Error(`still ${s.inFlight} requests in flight after ${withinMs} ms`)
    await sleep(100)
  }
}

/** A command on the mount in the background (its own process group); SIGINT it, and time how long it takes to end. */
async function interrupted (t: Test, cmd: string, args: string[], blockedAfterMs: number): Promise<{ ms: number, how: string }> {
  const child = spawn(cmd, args, { stdio: 'ignore', detached: true })
  const exited = new Promise<string>(resolve => child.on('exit', (code, signal) => resolve(signal ?? String(code))))
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) try { process.kill(-child.pid, 'SIGKILL') } catch {} })
  const early = await Promise.race([exited, sleep(blockedAfterMs).then(() => undefined)])
  if (early !== undefined) throw new Error(`${cmd} ended (${early}) before it could be interrupted: the store was not slow`)
  const started = Date.now()
  process.kill(child.pid as number, 'SIGINT')
  const how = await Promise.race([exited, sleep(DELAY_MS + 5000).then(() => 'still running')])
  return { ms: Date.now() - started, how }
}

if (mountTier(t)) {
  t.test('interrupting processes blocked on a slow store', async t => {
    const dir = tempDir(t)
    const { m, faults } = await mountWithFaults(t, dir, [`log_file=${join(dir, 'daemon.log')}`])
    const M = q(m.mountpoint)
    await shOk(`head -c ${4 * MiB} /dev/urandom > ${M}/slow && echo fast > ${M}/other && sync ${M}/slow ${M}/other`)
    const sum = await shOk(`sha256sum < ${M}/slow`)

    t.test('a direct read: the daemon answers the INTERRUPT at once', async t => {
      // Block 2 of the file (1 MiB blocks) is slow; everything else is not.
      faults(`readBlock:delay=${DELAY_MS}:index=2`)
      await dropCaches()
      const dd = interrupted(t, 'dd', [`if=${m.mountpoint}/slow`, 'of=/dev/null', 'bs=1M', 'skip=2', 'count=1', 'iflag=direct', 'status=none'], 1500)
      await sleep(500)
      t.equal(await shOk(`cat ${M}/other`), 'fast\n', 'another file is served while the read waits')
      const s = await m.stats()
      t.ok(s.inFlight >= 1, `the read is in flight (${s.inFlight})`)
      const { ms, how } = await dd
      t.ok(ms < PROMPT_MS, `dd returned ${ms} ms after SIGINT (the store takes ${DELAY_MS} ms)`)
      t.equal(how, 'SIGINT', 'and ended by its signal')
      const drained = await inFlightDrains(m, PROMPT_MS)
      t.pass(`in flight back to 0 within ${drained} ms`)
    })

    t.test('a buffered read by a process Ctrl-C kills', async t => {
      faults(`readBlock:delay=${DELAY_MS}:index=3`)
      await dropCaches()
      const { ms, how } = await interrupted(t, 'tail', ['-c', '100', `${m.mountpoint}/slow`], 1500)
      t.ok(ms < PROMPT_MS, `tail returned ${ms} ms after SIGINT`)
      t.equal(how, 'SIGINT')
      // Read-ahead requests carry no INTERRUPT: they end when the store answers.
      const drained = await inFlightDrains(m, DELAY_MS + 5000)
      t.pass(`in flight back to 0 within ${drained} ms`)
    })

    t.test('a writer stuck in fsync, then in close', async t => {
      faults(`writeBlocks:delay=${DELAY_MS}`)
      const d = new Driver(t)
      const fd = (await d.ok({ op: 'open', path: `${m.mountpoint}/written`, create: true })).fd as number
      // Half a block in: the kernel's 1 MiB WRITEs then never cover a whole
      // block, which would be stored before the WRITE is answered (coalesce.ts).
      await d.ok({ op: 'pwrite', fd, offset: MiB / 2, data: Buffer.alloc(3 * MiB, 9).toString('base64') })
      const fsync = d.send({ op: 'fsync', fd })
      const early = await Promise.race([fsync, sleep(1500).then(() => undefined)])
      t.equal(early, undefined, 'fsync waits for the slow store')
      const started = Date.now()
      d.signal('SIGINT')
      const how = await Promise.race([d.exited, sleep(DELAY_MS + 5000).then(() => 'still running')])
      const ms = Date.now() - started
      t.ok(ms < PROMPT_MS, `the writer ended ${ms} ms after SIGINT, fsync and the close at exit included`)
      t.equal(how, 'SIGINT')
      const s = await m.stats()
      t.equal(s.errors.EINTR >= 1 && s.ops.fsync.errors, 1, 'the fsync was answered EINTR')
      // The RELEASE that follows a close stores the data before it answers: 4 blocks, 2 workers.
      t.ok(s.inFlight <= 1, `only the release is still in flight (${s.inFlight})`)
      const drained = await inFlightDrains(m, 2 * DELAY_MS + 5000)
      t.pass(`in flight back to 0 within ${drained} ms, once the store answered`)
      faults('')
    })

    t.test('afterwards the mount is healthy and the data intact', async t => {
      faults('')
      await dropCaches()
      t.equal(await shOk(`sha256sum < ${M}/slow`), sum, 'the slow file reads back whole')
      // The interrupted writer's data was still stored once the store answered.
      await sleep(1000)
      await m.unmount()
      const fsck = await run(objfsBin, ['fsck', m.storeDir], { timeoutMs: 60_000 })
      t.equal(fsck.code, 0, 'fsck: clean', { stdout: fsck.stdout })
      await m.remount()
      t.equal(await shOk(`stat -c %s ${M}/written`), `${3 * MiB + MiB / 2}\n`, 'what the interrupted writer wrote was stored after all')
      const stats = await m.stats()
      t.equal(stats.inFlight, 0)
    })
  })
}
