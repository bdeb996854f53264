// The real-mount tier's harness: bounded subprocesses, mounts that always
// come down, and the one place that decides whether this tier can run here.
//
// A hung FUSE daemon hangs every process that touches its mount, this one
// included, so nothing here touches a mountpoint in-process: every step is a
// subprocess with a timeout that kills its whole process group.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { onExit } from 'signal-exit'
import type { Test } from 'tap'
import { connectionLive, connectionOf, findMount, forceUnmount, fuseConnectionOf, isMounted } from '../../src/channel/unmount.ts'
import { defaultLogFile, stateDirOf } from '../../src/keeper/state.ts'
import { FAULTS_ENV } from '../../src/store/fault.ts'

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
export const objfsBin = join(repoRoot, 'bin/objfs')

/**
 * Where test mounts and scratch dirs go: /tmp, or the directory .ci/run
 * made for its run, so that its cleanup touches its own mounts only.
 */
const tmpRoot = process.env.OBJFS_TEST_TMPDIR ?? '/tmp'

/** 60 s: a mount has to open (or create) its store and answer INIT. */
const MOUNT_TIMEOUT_MS = 60_000
const STEP_TIMEOUT_MS = 60_000

export interface RunOptions {
  timeoutMs?: number
  cwd?: string
  env?: NodeJS.ProcessEnv
  /** Written to stdin, which is otherwise /dev/null. */
  input?: string | Buffer
}

export interface RunResult {
  /** Exit status, or null when killed by a signal (see signal, timedOut). */
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  timedOut: boolean
}

/**
 * Run a command in its own process group. On timeout the whole group gets
 * SIGKILL and the promise settles without waiting for the output pipes: a
 * daemon that forked off with our pipes as its stdio must not hold us here.
 */
export function run (cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = opts.timeoutMs ?? STEP_TIMEOUT_MS
  return new Promise(resolve => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      detached: true
    })
    const out: Buffer[] = []
    const err: Buffer[] = []
    let timedOut = false
    let settled = false
    const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      clearTimeout(grace)
      child.stdout?.destroy()
      child.stderr?.destroy()
      resolve({ code, signal, timedOut, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() })
    }
    child.stdout?.on('data', (b: Buffer) => out.push(b))
    child.stderr?.on('data', (b: Buffer) => err.push(b))
    if (opts.input !== undefined) child.stdin?.on('error', () => {}).end(opts.input)
    let grace: NodeJS.Timeout | undefined
    // 'close' waits for every holder of the pipes; after 'exit' give the
    // tail of the output a moment, then stop waiting for stray holders.
    child.on('exit', (code, signal) => { grace = setTimeout(() => finish(code, signal), 500) })
    child.on('close', (code, signal) => finish(code, signal))
    child.on('error', e => { err.push(Buffer.from(String(e))); finish(null, null) })
    const timer = setTimeout(() => {
      timedOut = true
      if (child.pid !== undefined) try { process.kill(-child.pid, 'SIGKILL') } catch {}
      finish(null, 'SIGKILL')
    }, timeoutMs)
  })
}

/** bash -c with `set -euo pipefail`, bounded like run(). */
export function sh (script: string, opts: RunOptions = {}): Promise<RunResult> {
  return run('bash', ['-c', `set -euo pipefail\n${script}`], opts)
}

/** A step that failed or overran: thrown so the subtest stops at the first broken step. */
export class StepError extends Error {
  readonly result: RunResult
  constructor (what: string, r: RunResult) {
    const why = r.timedOut ? 'timed out' : r.code === null ? `killed by ${r.signal}` : `exit ${r.code}`
    super(`${what}: ${why}\n--- stderr ---\n${tail(r.stderr)}\n--- stdout ---\n${tail(r.stdout)}`)
    this.result = r
  }
}

const tail = (s: string): string => s.length > 4000 ? `...${s.slice(-4000)}` : s

// After one step has timed out, the mount is most likely hung; failing the
// remaining steps at once keeps the file inside tap's timeout so that the
// teardown still gets to unmount.
let hung: string | undefined

/** Run a script that must succeed; returns its stdout. */
export async function shOk (script: string, opts: RunOptions = {}): Promise<string> {
  const what = script.trim().split('\n')[0].slice(0, 120)
  if (hung !== undefined) throw new Error(`not run, an earlier step timed out (${hung}): ${what}`)
  const r = await sh(script, opts)
  if (r.timedOut) hung = what
  if (r.code !== 0) throw new StepError(what, r)
  return r.stdout
}

