// A mount at the place of one that is still going: `umount -l` detaches a
// mount at once, and its daemon goes on serving the files still open on
// it. A new daemon mounted at the same path meanwhile (the same store, as a
// restart or a script does it) must leave the first one's write journal to
// it, and each must keep its own: before, the new daemon set the live
// journal aside as a dead keeper's, the first daemon died storing its
// data, and its keeper, seeing a mount at its path, started a successor
// that replayed and closed the new daemon's journal, whose writes then
// failed with EIO.
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { defaultLogFile, stateDirOf } from '../../src/keeper/state.ts'
import { fuseConnectionOf, isMounted } from '../../src/channel/unmount.ts'
import { waitForExit } from '../../src/liveness.ts'
import { background, daemonPids, mountObjfs, mountTier, mountWithFaults, objfsBin, q, run, servingPid, sh, shOk, takeConnectionId, tempDir, type Mount, type RunResult } from './harness.ts'

/**
 * A writer holding `held` open on the mount, started and past its first
 * writes: it waits for go(), writes again and closes.
 */
async function holdOpen (t: Test, m: Mount): Promise<{ go: () => void, kill: () => void, done: Promise<{ code: number | null, out: string }> }> {
  const go = join(m.scratch, 'go')
  // Pieces of 100,000 bytes: never a whole block, so they stay buffered (and journaled) until the close.
  const writer = background(t, process.execPath, ['-e', `
    const fs = require('node:fs')
    const piece = i => Buffer.alloc(100000, i + 1)
    const fd = fs.openSync(${JSON.stringify(join(m.mountpoint, 'held'))}, 'w')
    for (let i = 0; i < 3; i++) fs.writeSync(fd, piece(i))
    console.log('ready')
    const wait = () => { if (!fs.existsSync(${JSON.stringify(go)})) return setTimeout(wait, 20); for (let i = 3; i < 6; i++) fs.writeSync(fd, piece(i)); fs.closeSync(fd); console.log('closed') }
    wait()
  `])
  await writer.printed('ready', 30_000)
  return { go: () => writeFileSync(go, ''), kill: writer.kill, done: writer.done }
}

/** `objfs mount` of m's store at m's place again, as a restart or a script does it (m.remount would run objfs umount first). */
async function mountAgain (m: Mount, options: string[] = [], timeoutMs = 60_000): Promise<RunResult> {
  return await run(objfsBin, ['mount', m.source, m.mountpoint, ...(options.length > 0 ? ['-o', options.join(',')] : [])], { timeoutMs })
}

/** 300,000 random bytes copied onto the mount as `name` and compared back. */
async function roundTrip (m: Mount, name: string): Promise<RunResult> {
  const [local, there] = [q(join(m.scratch, name)), q(join(m.mountpoint, name))]
  return await sh(`head -c 300000 /dev/urandom > ${local} && cp ${local} ${there} && cmp ${local} ${there}`, { timeoutMs: 60_000 })
}

const expected = (pieces = 6): Buffer => Buffer.concat(Array.from({ length: pieces }, (_, i) => Buffer.alloc(100000, i + 1)))

