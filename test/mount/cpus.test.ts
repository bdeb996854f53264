// serve_cpu on a real mount: the serving thread on a CPU of its own, the
// reader thread on the others, every other thread of the daemon on all of
// them, also the checkpoint thread that starts once the store has committed
// a while (src/channel/cpus.ts); with auto, the serving thread moves off
// the CPU a lone caller runs on (src/channel/follow.ts).
import { readdirSync, readFileSync } from 'node:fs'
import t from 'tap'
import { cpusAllowed, threadCpus } from '../../src/channel/cpus.ts'
import { mountObjfs, mountTier, q, servingPid, shOk } from './harness.ts'

const allowed = threadCpus()

/** Each thread of `pid`: its name and the CPUs it may use, the main thread first. */
function threads (pid: number): Array<{ tid: number, name: string, cpus: string }> {
  return readdirSync(`/proc/${pid}/task`).map(Number).sort((a, b) => a - b).map(tid => ({
    tid,
    name: readFileSync(`/proc/${pid}/task/${tid}/comm`, 'latin1').trim(),
    cpus: cpusAllowed(readFileSync(`/proc/${pid}/task/${tid}/status`, 'latin1')).join(','),
  }))
}

function daemonThreads (mountpoint: string): ReturnType<typeof threads> {
  const pid = servingPid(mountpoint)
  if (pid === undefined) throw new Error(`no daemon serves ${mountpoint}`)
  const list = threads(pid)
  if (list[0].tid !== pid) throw new Error('the main thread is listed first')
  return list
}

if (mountTier(t)) {
  t.test('by default the serving thread has the last CPU, the reader thread the others', { skip: allowed.length < 2 ? `this process may use only CPU ${allowed.join('')}` : false }, async t => {
    const all = allowed.join(',')
    const last = String(allowed[allowed.length - 1])
    const rest = allowed.slice(0, -1).join(',')
    const m = await mountObjfs(t)
    // Enough commits to start the checkpoint thread (checkpoint.ts START_AFTER_COMMITS): each fsync commits.
    await shOk(`cd ${q(m.mountpoint)} && for i in $(seq 100); do echo $i > f$i && sync f$i; done`, { timeoutMs: 120_000 })
    const [main, ...others] = daemonThreads(m.mountpoint)
    // The shell and sync take turns: no lone caller to move away from.
    t.equal((await m.stats()).servingMoves, 0, 'not moved')
    t.equal(main.cpus, last, 'the serving thread')
    const readers = others.filter(th => th.cpus === rest)
    t.equal(readers.length, 1, 'one thread on the other CPUs: the reader', { threads: others })
    t.equal(readers[0]?.name, 'WorkerThread')
    const workers = others.filter(th => th.name === 'WorkerThread')
    t.ok(workers.length >= 4, `the reader, two pool workers and the checkpoint thread (${workers.length} worker threads)`)
    t.same(others.filter(th => th !== readers[0] && th.cpus !== all), [], 'every other thread on every CPU')
    await m.unmount()
  })

  t.test('auto: the serving thread moves off a lone caller\'s CPU, the reader onto it', { skip: allowed.length < 2 ? `this process may use only CPU ${allowed.join('')}` : false }, async t => {
    const last = allowed[allowed.length - 1]
    const m = await mountObjfs(t)
    t.equal(daemonThreads(m.mountpoint)[0].cpus, String(last), 'the serving thread starts on the last CPU')
    // One process, one create after another (a redirection: the shell
    // itself), on the serving thread's CPU for a good second.
    await shOk(`cd ${q(m.mountpoint)} && taskset -c ${last} sh -c 'for i in $(seq 3000); do : > f$i; done'`, { timeoutMs: 120_000 })
    const [main, ...others] = daemonThreads(m.mountpoint)
    t.ok((await m.stats()).servingMoves >= 1, 'moved')
    t.not(main.cpus, String(last), `the serving thread left CPU ${last} (now ${main.cpus})`)
    t.equal(main.cpus.split(',').length, 1, 'for one CPU')
    const rest = allowed.filter(cpu => String(cpu) !== main.cpus).join(',')
    t.equal(others.filter(th => th.cpus === rest).length, 1, `the reader on the others (${rest}), the caller's among them`)
    await m.unmount()
  })

  t.test('auto: a lone caller in execve, files of the mount open, while the serving thread looks where it runs', { skip: allowed.length < 2 ? `this process may use only CPU ${allowed.join('')}` : false }, async t => {
    // execve closes the files it does not pass on (Python's: all), a FLUSH
    // each, and reading the caller's /proc stat blocks until execve is
    // through. Named after the first FLUSH (the first lone request after a
    // pause longer than CHECK_MS), the caller is looked at while the second
    // waits: a daemon that waited for the look never answered it (session 38).
    const m = await mountObjfs(t)
    const script = [
      'import os, sys, time',
      'd, n = sys.argv[1], int(sys.argv[2])',
      'if n == 0: sys.exit(0)',
      'a = open(f"{d}/a", "w"); b = open(f"{d}/b", "w")',
      'for i in range(20): open(f"{d}/f{n}-{i}", "w").close()',
      'time.sleep(0.08)',
      'os.execv(sys.executable, [sys.executable, "-c", sys.argv[3], d, str(n - 1), sys.argv[3]])',
    ].join('\n')
    const rounds = 30
    await shOk(`python3 -c ${q(script)} ${q(m.mountpoint)} ${rounds} ${q(script)}`, { timeoutMs: 60_000 })
    t.equal((await shOk(`ls ${q(m.mountpoint)} | grep -c '^f'`)).trim(), String(rounds * 20), 'every round ran')
    await m.unmount()
  })

  t.test('serve_cpu=0 and serve_cpu=off', { skip: allowed.length < 2 || allowed[0] !== 0 ? 'needs CPU 0 and another' : false }, async t => {
    const pinned = await mountObjfs(t, { options: ['serve_cpu=0'] })
    // A CPU asked for is kept, even with a lone caller on it.
    await shOk(`cd ${q(pinned.mountpoint)} && taskset -c 0 sh -c 'for i in $(seq 3000); do : > f$i; done'`, { timeoutMs: 120_000 })
    const [main, ...others] = daemonThreads(pinned.mountpoint)
    t.equal(main.cpus, '0', 'the serving thread on the CPU asked for')
    t.equal(others.filter(th => th.cpus === allowed.slice(1).join(',')).length, 1, 'the reader on the others')
    t.equal((await pinned.stats()).servingMoves, 0, 'never moved')
    await pinned.unmount()

    const off = await mountObjfs(t, { options: ['serve_cpu=off'] })
    t.same(daemonThreads(off.mountpoint).filter(th => th.cpus !== allowed.join(',')), [], 'off: every thread on every CPU')
    await off.unmount()
  })
}