/**
 * Compare two line listings (find -printf, sha256sum ...) and on mismatch
 * show only the lines that differ, not two screens of near-identical text.
 */
export function sameLines (t: Test, actual: string, expected: string, message: string): boolean {
  const count = (s: string): Map<string, number> => {
    const m = new Map<string, number>()
    for (const line of s.split('\n')) m.set(line, (m.get(line) ?? 0) + 1)
    return m
  }
  const a = count(actual)
  const e = count(expected)
  const missing = [...e].filter(([l, n]) => (a.get(l) ?? 0) < n).map(([l]) => l)
  const unexpected = [...a].filter(([l, n]) => (e.get(l) ?? 0) < n).map(([l]) => l)
  if (missing.length === 0 && unexpected.length === 0) return t.pass(message)
  return t.fail(message, {
    missing: missing.slice(0, 20),
    unexpected: unexpected.slice(0, 20),
    counts: `${missing.length} expected lines missing, ${unexpected.length} unexpected`
  })
}

/** Quote a value for a bash script. */
export const q = (s: string): string => `'${s.replaceAll("'", "'\\''")}'`

export const NOBODY = 65534

/** A shell script run as nobody, with no supplementary groups. */
export async function asNobody (script: string): Promise<{ code: number | null, out: string }> {
  const r = await sh(`setpriv --reuid=${NOBODY} --regid=${NOBODY} --clear-groups -- sh -c ${q(script)}`)
  return { code: r.code, out: r.stdout + r.stderr }
}

/**
 * Let nobody walk down to `path`: temp dirs are 0700, so without this every
 * refusal would come from a parent directory, not from the mount. Only o+x
 * is added, and the modes are restored afterwards.
 */
export function traversable (t: Test, path: string): void {
  for (let dir = dirname(path); dir !== '/'; dir = dirname(dir)) {
    const mode = statSync(dir).mode & 0o7777
    if ((mode & 0o001) !== 0) continue
    chmodSync(dir, mode | 0o001)
    t.teardown(() => chmodSync(dir, mode))
  }
}

/** Evict the page, dentry and inode caches so reads reach the daemon. */
export async function dropCaches (): Promise<void> {
  await shOk('echo 3 > /proc/sys/vm/drop_caches', { timeoutMs: 120_000 })
}

const isCI = (): boolean => {
  const v = process.env.CI
  return v !== undefined && v !== '' && v !== '0' && v !== 'false'
}

/** Why real mounts cannot run on this machine, or undefined when they can. */
export function mountTierUnavailable (): string | undefined {
  if (process.getuid?.() !== 0) return 'the mount tier needs root'
  if (!existsSync('/dev/fuse')) return 'the mount tier needs /dev/fuse'
  return undefined
}

/**
 * Call at the top of each mount test file. Returns false when the tier
 * cannot run: then the file is skipped, except in CI, where it fails.
 */
export function mountTier (t: Test): boolean {
  const why = mountTierUnavailable()
  if (why === undefined) return true
  if (isCI()) t.fail(`${why}; CI must run the mount tier, not skip it`)
  // A skipped subtest rather than plan(0): it works after other subtests too.
  else void t.test('real-mount tests', { skip: why }, () => {})
  return false
}

export interface Mount {
  mountpoint: string
  storeDir: string
  source: string
  /** A scratch directory next to the mount (not inside it) on local disk. */
  scratch: string
  /** objfs umount (if mounted), then mount again with the same source and options. */
  remount: () => Promise<void>
  /** objfs umount; throws if it fails or leaves the mount behind. */
  unmount: () => Promise<void>
  /** The daemon's counters from the objfs.stats xattr. */
  stats: () => Promise<any>
}

export interface MountOptions {
  options?: string[]
  source?: string
  storeDir?: string
}

/** Temp dirs live outside the repo (see tmpRoot) and go away in teardown. */
export function tempDir (t: Test, prefix = 'objfs-test-'): string {
  const dir = mkdtempSync(join(tmpRoot, prefix))
  t.teardown(async () => { await removeTree(dir) })
  return dir
}

/**
 * Mount a fresh objfs (or the given store) on a temp mountpoint. The
 * teardown, registered before mounting, always unmounts: objfs umount first,
 * then the forced path, then it removes the temp dirs.
 */
