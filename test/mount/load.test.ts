// Load: 16 client processes at once, writers of files of their own,
// writers sharing one file (a region each) and readers of everything,
// for a sustained run (20 s here, 5 minutes with OBJFS_SOAK=1). Nobody ever
// reads a wrong byte, everything is there after a remount, fsck is clean,
// and the daemon's resident memory, sampled all along, stays within what
// its options allow.
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { soak } from '../fs/model.ts'
import { mountObjfs, servingPid, mountTier, objfsBin, q, run, shOk, type Mount } from './harness.ts'

const MiB = 1024 * 1024
const SECONDS = soak() ? 300 : 20
const DIRTY_LIMIT = 32 * MiB
const SLOTS = 16
/**
 * What the daemon needs besides its budgets, fixed: its runtime, four V8
 * isolates (supervisor, /dev/fuse reader, two store workers) with Node and
 * the TypeScript stripper loaded and SQLite's page cache per connection
 * (an idle daemon measures 180-200 MiB on these machines), plus what the
 * garbage collector and the allocator hold under sustained load: every
 * block read comes back from a worker in a buffer of its own (up to 1 MiB)
 * that V8 collects late, and glibc's per-thread malloc arenas keep freed
 * memory. Measured with this load: peaks of 350 MiB over 20 s and 410 MiB
 * over 5 minutes (OBJFS_SOAK=1), flat after the first two minutes; with
 * MALLOC_ARENA_MAX=2 the same load peaks near 340 MiB.
 */
const ALLOWANCE = 448 * MiB
const BUDGET = DIRTY_LIMIT + SLOTS * MiB + ALLOWANCE

const workerFile = fileURLToPath(new URL('./load-worker.ts', import.meta.url))

interface Result { role: string, ops: number, written: number, read: number, wrong: number }

/** A load-worker process without tap's hooks; its one-line JSON result. */
async function worker (args: string[], timeoutMs: number): Promise<Result> {
  return await new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', 'exec env -u NODE_OPTIONS "$0" --disable-warning=ExperimentalWarning "$@"', process.execPath, workerFile, ...args], { stdio: ['ignore', 'pipe', 'pipe'], detached: true })
    let out = ''
    let err = ''
    child.stdout.setEncoding('utf8').on('data', (s: string) => { out += s })
    child.stderr.setEncoding('utf8').on('data', (s: string) => { err += s })
    const timer = setTimeout(() => { try { process.kill(-(child.pid as number), 'SIGKILL') } catch {} }, timeoutMs)
    child.on('exit', code => {
      clearTimeout(timer)
      try {
        resolve(JSON.parse(out) as Result)
      } catch {
        reject(new Error(`load-worker ${args.join(' ')} exited ${code}: ${err.slice(-2000)}`))
      }
    })
  })
}

const rssOf = (pid: number): number => {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m === null ? 0 : Number(m[1]) * 1024
}

/** Sample the daemon's RSS until stopped: the peak, and how many samples. */
function sampler (pid: number): { stop: () => { peak: number, samples: number, idle: number } } {
  const idle = rssOf(pid)
  let peak = idle
  let samples = 0
  const timer = setInterval(() => {
    try { peak = Math.max(peak, rssOf(pid)) } catch {}
    samples++
  }, 200)
  return { stop: () => { clearInterval(timer); return { peak, samples, idle } } }
}

const OWN = 6
const OWN_BYTES = 16 * MiB
const SHARERS = 4
const SHARE_BYTES = 8 * MiB
const READERS = 16 - OWN - SHARERS

if (mountTier(t)) {
  t.test(`16 clients for ${SECONDS} s: right bytes for all, memory within budget`, async t => {
    const m: Mount = await mountObjfs(t, { options: [`dirty_limit=${DIRTY_LIMIT / MiB}M`, `slots=${SLOTS}`] })
    const files = [...Array.from({ length: OWN }, (_, i) => `${m.mountpoint}/own${i}`), `${m.mountpoint}/shared`]
    await shOk(`touch ${files.map(q).join(' ')}`)
    const pid = servingPid(m.mountpoint) as number
    t.ok(pid, `daemon ${pid}`)
    const rss = sampler(pid)
    const limit = (SECONDS + 120) * 1000
    const seed = Date.now() & 0xffffff
    t.comment(`seed ${seed}`)
    const results = await Promise.all([
      ...Array.from({ length: OWN }, async (_, i) => await worker(['writer', files[i], '0', String(OWN_BYTES), String(seed + i), String(SECONDS)], limit)),
      ...Array.from({ length: SHARERS }, async (_, i) => await worker(['sharer', files[OWN], String(i * SHARE_BYTES), String(SHARE_BYTES), String(seed + 100 + i), String(SECONDS)], limit)),
      ...Array.from({ length: READERS }, async (_, i) => await worker(['reader', files.join(','), String(seed + 200 + i), String(SECONDS)], limit)),
    ])
    const { peak, samples, idle } = rss.stop()
    const sum = (role: string, k: 'ops' | 'written' | 'read' | 'wrong'): number => results.filter(r => r.role === role).reduce((a, r) => a + r[k], 0)
    for (const role of ['writer', 'sharer', 'reader']) {
      t.comment(`${role}s: ${sum(role, 'ops')} operations, ${(sum(role, 'written') / MiB).toFixed(0)} MiB written, ${(sum(role, 'read') / MiB).toFixed(0)} MiB read`)
    }
    t.ok(results.every(r => r.ops > 0), 'every client got work done')
    t.same(results.map(r => r.wrong), results.map(() => 0), 'no client ever read a wrong byte')
    t.ok(samples > SECONDS * 3, `${samples} RSS samples`)
    t.ok(peak <= BUDGET, `peak RSS ${(peak / MiB).toFixed(0)} MiB (idle ${(idle / MiB).toFixed(0)} MiB) within dirty_limit ${DIRTY_LIMIT / MiB} MiB + ${SLOTS} slots x 1 MiB + ${ALLOWANCE / MiB} MiB = ${BUDGET / MiB} MiB`)

    await m.unmount()
    const fsck = await run(objfsBin, ['fsck', m.storeDir], { timeoutMs: 120_000 })
    t.equal(fsck.code, 0, 'fsck: clean', { out: fsck.stdout })
    await m.remount()
    const check = await Promise.all([
      ...Array.from({ length: OWN }, async (_, i) => await worker(['verify', files[i], '0', String(OWN_BYTES)], 120_000)),
      ...Array.from({ length: SHARERS }, async (_, i) => await worker(['verify', files[OWN], String(i * SHARE_BYTES), String(SHARE_BYTES)], 120_000)),
    ])
    t.same(check.map(r => r.wrong), check.map(() => 0), 'after a remount every region holds exactly what its writer wrote last')
  })
}
