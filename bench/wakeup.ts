// How long one thread takes to wake another, on one CPU and across two.
// Every FUSE request pays for wake-ups (the kernel waking the daemon, the
// reply waking the caller), and on a VM their price moves from day to day:
// a vCPU that halted waits for the host to run it again. Session 21 saw
// 6.7 us on one CPU against 61.5 us across two, and every target slower
// than the session before, objfs most. The harness measures it before and
// after each run and keeps it with the figures, so that a run's ratios can
// be read against the machine it had.
//
// Run as a script it is the probe: two threads of its own process (the
// other is wakeup-partner.ts), each bound to a CPU with taskset, pass a
// turn back and forth through a SharedArrayBuffer with Atomics.wait/notify
// (futexes, as the kernel's own wake-ups). The harness runs it as a child,
// so that binding threads never touches the harness's own.
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import { allowedCpus, bindThread, threadId } from '../src/channel/cpus.ts'
import { median } from './summary.ts'

export interface Wakeups {
  /** Median round trip (two wake-ups) between two threads on one CPU, in microseconds. */
  sameCpuUs: number
  /** The same across two CPUs; null with one CPU. */
  crossCpuUs: number | null
  /** The CPUs used: [a, b]. */
  cpus: number[]
}

const ROUND_TRIPS = 2_000
const BATCHES = 5

async function roundTripUs (a: number, b: number): Promise<number> {
  bindThread(threadId(), [a])
  const shared = new SharedArrayBuffer(4)
  const turn = new Int32Array(shared)
  const worker = new Worker(new URL('./wakeup-partner.ts', import.meta.url), { workerData: { turn: shared, cpu: b } })
  try {
    await new Promise((resolve, reject) => {
      worker.once('message', resolve)
      worker.once('error', reject)
    })
    const perBatch: number[] = []
    let n = 0
    for (let batch = 0; batch < BATCHES; batch++) {
      const started = performance.now()
      for (let i = 0; i < ROUND_TRIPS; i++) {
        const mine = 2 * n + 1
        Atomics.store(turn, 0, mine)
        Atomics.notify(turn, 0)
        let v
        while ((v = Atomics.load(turn, 0)) === mine) Atomics.wait(turn, 0, v)
        n++
      }
      perBatch.push((performance.now() - started) * 1000 / ROUND_TRIPS)
    }
    return median(perBatch)
  } finally {
    Atomics.store(turn, 0, -1)
    Atomics.notify(turn, 0)
    await worker.terminate()
  }
}

/** The probe itself: both figures for the first and last CPU this process may use. */
export async function probe (): Promise<Wakeups> {
  const allowed = await allowedCpus()
  const a = allowed[0]
  const b = allowed[allowed.length - 1]
  const sameCpuUs = await roundTripUs(a, a)
  const crossCpuUs = a === b ? null : await roundTripUs(a, b)
  return { sameCpuUs, crossCpuUs, cpus: [a, b] }
}

const round1 = (x: number): number => Math.round(x * 10) / 10

/** Run the probe in a child process; throws with the reason when it cannot. */
export function measureWakeups (timeoutMs = 60_000): Wakeups {
  const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url)], { encoding: 'utf8', timeout: timeoutMs, stdio: ['ignore', 'pipe', 'pipe'] })
  if (r.error !== undefined) throw new Error(`wake-up probe: ${r.error.message}`)
  if (r.status !== 0) throw new Error(`wake-up probe: ${r.stderr.trim().split('\n').pop() || `exit status ${r.status}`}`)
  const w = JSON.parse(r.stdout) as Wakeups
  return { sameCpuUs: round1(w.sameCpuUs), crossCpuUs: w.crossCpuUs === null ? null : round1(w.crossCpuUs), cpus: w.cpus }
}

/** One line for people: "6.7 us on one CPU, 61.5 us across CPUs 0 and 1". */
export function describeWakeups (w: Wakeups): string {
  const same = `${w.sameCpuUs.toFixed(1)} us on one CPU`
  return w.crossCpuUs === null ? same : `${same}, ${w.crossCpuUs.toFixed(1)} us across CPUs ${w.cpus[0]} and ${w.cpus[1]}`
}

/** The run's two probes: "before: ...; after: ...". */
export function renderWakeups (w: { before: Wakeups | null, after: Wakeups | null } | undefined): string {
  if (w === undefined) return 'not measured'
  const one = (x: Wakeups | null): string => x === null ? 'not measured' : describeWakeups(x)
  return `before the run ${one(w.before)}; after it ${one(w.after)}`
}

if (import.meta.main) {
  probe().then(
    (w) => { process.stdout.write(JSON.stringify(w) + '\n') },
    (err: unknown) => {
      process.stderr.write(`${(err as Error).message}\n`)
      process.exitCode = 1
    },
  )
}
