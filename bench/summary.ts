// From raw samples to the figures people read: median per step and target,
// and speed ratios of the subject (objfs) against each peer run beside it.
// Pure data, no formatting: the text report renders it now, and the charts
// of bench issue 3 are meant to render the same Summary (grouped by family).
import type { RunRecord, Sample, TargetRecord } from './results.ts'

export interface Cell {
  target: string
  /** ok: at least one sample. Otherwise why there is none. */
  status: 'ok' | 'not-run' | 'failed' | 'missing'
  reason?: string
  /** Samples behind the medians. */
  n: number
  seconds?: number
  minSeconds?: number
  maxSeconds?: number
  /** Bytes per second or operations per second, from the median seconds. */
  rate?: number
  /** Median daemon CPU seconds; null for in-kernel targets or when unknown. */
  daemonCpuSeconds?: number | null
  /** Some sample of this cell ran with warm caches although the step asked for cold ones. */
  warm?: boolean
}

export interface StepSummary {
  workload: string
  family: string
  step: string
  unit: 'bytes' | 'ops'
  amount: number
  coldCache: boolean
  cells: Cell[]
}

export interface Ratio {
  step: string
  peer: string
  /** Peer seconds / subject seconds: above 1 the subject is faster. Undefined when either side lacks figures. */
  speed?: number
}

export interface Summary {
  subject: string
  /** The subject has figures to compare: otherwise `ratios` is empty. */
  subjectRan: boolean
  repeats: number
  targets: TargetRecord[]
  steps: StepSummary[]
  ratios: Ratio[]
}

export function median (xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2
}

function cell (target: TargetRecord, samples: Sample[]): Cell {
  if (samples.length === 0) {
    const status = target.status === 'ok' ? 'missing' : target.status
    return { target: target.name, status, reason: target.reason, n: 0 }
  }
  const secs = samples.map((s) => s.seconds)
  const seconds = median(secs)
  const cpu = samples.map((s) => s.daemonCpuSeconds)
  return {
    target: target.name,
    status: 'ok',
    n: samples.length,
    seconds,
    minSeconds: Math.min(...secs),
    maxSeconds: Math.max(...secs),
    rate: samples[0].amount / seconds,
    daemonCpuSeconds: cpu.every((c) => c !== null) ? median(cpu as number[]) : null,
    warm: samples.some((s) => s.coldCache === false),
  }
}

export function summarize (record: RunRecord, stepsInOrder: Array<{ workload: string, family: string, step: string, unit: 'bytes' | 'ops', amount: number, coldCache: boolean }>): Summary {
  const subject = record.options.subject
  const steps: StepSummary[] = stepsInOrder.map((st) => ({
    ...st,
    cells: record.targets.map((t) => cell(t, record.samples.filter((s) => s.step === st.step && s.target === t.name))),
  }))
  const ratios: Ratio[] = []
  for (const st of steps) {
    const mine = st.cells.find((c) => c.target === subject)
    if (mine === undefined) continue
    for (const peer of st.cells) {
      if (peer.target === subject) continue
      const speed = mine.seconds !== undefined && peer.seconds !== undefined ? peer.seconds / mine.seconds : undefined
      ratios.push({ step: st.step, peer: peer.target, speed })
    }
  }
  const subjectRan = record.samples.some((s) => s.target === subject)
  return { subject, subjectRan, repeats: record.options.repeats, targets: record.targets, steps, ratios: subjectRan ? ratios : [] }
}
