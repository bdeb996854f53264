// Which CPUs the serving thread and the reader thread may run on.
//
// Both threads poll (idle-spin.ts, reader-spin.ts), and a poll only pays
// while the thread it waits for runs on another CPU. On these 2-vCPU
// machines the scheduler put the two on one vCPU for long stretches:
// there the reader's poll for a reply kept the serving thread that was to
// write it off the CPU, and the serving thread was preempted up to 8,000
// times in an unlink of 10,000 files. Kept apart, at most 2,200 times, and
// the unlink took 0.37-0.48 s against 0.41-0.69 s on the same mount, the
// threads moved back and forth between rounds (session 20, README).
//
// So the serving thread gets one CPU of those the daemon may use, and the
// reader every other one: it still wakes near the caller, which the handover
// (handover.ts) is for. Node has no call for a thread's affinity, so
// taskset(1) sets it, once per thread at start, and again when the serving
// thread moves off a lone caller's CPU (follow.ts). A thread inherits the CPUs
// of the thread that starts it, so threads the serving thread starts later
// (the checkpoint thread, a pool worker replacing one that died) move
// themselves back to all of the daemon's CPUs (leaveServingCpu).
import { execFile, spawnSync } from 'node:child_process'
import { readFileSync, readlinkSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { BroadcastChannel } from 'node:worker_threads'
import type { ServeCpu } from '../config.ts'
import { ConfigError } from '../errors.ts'

export interface Placement {
  serving: number[]
  reader: number[]
  /** Every CPU the daemon may use: the other threads'. */
  all: number[]
  /** serve_cpu=auto: the serving thread moves off a lone caller's CPU (follow.ts). */
  follow: boolean
}

/** Where a thread started after the serving thread was bound finds the daemon's CPUs. */
const DAEMON_CPUS_ENV = 'OBJFS_DAEMON_CPUS'

/**
 * Where bindThread says, from whichever thread, that the process forked
 * (spawnSync forks): the fork left every page copy-on-write, the request
 * ring's too, which the session then writes again (ring.ts, refault).
 */
export const FORKED_CHANNEL = 'objfs:forked'

/** "0-3,8,10-11" (the kernel's list format) -> [0, 1, 2, 3, 8, 10, 11]. */
export function parseCpuList (text: string): number[] {
  const cpus = new Set<number>()
  for (const part of text.trim().split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part)
    if (m === null) throw new Error(`'${text}' is not a CPU list`)
    const first = Number(m[1])
    const last = m[2] === undefined ? first : Number(m[2])
    for (let cpu = first; cpu <= last; cpu++) cpus.add(cpu)
  }
  return [...cpus].sort((a, b) => a - b)
}

/** The CPUs a `/proc/<pid>/status` text allows. */
export function cpusAllowed (status: string): number[] {
  const m = /^Cpus_allowed_list:\s*(\S+)$/m.exec(status)
  if (m === null) throw new Error('no Cpus_allowed_list in the status')
  return parseCpuList(m[1])
}

/**
 * The CPUs this thread may use. Read through the thread pool on purpose:
 * libuv starts its pool threads at their first use, and a thread inherits
 * the affinity of the thread that starts it, so started here, before the
 * serving thread is bound, they keep every CPU.
 */
export async function allowedCpus (): Promise<number[]> {
  return cpusAllowed(await readFile('/proc/thread-self/status', 'latin1'))
}

/** The CPUs the calling thread may use now (synchronously; see allowedCpus for the daemon's start). */
export function threadCpus (): number[] {
  return cpusAllowed(readFileSync('/proc/thread-self/status', 'latin1'))
}

/** Where the two threads go, or undefined to leave them to the scheduler. */
export function placementOf (choice: ServeCpu, allowed: readonly number[]): Placement | undefined {
  if (choice === 'off') return undefined
  if (allowed.length < 2) {
    if (choice === 'auto') return undefined
    throw new ConfigError(`serve_cpu=${choice}: the daemon may use only CPU ${allowed.join('')}, nothing to keep apart (serve_cpu=off)`)
  }
  const serving = choice === 'auto' ? allowed[allowed.length - 1] : choice
  if (!allowed.includes(serving)) throw new ConfigError(`serve_cpu=${serving}: the daemon may use CPUs ${allowed.join(',')} only`)
  return { serving: [serving], reader: allowed.filter(cpu => cpu !== serving), all: [...allowed], follow: choice === 'auto' }
}

/** The kernel's id of the calling thread (the process id for the main thread). */
export function threadId (): number {
  // "<pid>/task/<tid>"
  return Number(readlinkSync('/proc/thread-self').split('/')[2])
}

/**
 * Bind the serving (main) thread, once every long-lived thread is started;
 * a thread it starts later finds the daemon's CPUs in its environment
 * (Worker threads start with a copy of process.env).
 */
export function bindServingThread (placement: Placement): void {
  process.env[DAEMON_CPUS_ENV] = placement.all.join(',')
  bindThread(process.pid, placement.serving)
}

/**
 * At a thread's start: if it inherited the serving thread's CPU, back to
 * every CPU of the daemon. Quiet on failure: the thread works either way.
 */
export function leaveServingCpu (): void {
  const all = process.env[DAEMON_CPUS_ENV]
  if (all === undefined) return
  try {
    if (threadCpus().join(',') !== all) bindThread(threadId(), parseCpuList(all))
  } catch {}
}

function tasksetArgs (tid: number, cpus: readonly number[]): string[] {
  return ['--pid', '--cpu-list', cpus.join(','), String(tid)]
}

/** Forked, even if taskset then failed. */
function announceFork (tid: number): void {
  const forked = new BroadcastChannel(FORKED_CHANNEL)
  forked.postMessage(tid)
  forked.close()
}

/** Let thread `tid` run on `cpus` only; throws with taskset's reason. */
export function bindThread (tid: number, cpus: readonly number[]): void {
  const r = spawnSync('taskset', tasksetArgs(tid, cpus), { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] })
  announceFork(tid)
  if (r.error !== undefined) throw new Error(`taskset: ${r.error.message}`)
  if (r.status !== 0) throw new Error(`taskset: ${r.stderr.trim() || `exit status ${r.status}`}`)
}

/** bindThread without blocking the calling thread while taskset runs: for the serving thread once it serves. */
export function bindThreadAsync (tid: number, cpus: readonly number[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('taskset', tasksetArgs(tid, cpus), { encoding: 'utf8' }, (err, _stdout, stderr) => {
      announceFork(tid)
      if (err === null) resolve()
      else reject(new Error(`taskset: ${stderr.trim() || err.message}`))
    })
  })
}