export async function mountObjfs (t: Test, opts: MountOptions = {}): Promise<Mount> {
  const base = mkdtempSync(join(tmpRoot, 'objfs-test-'))
  const mountpoint = join(base, 'mnt')
  const scratch = join(base, 'scratch')
  const storeDir = opts.storeDir ?? join(base, 'store')
  const source = opts.source ?? `local:${storeDir}`
  mkdirSync(mountpoint)
  mkdirSync(scratch)
  live.set(mountpoint, base)
  t.teardown(async () => {
    await ensureUnmounted(mountpoint, msg => t.comment(msg))
    live.delete(mountpoint)
    await removeTree(base)
    forgetRunState(t, mountpoint)
  })

  const mountArgs = ['mount', source, mountpoint]
  if (opts.options !== undefined && opts.options.length > 0) mountArgs.push('-o', opts.options.join(','))
  const mount = async (): Promise<void> => {
    const r = await run(objfsBin, mountArgs, { timeoutMs: MOUNT_TIMEOUT_MS })
    if (r.code !== 0) throw new StepError(`objfs ${mountArgs.join(' ')}`, r)
    if (!isMounted(mountpoint)) throw new Error(`objfs mount exited 0 but ${mountpoint} is not mounted`)
  }
  const unmount = async (): Promise<void> => {
    const r = await run(objfsBin, ['umount', mountpoint], { timeoutMs: MOUNT_TIMEOUT_MS })
    if (r.code !== 0) throw new StepError(`objfs umount ${mountpoint}`, r)
    if (isMounted(mountpoint)) throw new Error(`objfs umount exited 0 but ${mountpoint} is still mounted`)
  }
  await mount()
  return {
    mountpoint,
    storeDir,
    source,
    scratch,
    unmount,
    remount: async () => {
      if (isMounted(mountpoint)) await unmount()
      await mount()
    },
    stats: async () => {
      const out = await shOk(`getfattr --only-values -n objfs.stats ${q(mountpoint)}`)
      return JSON.parse(out)
    }
  }
}

/**
 * A mount whose store fails on purpose (src/store/fault.ts) by the rules
 * `faults` writes to a file in `dir`, which the daemon re-reads whenever it
 * changes; '' turns them off, and so does the end of the test.
 */
export async function mountWithFaults (t: Test, dir: string, options: string[]): Promise<{ m: Mount, faults: (rules: string) => void }> {
  const file = join(dir, 'faults')
  const faults = (rules: string): void => { if (rules === '') rmSync(file, { force: true }); else writeFileSync(file, `${rules}\n`) }
  process.env[FAULTS_ENV] = `@${file}`
  let m: Mount
  try {
    m = await mountObjfs(t, { options })
  } finally {
    delete process.env[FAULTS_ENV]
  }
  t.teardown(() => faults(''))
  return { m, faults }
}

/** In teardown: unmount `mountpoint` whatever state its daemon is in, then forget its state under /run. */
export function unmountAtEnd (t: Test, mountpoint: string): void {
  t.teardown(async () => {
    await ensureUnmounted(mountpoint, msg => t.comment(msg))
    forgetRunState(t, mountpoint)
  })
}

/**
 * Each test mounts on a new path, so its log and state under /run/objfs
 * would pile up; those of a failed test stay for a look.
 */
function forgetRunState (t: Test, mountpoint: string): void {
  if (!t.passing()) return
  rmSync(stateDirOf({ stateDir: undefined, mountpoint }), { recursive: true, force: true })
  rmSync(defaultLogFile(mountpoint), { force: true })
}

/**
 * Have another FUSE mount (bindfs) take connection id `id`, given back by
 * a mount just gone, as any mount on the machine could. The kernel hands
 * out the lowest free id, so tmpfs mounts first fill the free ids below
 * it (they stay until the test ends). Returns the bindfs mountpoint, or
 * undefined when a mount made elsewhere meanwhile took the id first.
 */
export async function takeConnectionId (t: Test, id: number): Promise<string | undefined> {
  const base = tempDir(t, 'objfs-take-')
  for (let i = 0; i < 256; i++) {
    const fill = join(base, `fill-${i}`)
    mkdirSync(fill)
    t.teardown(async () => { if (isMounted(fill)) await sh(`umount ${q(fill)} || umount -l ${q(fill)}`) })
    await shOk(`mount -t tmpfs objfs-test-fill ${q(fill)}`)
    const got = findMount(fill)?.minor ?? -1
    if (got < id) continue
    await shOk(`umount ${q(fill)}`)
    if (got > id) return undefined
    // The id is the lowest free one now.
    const { mnt, r } = await mountBindfs(t, base)
    if (r.code !== 0) throw new Error(`bindfs: ${r.stderr.trim()}`)
    return fuseConnectionOf(mnt) === id ? mnt : undefined
  }
  return undefined
}

