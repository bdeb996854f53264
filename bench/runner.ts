// The run itself: generate the host fixtures, mount every target, run each
// workload repeat on all live targets back to back (so machine noise hits
// them alike), tear everything down whatever happens.
import { join } from 'node:path'
import { dropCaches } from './cache.ts'
import { makeFixtures, removeFixtures, type FixtureSpec, type Fixtures } from './fixtures/index.ts'
import { busiestThreadSeconds, threadCpuSeconds, totalCpuSeconds } from './proc.ts'
import type { Failure, RunRecord, Sample, TargetRecord } from './results.ts'
import { RssSampler } from './rss.ts'
import { NotRunnable, type Mounted, type Target, type TargetEnv } from './targets/types.ts'
import { formatMiB, formatRate } from './units.ts'
import { StepFailed, type Sizes, type Step, type StepContext, type Workload } from './workloads/types.ts'

export interface RunPlan {
  targets: Target[]
  workloads: Workload[]
  repeats: number
  sizes: Sizes
  timeoutMs: number | null
  fixtures: FixtureSpec
}

export interface RunOutcome {
  targets: TargetRecord[]
  samples: Sample[]
  failures: Failure[]
  warnings: string[]
  fixtures: RunRecord['fixtures']
  interrupted: boolean
}

// Untimed mkdir / rm of a workload's directories: a tree's worth of unlinks on a slow target.
const housekeepingMs = (s: Sizes): number => Math.max(120_000, (s.tree.smallFiles + s.repo.files) * 30)

interface Live {
  target: Target
  record: TargetRecord
  mounted?: Mounted
  /** Workloads that failed here: their later repeats are skipped. */
  failed: Set<string>
}

interface Run {
  plan: RunPlan
  env: TargetEnv
  out: RunOutcome
  rss: RssSampler
  fixtures: Fixtures
  progress: { done: number, total: number }
}

class Interrupted extends Error {}

export async function run (plan: RunPlan, env: TargetEnv): Promise<RunOutcome> {
  const out: RunOutcome = { targets: [], samples: [], failures: [], warnings: [], fixtures: {}, interrupted: false }
  const live: Live[] = plan.targets.map((target) => ({ target, record: { name: target.name, group: target.group, status: 'ok' }, failed: new Set() }))
  out.targets = live.map((l) => l.record)
  const rss = new RssSampler()
  let fixtures: Fixtures | undefined
  rss.start()
  try {
    fixtures = await makeFixtures(new Set(plan.workloads.flatMap((w) => w.needs)), plan.fixtures, env.workdir, env.signal, env.log)
    const { tree, repo } = fixtures
    out.fixtures = {
      tree: tree && { files: tree.files, bytes: tree.bytes, dirs: tree.dirs, topDirs: tree.topDirs.length },
      repo: repo && { commits: repo.commits, files: repo.files },
    }
    await runAll(live, { plan, env, out, rss, fixtures, progress: { done: 0, total: 0 } })
  } catch (err) {
    if (!(err instanceof Interrupted) && !env.signal.aborted) throw err
    out.interrupted = true
  } finally {
    for (const l of live) await unmount(l, rss, env)
    rss.stop()
    for (const l of live) if (l.record.status !== 'not-run') l.record.rssMaxBytes = rss.max(l.target.name)
    if (fixtures !== undefined) removeFixtures(fixtures)
  }
  return out
}

async function runAll (live: Live[], r: Run): Promise<void> {
  const { plan } = r
  // Timed steps from workload `from` on, per target: the progress count.
  const stepsFrom = (from: number): number => plan.workloads.slice(from).reduce((n, w) => n + w.steps.length, 0) * plan.repeats
  for (const l of live) await mount(l, r)
  r.progress.total = stepsFrom(0) * live.filter((l) => l.mounted !== undefined).length
  for (const [wi, w] of plan.workloads.entries()) {
    for (const l of live) {
      if (l.mounted !== undefined || l.record.status !== 'ok') continue
      await mount(l, r)
      if (l.mounted === undefined) r.progress.total -= stepsFrom(wi)
    }
    for (let rep = 1; rep <= plan.repeats; rep++) {
      // Rotate the order each repeat: no target always runs first, on a cold machine.
      for (let k = 0; k < live.length; k++) {
        const l = live[(k + rep - 1) % live.length]
        if (l.mounted !== undefined && !l.failed.has(w.name)) await repeatOnce(l, w, rep, r)
      }
    }
  }
}

async function mount (l: Live, r: Run): Promise<void> {
  const { env } = r
  if (env.signal.aborted) throw new Interrupted()
  const again = l.record.detail !== undefined
  env.log(`${again ? 'remounting' : 'mounting'} ${l.target.name}`)
  try {
    l.mounted = await l.target.setup(env)
    l.record.detail ??= l.mounted.detail
    if (l.mounted.daemonPids.length > 0) l.record.daemonPids = [...(l.record.daemonPids ?? []), ...l.mounted.daemonPids]
    r.rss.watch(l.target.name, l.mounted.daemonPids)
  } catch (err) {
    if (env.signal.aborted) throw new Interrupted()
    const why = err instanceof NotRunnable ? err.message : `setup failed: ${(err as Error).message}`
    l.record.status = again ? 'failed' : 'not-run'
    l.record.reason = again ? `remount after a failed workload: ${why}` : why
    env.log(`${l.target.name}: ${again ? 'failed' : 'not run'}: ${l.record.reason}`)
  }
}

