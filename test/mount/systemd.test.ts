// What systemd/objfs@.service relies on, exercised without systemd (it is
// not PID 1 on test machines): its ExecStart command line, confined to the
// unit's capabilities, reports readiness through systemd-notify only once
// the mount is live, SIGTERM stores and unmounts with status 0, a restart
// over a stale mount works, and every system call the daemon makes passes
// the unit's SystemCallFilter.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { findMount, isMounted } from '../../src/channel/unmount.ts'
import { daemonPids, eventually, killDaemon, mountObjfs, mountTier, objfsBin, q, repoRoot, shOk, tempDir, unmountAtEnd, waitForNoDaemon, within } from './harness.ts'

const isCI = (): boolean => !['', '0', 'false', undefined].includes(process.env.CI)

interface Service { child: ChildProcess, exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>, stderr: () => string }

/** Run a command the way the unit's ExecStart does, in its own process group, killed in teardown. */
function start (t: Test, cmd: string, args: string[], env: NodeJS.ProcessEnv): Service {
  const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true, env })
  let stderr = ''
  child.stderr?.setEncoding('utf8').on('data', (s: string) => { stderr = (stderr + s).slice(-8000) })
  let done = false
  const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>(resolve => {
    child.on('exit', (code, signal) => { done = true; resolve({ code, signal }) })
  })
  t.teardown(() => { if (!done && child.pid !== undefined) try { process.kill(-child.pid, 'SIGKILL') } catch {} })
  return { child, exited, stderr: () => stderr }
}

async function until (what: string, ok: () => boolean, ms = 60_000): Promise<void> {
  if (!await eventually(async () => ok(), ms, 50)) throw new Error(`timed out waiting for ${what}`)
}

/** A port nobody listens on right now. */
async function freePort (): Promise<number> {
  const s = createServer()
  await new Promise<void>(resolve => s.listen(0, '127.0.0.1', () => resolve()))
  const port = (s.address() as { port: number }).port
  await new Promise(resolve => s.close(resolve))
  return port
}

interface Place { base: string, mnt: string, store: string, notified: string, env: NodeJS.ProcessEnv }

/**
 * A mountpoint and a stand-in systemd-notify first on PATH, which records
 * whether the mount was live when it ran and what it was told.
 */