/**
 * bindfs of `base`/src on `base`/mnt, unmounted at the end: another FUSE
 * daemon, which daemonizes once the mount is live. `files` are written
 * into src first.
 */
export async function mountBindfs (t: Test, base: string, files: Record<string, string> = {}): Promise<{ src: string, mnt: string, r: RunResult }> {
  const [src, mnt] = [join(base, 'src'), join(base, 'mnt')]
  mkdirSync(src)
  mkdirSync(mnt)
  for (const [name, text] of Object.entries(files)) writeFileSync(join(src, name), text)
  unmountAtEnd(t, mnt)
  return { src, mnt, r: await run('bindfs', [src, mnt], { timeoutMs: 30_000 }) }
}

/**
 * Bring a mountpoint down whatever state its daemon is in, and make sure no
 * daemon for it survives. Never throws; reports through log.
 */
export async function ensureUnmounted (mountpoint: string, log: (msg: string) => void): Promise<void> {
  try {
    // After a step timed out the daemon is presumed hung: a polite umount
    // would only wait out its own timeout before the forced path anyway.
    if (isMounted(mountpoint) && hung === undefined) {
      const r = await run(objfsBin, ['umount', mountpoint], { timeoutMs: MOUNT_TIMEOUT_MS })
      if (r.code !== 0) log(`objfs umount ${mountpoint}: ${r.timedOut ? 'timed out' : r.stderr.trim()}`)
    }
    const how = await forceUnmount(mountpoint, { timeoutMs: 10_000, log })
    if (how !== 'not-mounted') log(`${mountpoint} needed a forced unmount: ${how}`)
  } catch (err) {
    log(`unmounting ${mountpoint} failed: ${(err as Error).message}`)
  }
  // The mountpoint is a unique temp path, so a process naming it in its
  // command line is a daemon this test started.
  const stragglers = await waitForNoDaemon(mountpoint, 5000)
  for (const pid of stragglers) {
    log(`killing daemon ${pid} still running for ${mountpoint}`)
    try { process.kill(pid, 'SIGKILL') } catch {}
  }
}

/** Pids of live processes whose argv contains this exact argument. */
export function daemonPids (mountpoint: string): number[] {
  const pids: number[] = []
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue
    let argv: string[]
    try {
      argv = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0')
      // Zombies have exited already: their status is waiting for a parent.
      if (/^State:\s+Z/m.test(readFileSync(`/proc/${name}/status`, 'utf8'))) continue
    } catch {
      continue
    }
    if (argv.includes(mountpoint)) pids.push(Number(name))
  }
  return pids
}

/**
 * The process serving a mount: the keeper's child (`objfs serve`), or the
 * daemon itself when it runs without a keeper.
 */
export function servingPid (mountpoint: string): number | undefined {
  const pids = daemonPids(mountpoint)
  const serve = pids.find(pid => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes('serve')
    } catch {
      return false
    }
  })
  return serve ?? pids[0]
}

/** kill -9 every process of a mount's daemon, the keeper first (it would start another serving process). */
export function killDaemon (mountpoint: string): number[] {
  const pids = daemonPids(mountpoint).sort((a, b) => a - b)
  for (const pid of pids) try { process.kill(pid, 'SIGKILL') } catch {}
  return pids
}

/** kill -9 the serving process only, and wait for the keeper's next one (which replays the write journal). */
export async function crashServer (mountpoint: string, waitMs = 30_000): Promise<void> {
  const pid = servingPid(mountpoint)
  if (pid === undefined) throw new Error('no serving process to kill')
  process.kill(pid, 'SIGKILL')
  const replaced = async (): Promise<boolean> => { const next = servingPid(mountpoint); return next !== undefined && next !== pid }
  if (!await eventually(replaced, waitMs, 20)) throw new Error(`no serving process replaced ${pid} within ${waitMs / 1000} s`)
}

/** A crash: kill -9 every process of a mount's daemon (killDaemon), and wait until none is left. */
export async function crashDaemon (t: Test, mountpoint: string): Promise<void> {
  const pids = killDaemon(mountpoint)
  t.ok(pids.length > 0, `daemon ${pids.join(', ')} found`)
  t.same(await waitForNoDaemon(mountpoint, 10_000), [], 'the daemon is dead')
}