async function unmount (l: Live, rss: RssSampler, env: TargetEnv): Promise<void> {
  const mounted = l.mounted
  if (mounted === undefined) return
  l.mounted = undefined
  env.log(`unmounting ${l.target.name}`)
  await mounted.teardown()
  rss.unwatch(l.target.name)
}

/** prepare, every step, cleanup; a failure skips the workload's other repeats here and unmounts (remounted for the next workload). */
async function repeatOnce (l: Live, w: Workload, repeat: number, r: Run): Promise<void> {
  const { plan, env } = r
  const mounted = l.mounted as Mounted
  const scale = l.target.timeoutScale ?? 1
  const ctx: StepContext = { dir: join(mounted.dir, `bench-${w.name}`), sizes: plan.sizes, timeoutMs: housekeepingMs(plan.sizes) * scale, signal: env.signal, fixtures: r.fixtures }
  let where = 'prepare'
  let untimed = true
  let ran = 0
  try {
    await w.prepare(ctx)
    for (const step of w.steps) {
      where = step.name
      untimed = true
      await step.before?.(ctx)
      untimed = false
      r.out.samples.push(await timeStep(l, w, step, repeat, { ...ctx, timeoutMs: plan.timeoutMs ?? step.timeoutMs(plan.sizes) * scale }, r))
      ran++
    }
    where = 'cleanup'
    await w.cleanup(ctx)
  } catch (err) {
    if (env.signal.aborted) throw new Interrupted()
    // A harness bug still leaves a report, and every other target's figures.
    const text = err instanceof StepFailed ? err.message : `harness error: ${(err as Error).stack ?? String(err)}`
    const phase = untimed && where !== 'prepare' && where !== 'cleanup' ? ' (untimed set-up)' : ''
    const message = `${where}${phase} #${repeat}: ${text.split('\n')[0]}`
    if (!(err instanceof StepFailed)) r.out.warnings.push(`${l.target.name} ${w.name}: ${text}`)
    r.out.failures.push({ target: l.target.name, workload: w.name, step: where, repeat, message })
    l.failed.add(w.name)
    // The steps this target will now skip leave the progress count.
    r.progress.total -= w.steps.length * (plan.repeats - repeat + 1) - ran
    env.log(`${l.target.name}: ${w.name} failed: ${message}; unmounting it (remounted for the next workload)`)
    // At once: a hung daemon holds our killed child in the kernel until its
    // connection is aborted, and the other targets should not wait on it.
    await unmount(l, r.rss, env)
  }
}

async function timeStep (l: Live, w: Workload, step: Step, repeat: number, ctx: StepContext, r: Run): Promise<Sample> {
  const { env, rss } = r
  const mounted = l.mounted as Mounted
  let coldCache: boolean | null = null
  if (step.coldCache) {
    const why = await dropCaches(env.signal)
    coldCache = why === null
    if (why !== null) {
      r.out.warnings.push(`${l.target.name} ${step.name} #${repeat} ran with warm caches: ${why}`)
      env.log(`warning: ${l.target.name} ${step.name} ran with warm caches: ${why}`)
    }
  }
  const pids = mounted.daemonPids
  rss.beginStep(l.target.name)
  const cpu0 = pids.length > 0 ? totalCpuSeconds(pids) : undefined
  const threads0 = threadCpuSeconds(pids)
  const o = await step.run(ctx)
  const cpu1 = pids.length > 0 ? totalCpuSeconds(pids) : undefined
  const threads1 = threadCpuSeconds(pids)
  const daemonRssMaxBytes = rss.endStep(l.target.name)
  if (pids.length > 0 && cpu1 === undefined) throw new StepFailed(`daemon ${pids.join(',')} exited`)
  const daemonCpuSeconds = cpu0 !== undefined && cpu1 !== undefined ? cpu1 - cpu0 : null
  const busiestThreadCpuSeconds = daemonCpuSeconds === null ? undefined : busiestThreadSeconds(threads0, threads1)
  const amount = o.amount ?? step.amount(ctx.sizes)
  const cpu = daemonCpuSeconds === null ? '' : `, daemon cpu ${daemonCpuSeconds.toFixed(2)} s, busiest thread ${(busiestThreadCpuSeconds ?? 0).toFixed(2)} s`
  const mem = daemonRssMaxBytes === null ? '' : `, rss ${formatMiB(daemonRssMaxBytes)}`
  const n = ++r.progress.done
  env.log(`[${n}/${r.progress.total}] ${l.target.name.padEnd(14)} ${step.name.padEnd(11)} #${repeat}  ${o.seconds.toFixed(3)} s  (${formatRate(step.unit, amount / o.seconds)}${cpu}${mem})${o.invalid === undefined ? '' : `  INVALID: ${o.invalid}`}`)
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
    daemonRssMaxBytes,
    ...(o.invalid === undefined ? {} : { invalid: o.invalid }),
    ...(o.latencyUs === undefined ? {} : { latencyUs: o.latencyUs }),
    ...(busiestThreadCpuSeconds === undefined ? {} : { busiestThreadCpuSeconds }),
  }
}