function place (t: Test): Place {
  const base = tempDir(t)
  const mnt = join(base, 'mnt')
  const bin = join(base, 'bin')
  const notified = join(base, 'notified')
  mkdirSync(mnt)
  mkdirSync(bin)
  unmountAtEnd(t, mnt)
  writeFileSync(join(bin, 'systemd-notify'), [
    '#!/bin/sh',
    `if grep -qF ' ${mnt} ' /proc/self/mountinfo; then state=live; else state=not-live; fi`,
    `echo "$state $*" >> '${notified}'`,
    '',
  ].join('\n'), { mode: 0o755 })
  const env = { ...process.env, PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`, NOTIFY_SOCKET: join(base, 'notify-socket') }
  return { base, mnt, store: join(base, 'store'), notified, env }
}

const notifications = (p: Place): string[] => existsSync(p.notified) ? readFileSync(p.notified, 'utf8').trim().split('\n') : []

/** The unit's ExecStart with OBJFS_OPTIONS empty, as systemd would run it. */
const execStart = (p: Place): string[] => ['mount', `local:${p.store}`, p.mnt, '--foreground', '-o', '']

/**
 * The unit's CapabilityBoundingSet= and NoNewPrivileges=, applied with
 * setpriv(1) (util-linux), which execs: the pid stays the daemon's.
 */
function confined (args: string[]): [string, string[]] {
  const unit = readFileSync(join(repoRoot, 'systemd/objfs@.service'), 'utf8')
  const caps = (/^CapabilityBoundingSet=(.+)$/m.exec(unit)?.[1] ?? '').trim().split(/\s+/).map(c => `+${c.toLowerCase().replace(/^cap_/, '')}`)
  const nnp = /^NoNewPrivileges=yes$/m.test(unit) ? ['--no-new-privs'] : []
  return ['setpriv', ['--bounding-set', ['-all', ...caps].join(','), '--inh-caps', '-all', ...nnp, objfsBin, ...args]]
}

if (mountTier(t)) {
  t.test('ready only once live; SIGTERM stores, unmounts and exits 0', async t => {
    const p = place(t)
    const svc = start(t, ...confined(execStart(p)), p.env)
    await until('the readiness notification', () => notifications(p).length > 0 || svc.child.exitCode !== null)
    t.same(notifications(p), [`live --ready --pid=${svc.child.pid} --status=serving local:${p.store} on ${p.mnt}`],
      'one notification, sent when the mount was already live, naming the main pid', { stderr: svc.stderr() })
    const status = readFileSync(`/proc/${svc.child.pid}/status`, 'utf8')
    t.match(status, /^CapBnd:\s+0000000000200000$/m, 'the daemon runs with CAP_SYS_ADMIN alone, as the unit allows')
    t.match(status, /^NoNewPrivs:\s+1$/m)
    await shOk(`seq 1 100000 > ${q(p.mnt)}/numbers`)
    process.kill(svc.child.pid as number, 'SIGTERM')
    t.same(await within(svc.exited, 60_000), { code: 0, signal: null }, 'the daemon exits 0', { stderr: svc.stderr() })
    t.notOk(isMounted(p.mnt), 'and the mount is gone')
    const again = await mountObjfs(t, { storeDir: p.store })
    t.equal(await shOk(`sha256sum < ${q(again.mountpoint)}/numbers`), await shOk('seq 1 100000 | sha256sum'), 'the data is in the store')
  })

  t.test('a failed start sends no readiness', async t => {
    const p = place(t)
    const svc = start(t, objfsBin, ['mount', `local:${p.store}`, p.mnt, '--foreground', '-o', 'no_such_option'], p.env)
    t.not((await within(svc.exited, 60_000) as { code: number }).code, 0, 'the daemon fails')
    t.same(notifications(p), [], 'systemd never hears READY=1')
  })

  t.test('a restart after SIGKILL (Restart=on-failure) mounts over the stale mount', async t => {
    const p = place(t)
    const first = start(t, ...confined(execStart(p)), p.env)
    await until('the first notification', () => notifications(p).length === 1 || first.child.exitCode !== null)
    await shOk(`echo survives > ${q(p.mnt)}/f`)
    // As systemd does to the unit's cgroup (KillMode=control-group): the keeper and its serving process.
    killDaemon(p.mnt)
    await within(first.exited, 10_000)
    t.ok(isMounted(p.mnt), 'the killed daemon left a stale mount')
    const second = start(t, ...confined(execStart(p)), p.env)
    await until('the second notification', () => notifications(p).length === 2 || second.child.exitCode !== null)
    t.match(notifications(p)[1], /^live --ready /, 'the restarted daemon is ready', { stderr: second.stderr() })
    t.equal(findMount(p.mnt)?.fstype, 'fuse.objfs')
    t.equal(readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(l => l.split(' ')[4] === p.mnt).length, 1, 'one mount')
    t.equal(await shOk(`cat ${q(p.mnt)}/f`), 'survives\n')
    process.kill(second.child.pid as number, 'SIGTERM')
    t.same(await within(second.exited, 60_000), { code: 0, signal: null })
  })

  const tools = ['strace', 'systemd-analyze'].filter(c => spawnSync('sh', ['-c', `command -v ${c}`]).status !== 0)
  if (tools.length > 0 && !isCI()) {
    t.test('system calls against the unit\'s SystemCallFilter', { skip: `needs ${tools.join(' and ')}` }, async () => {})
  } else {
    t.test('every system call of a mount\'s life passes the unit\'s SystemCallFilter', async t => {
      t.same(tools, [], 'strace and systemd-analyze are installed (scripts/setup-deps.sh)')
      const allowed = allowedSyscalls()
      t.ok(allowed.has('mount') && allowed.has('read'), `the filter allows ${allowed.size} calls`)
      const p = place(t)
      const summary = join(p.base, 'strace.txt')
      const port = await freePort()
      // -f: threads and children (mount(8), umount(8), systemd-notify) too.
      const svc = start(t, 'strace', ['-f', '-qq', '-c', '-o', summary, objfsBin, ...execStart(p).slice(0, -1), `metrics_port=${port}`], p.env)
      await until('the mount under strace', () => notifications(p).length > 0 || svc.child.exitCode !== null, 120_000)
      t.ok(isMounted(p.mnt), 'mounted under strace', { stderr: svc.stderr() })
      await shOk(`
        cd ${q(p.mnt)}
        head -c 2500000 /dev/urandom > a && cat a > /dev/null && truncate -s 100 a
        mkdir -p d/e && ln -s a l && ln a h && mv a d/e/b && setfattr -n user.k -v v d && getfattr -d d > /dev/null
        ls -laR > /dev/null && stat -f . > /dev/null && rm -r d l h
        ${q(objfsBin)} stats . > /dev/null
      `, { timeoutMs: 120_000 })
      const metrics = await fetch(`http://127.0.0.1:${port}/metrics`)
      t.equal(metrics.status, 200, 'the metrics endpoint answered')
      const [daemon] = daemonPids(p.mnt).filter(pid => !readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('strace'))
      process.kill(daemon, 'SIGTERM')
      t.same(await within(svc.exited, 120_000), { code: 0, signal: null }, 'strace and the daemon exit 0', { stderr: svc.stderr() })
      t.same(await waitForNoDaemon(p.mnt, 5000), [])
      const traced = readFileSync(summary, 'utf8').split('\n')
        .map(l => l.trim().split(/\s+/))
        .filter(f => f.length >= 5 && /^\d/.test(f[0]) && f[f.length - 1] !== 'total')
        .map(f => f[f.length - 1])
      t.ok(traced.length > 30, `${traced.length} distinct system calls traced`)
      t.ok(traced.includes('mount') && traced.includes('umount2'), 'mount(8) and umount(8), run by the daemon, were traced too')
      t.same(traced.filter(s => !allowed.has(s)), [], 'none outside the filter')
    })
  }
}

/** The unit's SystemCallFilter= sets, expanded through `systemd-analyze syscall-filter`. */
function allowedSyscalls (): Set<string> {
  const unit = readFileSync(join(repoRoot, 'systemd/objfs@.service'), 'utf8')
  const filter = /^SystemCallFilter=(.+)$/m.exec(unit)?.[1].trim().split(/\s+/) ?? []
  const groups = new Map<string, string[]>()
  let current: string[] | undefined
  for (const line of spawnSync('systemd-analyze', ['syscall-filter'], { encoding: 'utf8' }).stdout.split('\n')) {
    if (line.startsWith('@')) groups.set(line.trim(), current = [])
    else if (current !== undefined && /^\s+@?[a-z_0-9-]+$/.test(line)) current.push(line.trim())
  }
  const out = new Set<string>()
  const add = (name: string): void => {
    if (!name.startsWith('@')) { out.add(name); return }
    for (const m of groups.get(name) ?? []) add(m)
  }
  for (const f of filter) add(f)
  return out
}