/** Wait up to waitMs for daemons of a mountpoint to exit; returns the survivors. */
export async function waitForNoDaemon (mountpoint: string, waitMs: number): Promise<number[]> {
  await eventually(async () => daemonPids(mountpoint).length === 0, waitMs)
  return daemonPids(mountpoint)
}

/** Poll `done` every everyMs until it holds or waitMs pass; says which. */
export async function eventually (done: () => Promise<boolean>, waitMs: number, everyMs = 100): Promise<boolean> {
  const until = Date.now() + waitMs
  for (;;) {
    if (await done()) return true
    if (Date.now() >= until) return false
    await new Promise(resolve => setTimeout(resolve, everyMs))
  }
}

/** p, or 'timeout' if it has not settled within ms. */
export async function within<T> (p: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<'timeout'>(resolve => { timer = setTimeout(resolve, ms, 'timeout') })
  try {
    return await Promise.race([p, late])
  } finally {
    clearTimeout(timer)
  }
}

/** A child of a test running beside it: see background(). */
export interface Background {
  child: ChildProcess
  /** What it printed so far, stdout and stderr as they came. */
  output: () => string
  /** Once it has ended and closed its output. */
  done: Promise<{ code: number | null, signal: NodeJS.Signals | null, out: string }>
  /** Once its output holds `text`; rejects if it ends first or ms pass, with what it printed. */
  printed: (text: string, ms: number) => Promise<void>
  /** SIGKILL to its process group while it runs; teardown does it too. */
  kill: () => void
}

/**
 * A command in its own process group that the test works beside (a writer
 * holding a file open, an rsync to crash the daemon under), killed with
 * everything it started at the test's end. Its stdin is /dev/null unless
 * asked for (`child.stdin`).
 */
export function background (t: Test, cmd: string, args: string[], opts: { stdin?: boolean } = {}): Background {
  const child = spawn(cmd, args, { stdio: [opts.stdin === true ? 'pipe' : 'ignore', 'pipe', 'pipe'], detached: true })
  let out = ''
  let ended = false
  const waiting = new Set<() => void>()
  const take = (d: string): void => {
    out += d
    for (const w of waiting) w()
  }
  child.stdout?.setEncoding('utf8').on('data', take)
  child.stderr?.setEncoding('utf8').on('data', take)
  const done = new Promise<{ code: number | null, signal: NodeJS.Signals | null, out: string }>(resolve => child.on('close', (code, signal) => {
    ended = true
    for (const w of waiting) w()
    resolve({ code, signal, out })
  }))
  const kill = (): void => {
    if (child.exitCode === null && child.signalCode === null) try { process.kill(-(child.pid as number), 'SIGKILL') } catch {}
  }
  t.teardown(kill)
  const printed = async (text: string, ms: number): Promise<void> => {
    let check: () => void = () => {}
    const seen = new Promise<void>((resolve, reject) => {
      check = () => {
        if (out.includes(text)) resolve()
        else if (ended) reject(new Error(`${cmd} ended before printing ${JSON.stringify(text)}: ${out}`))
      }
      waiting.add(check)
      check()
    })
    try {
      if (await within(seen, ms) === 'timeout') throw new Error(`${cmd} did not print ${JSON.stringify(text)} within ${ms / 1000} s: ${out}`)
    } finally {
      waiting.delete(check)
    }
  }
  return { child, output: () => out, done, printed, kill }
}

/** rm -rf that never crosses into a mount that failed to come down. */
async function removeTree (dir: string): Promise<void> {
  await run('rm', ['-rf', '--one-file-system', dir], { timeoutMs: 120_000 })
}

// Last line of defence when tap kills this process on timeout (SIGALRM,
// then SIGKILL) before the teardowns are through: detach and abort
// synchronously whatever is still mounted, then remove its temp dirs.
const live = new Map<string, string>()  // mountpoint -> temp base dir
onExit(() => {
  for (const [mp, base] of live) {
    if (isMounted(mp)) {
      const conn = connectionOf(mp)
      spawnSync('umount', ['-l', '-i', '-c', mp], { timeout: 5000, stdio: 'ignore' })
      // Not once it ended: its id may be another mount's by now.
      if (conn !== null && connectionLive(conn) === true) try { writeFileSync(`/sys/fs/fuse/connections/${conn.id}/abort`, '1') } catch {}
    }
    spawnSync('rm', ['-rf', '--one-file-system', base], { timeout: 30_000, stdio: 'ignore' })
  }
})
