// From raw samples to the figures people read: median per step and target,
// and speed ratios of the subject (objfs) against each peer run beside it.
// Pure data, no formatting: the text report, the charts (one per family)
// and the goals all read the same Summary.
import type { Latency } from './latency.ts'
import type { Failure, RunRecord, Sample, TargetRecord } from './results.ts'
import type { TargetGroup } from './targets/types.ts'
import type { Unit } from './workloads/types.ts'

export interface Cell {
  target: string
  /**
   * ok: at least one sample. failed: the workload failed on this target in
   * some repeat (figures of other repeats are not shown). Otherwise why there is none.
   */
  status: 'ok' | 'not-run' | 'failed' | 'missing'
  reason?: string
  /** Samples behind the medians. */
  n: number
  seconds?: number
  minSeconds?: number
  maxSeconds?: number
  /** Median of the samples' rates: bytes, operations, files or reads per second. */
  rate?: number
  /** Median daemon CPU seconds; null for in-kernel targets or when unknown. */
  daemonCpuSeconds?: number | null
  /** Median CPU seconds of the daemon's busiest thread; only when every sample has them. */
  busiestThreadCpuSeconds?: number
  /** Some sample of this cell ran with warm caches although the step asked for cold ones. */
  warm?: boolean
  /** Some sample's figure is invalid (why): shown, but kept out of ratios and goals. */
  invalid?: string
  /** Median over the samples of each quantile of single calls (us); only when every sample has them. */
  latencyUs?: Latency
}

export interface StepSummary {
  workload: string
  family: string
  step: string
  unit: Unit
  amount: number
  coldCache: boolean
  cells: Cell[]
}

export interface Ratio {
  /** The objfs of the peer's group (local: objfs, s3: objfs-s3). */
  subject: string
  step: string
  peer: string
  /** Subject rate / peer rate (= peer seconds / subject seconds for fixed work): above 1 the subject is faster. Undefined when either side lacks valid figures. */
  speed?: number
}

/** One group's subject and whether it has figures to compare (otherwise it has no ratios). */
export interface Comparison {
  group: TargetGroup
  subject: string
  ran: boolean
}

export interface Summary {
  /** The local group's subject, whose figures the goals judge. */
  subject: string
  /** The local subject has figures to compare. */
  subjectRan: boolean
  /** Per group of targets in the run: its subject against the group's other targets. */
  comparisons: Comparison[]
  repeats: number
  targets: TargetRecord[]
  steps: StepSummary[]
  ratios: Ratio[]
  failures: Failure[]
}

export function median (xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2
}

function cell (target: TargetRecord, samples: Sample[], failure: Failure | undefined): Cell {
  if (failure !== undefined) return { target: target.name, status: 'failed', reason: failure.message, n: 0 }
  if (samples.length === 0) {
    const status = target.status === 'ok' ? 'missing' : target.status
    return { target: target.name, status, reason: target.reason, n: 0 }
  }
  const secs = samples.map((s) => s.seconds)
  const seconds = median(secs)
  return {
    target: target.name,
    status: 'ok',
    n: samples.length,
    seconds,
    minSeconds: Math.min(...secs),
    maxSeconds: Math.max(...secs),
    rate: median(samples.map((s) => s.amount / s.seconds)),
    daemonCpuSeconds: medianOfAll(samples.map((s) => s.daemonCpuSeconds)) ?? null,
    warm: samples.some((s) => s.coldCache === false),
    invalid: samples.find((s) => s.invalid !== undefined)?.invalid,
    latencyUs: medianLatency(samples.map((s) => s.latencyUs)),
    busiestThreadCpuSeconds: medianOfAll(samples.map((s) => s.busiestThreadCpuSeconds)),
  }
}

/** The median, or undefined when some sample lacks the figure (no daemon, or a record from before it was measured). */
function medianOfAll (xs: Array<number | null | undefined>): number | undefined {
  return xs.some((x) => x === null || x === undefined) ? undefined : median(xs as number[])
}

function medianLatency (ls: Array<Latency | undefined>): Latency | undefined {
  if (ls.some((l) => l === undefined)) return undefined
  const of = (q: keyof Latency): number => median(ls.map((l) => (l as Latency)[q]))
  return { p50: of('p50'), p90: of('p90'), p99: of('p99') }
}

/** A cell whose figures may be compared: present and valid. */
export const comparable = (c: Cell | undefined): c is Cell & { seconds: number, rate: number } =>
  c !== undefined && c.status === 'ok' && c.invalid === undefined && c.seconds !== undefined && c.rate !== undefined

export function summarize (record: RunRecord, stepsInOrder: Array<Omit<StepSummary, 'cells'>>): Summary {
  const subjects = record.options.subjects
  const subject = subjects.local
  const order = (workload: string, step: string): number => {
    if (step === 'prepare') return -1
    const i = stepsInOrder.findIndex((x) => x.workload === workload && x.step === step)
    return i < 0 ? Infinity : i
  }
  // A failure blanks its own step and the later steps of its workload (they
  // did not run in that repeat, nor in the repeats skipped after it); the
  // earlier steps keep their figures, with n showing the repeats they had.
  const failureOf = (target: string, i: number): Failure | undefined => record.failures.find((f) =>
    f.target === target && f.workload === stepsInOrder[i].workload && order(f.workload, f.step) <= i)
  const steps: StepSummary[] = stepsInOrder.map((st, i) => ({
    ...st,
    cells: record.targets.map((t) => cell(
      t,
      record.samples.filter((s) => s.step === st.step && s.target === t.name),
      failureOf(t.name, i),
    )),
  }))
  const groupOf = (name: string): TargetGroup => record.targets.find((t) => t.name === name)?.group ?? 'local'
  const ran = (name: string): boolean => record.samples.some((s) => s.target === name)
  const groups = [...new Set(record.targets.map((t) => t.group ?? 'local'))]
  const comparisons: Comparison[] = groups.map((group) => ({ group, subject: subjects[group], ran: ran(subjects[group]) }))
  const ratios: Ratio[] = []
  for (const cmp of comparisons) {
    if (!cmp.ran) continue
    for (const st of steps) {
      const mine = st.cells.find((c) => c.target === cmp.subject)
      if (mine === undefined) continue
      for (const peer of st.cells) {
        if (peer.target === cmp.subject || groupOf(peer.target) !== cmp.group) continue
        // Ratio of rates, not of seconds: a time-based step (rand-read) has a fixed time and a varying count.
        const speed = comparable(mine) && comparable(peer) ? mine.rate / peer.rate : undefined
        ratios.push({ subject: cmp.subject, step: st.step, peer: peer.target, speed })
      }
    }
  }
  return { subject, subjectRan: ran(subject), comparisons, repeats: record.options.repeats, targets: record.targets, steps, ratios, failures: record.failures }
}
