// objfs benchmark harness: `npm run bench -- --quick`. Every figure is read
// against peers run side by side in the same run (tmpfs, bindfs,
// passthrough_ll, rclone on the local disk; rclone and s3fs on the same S3
// bucket as objfs's S3 store), since this machine's absolute speed means
// nothing from one day to the next.
import { cpus, hostname, release, totalmem } from 'node:os'
import { fileURLToPath } from 'node:url'
import { writeCharts } from './charts.ts'
import { evaluateGoals, renderGoals } from './goals.ts'
import { parseOptions, usage, UsageError } from './options.ts'
import { renderText } from './report.ts'
import { fileStamp, SCHEMA, writeRecord, type RunRecord } from './results.ts'
import { run } from './runner.ts'
import { summarize } from './summary.ts'
import { SUBJECTS, targets as allTargets } from './targets/index.ts'
import { fio } from './workloads/engines.ts'
import { workloads as allWorkloads } from './workloads/index.ts'
import { describeWakeups, measureWakeups, renderWakeups, type Wakeups } from './wakeup.ts'

const log = (msg: string): void => { process.stderr.write(`[bench] ${msg}\n`) }

async function main (argv: string[]): Promise<number> {
  const major = Number(process.versions.node.split('.')[0])
  if (major < 24) {
    log(`needs Node 24 (this is ${process.version}): run it as 'npm run bench' or with node_modules/.bin/node`)
    return 2
  }
  const names = { targets: allTargets.map((t) => t.name), workloads: allWorkloads.map((w) => w.name) }
  const groups: Record<string, string[]> = {}
  for (const t of allTargets) (groups[t.group] ??= []).push(t.name)
  groups.all = names.targets
  let opts
  try {
    opts = parseOptions(argv, names.targets, names.workloads, groups)
  } catch (err) {
    if (!(err instanceof UsageError)) throw err
    log(err.message)
    process.stderr.write(usage(names.targets, names.workloads, groups))
    return 2
  }
  if (opts === undefined) {
    process.stdout.write(usage(names.targets, names.workloads, groups))
    return 0
  }
  const plan = {
    targets: allTargets.filter((t) => opts.targets.includes(t.name)),
    workloads: allWorkloads.filter((w) => opts.workloads.includes(w.name)),
    repeats: opts.repeats,
    sizes: opts.sizes,
    timeoutMs: opts.timeoutMs,
    fixtures: { seed: opts.seed, tree: opts.sizes.tree, repo: opts.sizes.repo },
  }

  // Ctrl-C stops the step in progress; the runner then unmounts everything.
  // A second one changes nothing: leaving mounts behind is worse than waiting.
  const stop = new AbortController()
  const onSignal = (sig: NodeJS.Signals): void => {
    log(stop.signal.aborted ? `${sig}: still tearing down, please wait` : `${sig}: stopping, then unmounting everything`)
    stop.abort()
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  process.on('SIGHUP', onSignal)

  // The price of a wake-up moves ratios from day to day: taken before and after.
  const wakeups = (when: string): Wakeups | null => {
    try {
      const w = measureWakeups()
      log(`wake-ups ${when}: ${describeWakeups(w)}`)
      return w
    } catch (err) {
      log(`wake-ups ${when}: not measured: ${(err as Error).message}`)
      return null
    }
  }
  const wakeupsBefore = wakeups('before')
  const startedAt = new Date()
  const subjectGroup = allTargets.find((t) => t.name === opts.subject)?.group ?? 'local'
  const subjects = { ...SUBJECTS, [subjectGroup]: opts.subject }
  const outcome = await run(plan, { workdir: opts.workdir, objfsOpts: opts.objfsOpts, s3Bucket: opts.s3Bucket, signal: stop.signal, log })
  const wakeupsAfter = wakeups('after')
  const record: RunRecord = {
    schema: SCHEMA,
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    interrupted: outcome.interrupted,
    argv,
    options: { quick: opts.quick, repeats: opts.repeats, sizes: opts.sizes, targets: opts.targets, workloads: opts.workloads, subjects, objfsOpts: opts.objfsOpts, s3Bucket: opts.s3Bucket, timeoutMs: opts.timeoutMs, seed: opts.seed, rssBudgetBytes: opts.rssBudgetBytes },
    fixtures: outcome.fixtures,
    host: { hostname: hostname(), kernel: release(), cpus: cpus().length, cpuModel: cpus()[0]?.model ?? '', memBytes: totalmem(), node: process.version, fio: fio(), wakeups: { before: wakeupsBefore, after: wakeupsAfter } },
    targets: outcome.targets,
    samples: outcome.samples,
    failures: outcome.failures,
    warnings: outcome.warnings,
    goals: [],
  }
  const steps = plan.workloads.flatMap((w) => w.steps.map((s) => ({ workload: w.name, family: w.family, step: s.name, unit: s.unit, amount: s.amount(opts.sizes), coldCache: s.coldCache })))
  const summary = summarize(record, steps)
  record.goals = evaluateGoals(summary, opts.rssBudgetBytes)
  const jsonPath = opts.json ?? fileURLToPath(new URL(`./results/${fileStamp(startedAt)}.json`, import.meta.url))
  writeRecord(jsonPath, record)

  process.stdout.write(renderText(summary))
  if (outcome.warnings.length > 0) process.stdout.write(`\nWarnings\n${outcome.warnings.map((w) => `  ${w.split('\n')[0]}`).join('\n')}\n`)
  process.stdout.write(`\nWake-ups (a thread waking another and back, bench/wakeup.ts): ${renderWakeups(record.host.wakeups)}\n`)
  process.stdout.write('\n' + renderGoals(record.goals, record))
  if (outcome.interrupted) process.stdout.write('\nInterrupted: figures are partial.\n')
  process.stdout.write(`\nRaw figures: ${jsonPath}\n`)
  try {
    const charts = await writeCharts(summary, record, jsonPath.replace(/\.json$/, ''))
    process.stdout.write(`Charts: ${charts.join('\n        ')}\n`)
  } catch (err) {
    // The figures are safe in the JSON; a chart can be drawn again from it.
    log(`charts not written: ${(err as Error).stack ?? String(err)}`)
  }
  if (outcome.interrupted) return 130
  if (outcome.failures.length > 0) return 1
  return opts.goals && record.goals.some((g) => g.status !== 'met') ? 3 : 0
}

// Explicit exit: a daemon we gave up on may still hold one of our pipes open.
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    log(`internal error: ${(err as Error).stack ?? String(err)}`)
    process.exit(1)
  },
)