if (mountTier(t)) {
  t.test('umount -l while a file is held open, then a new mount at the same place: both daemons keep their journals', async t => {
    const m = await mountObjfs(t)
    const writer = await holdOpen(t, m)
    const first = daemonPids(m.mountpoint)
    t.ok(first.length > 0, 'the first daemon runs')

    await shOk(`umount -l ${q(m.mountpoint)}`, { timeoutMs: 30_000 })
    t.notOk(isMounted(m.mountpoint), 'detached at once')
    const r = await mountAgain(m)
    t.equal(r.code, 0, 'a new daemon mounts the same store at the same place', { stderr: r.stderr })

    const write = async (name: string): Promise<void> => {
      const w = await roundTrip(m, name)
      t.equal(w.code, 0, `the new mount takes and gives back ${name}`, { stderr: w.stderr })
    }
    await write('while-both')

    writer.go()
    const w = await writer.done
    t.equal(w.code, 0, 'the writer on the detached mount wrote and closed its file', { out: w.out })
    t.same(await waitForExit(first, 60_000), [], 'the first daemon exits once its last file is closed')
    await write('after-first')

    const held = readFileSync(join(m.mountpoint, 'held'))
    t.ok(held.equals(expected()), `the new mount reads what the first daemon stored (${held.length} bytes)`)

    const log = readFileSync(defaultLogFile(m.mountpoint), 'utf8')
    t.notMatch(log, /set aside/, 'no journal was set aside')
    t.notMatch(log, /serving process died/, 'no serving process died')
    t.notMatch(log, /journal is closed/, 'no write met a closed journal')
    await m.unmount()
    const state = stateDirOf({ stateDir: undefined, mountpoint: m.mountpoint })
    t.notOk(existsSync(state), 'the state directory is gone after the unmount')
  })

  t.test('umount -l while a file is held open, then kill -9 of the serving process: the keeper serves the detached mount on', async t => {
    const m = await mountObjfs(t)
    const writer = await holdOpen(t, m)
    const first = daemonPids(m.mountpoint)
    const serving = servingPid(m.mountpoint)
    await shOk(`umount -l ${q(m.mountpoint)}`, { timeoutMs: 30_000 })
    t.notOk(isMounted(m.mountpoint), 'detached at once')
    process.kill(serving as number, 'SIGKILL')
    // The keeper's next serving process replays the journal: the first three pieces are in it.
    const until = Date.now() + 30_000
    while (!daemonPids(m.mountpoint).some(pid => !first.includes(pid)) && Date.now() < until) await new Promise(resolve => setTimeout(resolve, 50))
    t.ok(daemonPids(m.mountpoint).some(pid => !first.includes(pid)), 'the keeper started another serving process for the detached mount')
    writer.go()
    const w = await writer.done
    t.equal(w.code, 0, 'the writer wrote and closed its file across the crash', { out: w.out })
    t.same(await waitForExit(daemonPids(m.mountpoint), 60_000), [], 'the daemon exits once its last file is closed')
    await mountAgain(m)
    const held = readFileSync(join(m.mountpoint, 'held'))
    t.ok(held.equals(expected()), `the file holds every piece written (${held.length} bytes)`)
    const log = readFileSync(defaultLogFile(m.mountpoint), 'utf8')
    t.notMatch(log, /set aside/, 'no journal was set aside')
    await m.unmount()
  })

  // systemd's stop (SIGTERM to every process of the unit) or a kill of the
  // daemon: it unmounted by path, so a daemon stopped while detached took
  // down the mount that had come to its place since.
  for (const options of [[], ['no_keeper']]) {
    t.test(`umount -l while a file is held open, a new mount at the same place, then SIGTERM to the first daemon${options.length > 0 ? ` (${options.join(',')})` : ''}: the new mount stays`, async t => {
      const m = await mountObjfs(t, { options })
      const writer = await holdOpen(t, m)
      const first = daemonPids(m.mountpoint)
      await shOk(`umount -l ${q(m.mountpoint)}`, { timeoutMs: 30_000 })
      const r = await mountAgain(m, options)
      t.equal(r.code, 0, 'a new daemon mounts the same store at the same place', { stderr: r.stderr })
      const second = fuseConnectionOf(m.mountpoint)

      for (const pid of first) try { process.kill(pid, 'SIGTERM') } catch {}
      t.same(await waitForExit(first, 60_000), [], 'the first daemon stops')
      t.ok(isMounted(m.mountpoint) && fuseConnectionOf(m.mountpoint) === second, 'the new mount is still there')
      const w = await roundTrip(m, 'after')
      t.equal(w.code, 0, 'and serves', { stderr: w.stderr })

      // The stop stored what the writer had written, then cut the detached mount off.
      writer.go()
      const held = await writer.done
      t.not(held.code, 0, 'the writer on the stopped mount fails', { out: held.out })
      const stored = readFileSync(join(m.mountpoint, 'held'))
      t.ok(stored.equals(expected(3)), `the new mount reads what the first daemon had been given (${stored.length} bytes)`)
      await m.unmount()
    })
  }

  // umount(8) returns before the daemon has stored what it still had and
  // exited: here a writer killed while its writes were buffered, whose
  // RELEASE stores them (slowly: a store that takes 3 s a write).
  t.test('umount, then a new mount at the same place: the new one waits for the first daemon to store', async t => {
    const { m, faults } = await mountWithFaults(t, tempDir(t), [])
    const writer = await holdOpen(t, m)
    const first = daemonPids(m.mountpoint)
    const conn = fuseConnectionOf(m.mountpoint) as number
    faults('writeBlocks:delay=3000')
    writer.kill()
    await writer.done
    await shOk(`umount ${q(m.mountpoint)}`, { timeoutMs: 30_000 })
    t.ok(first.some(pid => daemonPids(m.mountpoint).includes(pid)), 'the first daemon is still storing after umount')
    // As any mount on the machine may: the first connection's id is not proof that it lives.
    if (await takeConnectionId(t, conn) === undefined) t.comment(`a mount elsewhere took id ${conn} first`)
    const r = await mountAgain(m, [], 150_000)
    t.equal(r.code, 0, 'a new daemon mounts the same store at the same place', { stderr: r.stderr })
    t.notOk(first.some(pid => daemonPids(m.mountpoint).includes(pid)), 'the first daemon had exited before the new mount was live')
    const held = readFileSync(join(m.mountpoint, 'held'))
    t.ok(held.equals(expected(3)), `the new mount reads what the killed writer had been told was written (${held.length} bytes)`)
    t.match(readFileSync(defaultLogFile(m.mountpoint), 'utf8'), /waiting for the daemon unmounted here before/, 'the new keeper said what it waited for')
    await m.unmount()
  })
}
