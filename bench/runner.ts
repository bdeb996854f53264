// The run itself: mount every target, run each workload repeat on all live
// targets back to back (so machine noise hits them alike), tear everything
// down whatever happens.
import { join } from 'node:path'
import { dropCaches } from './cache.ts'
import { totalCpuSeconds } from './proc.ts'
import type { Failure, Sample, TargetRecord } from './results.ts'
import { NotRunnable, type Mounted, type Target, type TargetEnv } from './targets/types.ts'
import { StepFailed, type Sizes, type Step, type StepContext, type Workload } from './workloads/types.ts'

export interface RunPlan {
  targets: Target[]
  workloads: Workload[]
  repeats: number
  sizes: Sizes
  timeoutMs: number | null
}

export interface RunOutcome {
  targets: TargetRecord[]
  samples: Sample[]
  failures: Failure[]
  warnings: string[]
  interrupted: boolean
}

// Untimed mkdir / rm of a workload directory.
const HOUSEKEEPING_TIMEOUT_MS = 120_000

interface Live {
  target: Target
  record: TargetRecord
  mounted?: Mounted
}

class Interrupted extends Error {}

export async function run (plan: RunPlan, env: TargetEnv): Promise<RunOutcome> {
  const out: RunOutcome = { targets: [], samples: [], failures: [], warnings: [], interrupted: false }
  const live: Live[] = plan.targets.map((target) => ({ target, record: { name: target.name, status: 'ok' } }))
  out.targets = live.map((l) => l.record)
  const warn = (msg: string): void => { out.warnings.push(msg); env.log(`warning: ${msg}`) }
  try {
    for (const l of live) await setup(l, env)
    for (const w of plan.workloads) {
      for (let r = 1; r <= plan.repeats; r++) {
        // Rotate the order each repeat: no target always runs first, on a cold machine.
        for (let i = 0; i < live.length; i++) {
          const l = live[(i + r - 1) % live.length]
          if (l.mounted !== undefined) await repeatOnce(l, w, r, plan, env, out, warn)
        }
      }
    }
  } catch (err) {
    if (!(err instanceof Interrupted)) throw err
    out.interrupted = true
  } finally {
    for (const l of live) {
      if (l.mounted === undefined) continue
      env.log(`unmounting ${l.target.name}`)
      await l.mounted.teardown()
    }
  }
  return out
}

async function setup (l: Live, env: TargetEnv): Promise<void> {
  if (env.signal.aborted) throw new Interrupted()
  env.log(`mounting ${l.target.name}`)
  try {
    l.mounted = await l.target.setup(env)
    l.record.detail = l.mounted.detail
    if (l.mounted.daemonPids.length > 0) l.record.daemonPids = l.mounted.daemonPids
  } catch (err) {
    if (env.signal.aborted) throw new Interrupted()
    l.record.status = 'not-run'
    l.record.reason = err instanceof NotRunnable ? err.message : `setup failed: ${(err as Error).message}`
    env.log(`${l.target.name}: not run: ${l.record.reason}`)
  }
}

/** prepare, every step, cleanup; the first failure takes the target out of the run. */
async function repeatOnce (l: Live, w: Workload, repeat: number, plan: RunPlan, env: TargetEnv, out: RunOutcome, warn: (m: string) => void): Promise<void> {
  const mounted = l.mounted as Mounted
  const ctx: StepContext = { dir: join(mounted.dir, `bench-${w.name}`), sizes: plan.sizes, timeoutMs: HOUSEKEEPING_TIMEOUT_MS, signal: env.signal }
  let where = 'prepare'
  try {
    await w.prepare(ctx)
    for (const step of w.steps) {
      where = step.name
      out.samples.push(await timeStep(l, w, step, repeat, { ...ctx, timeoutMs: plan.timeoutMs ?? step.timeoutMs(plan.sizes) }, env, warn))
    }
    where = 'cleanup'
    await w.cleanup(ctx)
  } catch (err) {
    if (env.signal.aborted) throw new Interrupted()
    if (!(err instanceof StepFailed)) throw err
    const message = `${where} #${repeat}: ${err.message}`
    out.failures.push({ target: l.target.name, workload: w.name, step: where, repeat, message })
    l.record.status = 'failed'
    l.record.reason = message
    env.log(`${l.target.name}: failed: ${message}; tearing it down`)
    // At once: a hung daemon holds our killed child in the kernel until its
    // connection is aborted, and the other targets should not wait on it.
    l.mounted = undefined
    await mounted.teardown()
  }
}

async function timeStep (l: Live, w: Workload, step: Step, repeat: number, ctx: StepContext, env: TargetEnv, warn: (m: string) => void): Promise<Sample> {
  const mounted = l.mounted as Mounted
  let coldCache: boolean | null = null
  if (step.coldCache) {
    const why = await dropCaches(env.signal)
    coldCache = why === null
    if (why !== null) warn(`${l.target.name} ${step.name} #${repeat} ran with warm caches: ${why}`)
  }
  const pids = mounted.daemonPids
  const cpu0 = pids.length > 0 ? totalCpuSeconds(pids) : undefined
  const o = await step.run(ctx)
  const cpu1 = pids.length > 0 ? totalCpuSeconds(pids) : undefined
  if (pids.length > 0 && cpu1 === undefined) throw new StepFailed(`daemon ${pids.join(',')} exited`)
  const daemonCpuSeconds = cpu0 !== undefined && cpu1 !== undefined ? cpu1 - cpu0 : null
  const amount = step.amount(ctx.sizes)
  const rate = step.unit === 'bytes' ? `${(amount / o.seconds / 2 ** 20).toFixed(1)} MiB/s` : `${Math.round(amount / o.seconds)} ops/s`
  const cpu = daemonCpuSeconds === null ? '' : `, daemon cpu ${daemonCpuSeconds.toFixed(2)} s`
  env.log(`${l.target.name.padEnd(7)} ${step.name.padEnd(13)} #${repeat}  ${o.seconds.toFixed(3)} s  (${rate}${cpu})`)
  return {
    workload: w.name,
    family: w.family,
    step: step.name,
    unit: step.unit,
    amount,
    target: l.target.name,
    repeat,
    seconds: o.seconds,
    wallSeconds: o.wallSeconds,
    engine: o.engine,
    daemonCpuSeconds,
    coldCache,
  }
}
