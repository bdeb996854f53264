// Issue 3's performance goals, judged on THIS run's figures only: each is a
// ratio against a peer measured side by side, or the daemon's peak memory
// against a budget. A goal whose figures are missing or invalid is
// "unknown", with the reason, never quietly met.
import type { RunRecord } from './results.ts'
import { comparable, type Cell, type Summary } from './summary.ts'
import { formatMiB, formatRate } from './units.ts'

export interface GoalResult {
  goal: string
  /** What it takes, e.g. ">= 2.00x rclone" or "<= 1024 MiB". */
  need: string
  status: 'met' | 'not met' | 'unknown'
  /** The figures behind the verdict, or why there are none. */
  measured: string
}

interface RatioGoal {
  goal: string
  step: string
  peer: string
  /** Least subject rate / peer rate that meets the goal. */
  min: number
}

// The goals, as issue 3 states them: parallel rsync against rclone and the C
// reference, streaming I/O and metadata against the C reference.
const RATIO_GOALS: RatioGoal[] = [
  { goal: 'rsync of the small-file tree, 4 processes: 2x rclone mount', step: 'rsync-4', peer: 'rclone', min: 2 },
  { goal: 'rsync of the small-file tree, 4 processes: as fast as passthrough_ll', step: 'rsync-4', peer: 'passthrough_ll', min: 1 },
  { goal: 'sequential write: passthrough_ll\'s throughput', step: 'seq-write', peer: 'passthrough_ll', min: 1 },
  { goal: 'sequential read (cold): passthrough_ll\'s throughput', step: 'seq-read', peer: 'passthrough_ll', min: 1 },
  { goal: 'create files: 0.8x passthrough_ll', step: 'files-create', peer: 'passthrough_ll', min: 0.8 },
  { goal: 'stat files (cold): 0.8x passthrough_ll', step: 'files-stat', peer: 'passthrough_ll', min: 0.8 },
  { goal: 'unlink files: 0.8x passthrough_ll', step: 'files-unlink', peer: 'passthrough_ll', min: 0.8 },
]

function whyNot (c: Cell | undefined, name: string): string {
  if (c === undefined) return `${name} was not in this run`
  if (c.invalid !== undefined) return `${name}'s figure is invalid: ${c.invalid}`
  if (c.status === 'missing') return `${name} has no figures`
  return `${name} ${c.status.replace('-', ' ')}: ${c.reason ?? '?'}`
}

function ratioGoal (g: RatioGoal, s: Summary): GoalResult {
  const need = `>= ${g.min.toFixed(2)}x ${g.peer}`
  const st = s.steps.find((x) => x.step === g.step)
  if (st === undefined) return { goal: g.goal, need, status: 'unknown', measured: `${g.step} was not run (--workloads)` }
  const mine = st.cells.find((c) => c.target === s.subject)
  const peer = st.cells.find((c) => c.target === g.peer)
  if (!comparable(mine)) return { goal: g.goal, need, status: 'unknown', measured: whyNot(mine, s.subject) }
  if (!comparable(peer)) return { goal: g.goal, need, status: 'unknown', measured: whyNot(peer, g.peer) }
  const ratio = mine.rate / peer.rate
  return {
    goal: g.goal,
    need,
    status: ratio >= g.min ? 'met' : 'not met',
    measured: `${ratio.toFixed(2)}x (${s.subject} ${formatRate(st.unit, mine.rate)}, ${g.peer} ${formatRate(st.unit, peer.rate)})`,
  }
}

function rssGoal (s: Summary, budget: number): GoalResult {
  const goal = `${s.subject} daemon memory: peak RSS over the run within budget`
  const need = `<= ${formatMiB(budget)}`
  const t = s.targets.find((x) => x.name === s.subject)
  if (t === undefined || t.status === 'not-run') return { goal, need, status: 'unknown', measured: t === undefined ? `${s.subject} was not in this run` : `${s.subject} not run: ${t.reason ?? '?'}` }
  const peak = t.rssMaxBytes
  if (peak === undefined || peak === null) return { goal, need, status: 'unknown', measured: 'no RSS samples (daemon process not found)' }
  return { goal, need, status: peak <= budget ? 'met' : 'not met', measured: `peak ${formatMiB(peak)}` }
}

export function evaluateGoals (s: Summary, budgetBytes: number): GoalResult[] {
  return [...RATIO_GOALS.map((g) => ratioGoal(g, s)), rssGoal(s, budgetBytes)]
}

/** The goals section of the text report. */
export function renderGoals (goals: GoalResult[], record: RunRecord): string {
  const o = record.options
  const caveats: string[] = []
  if (o.workloads.includes('seq') && o.sizes.fileBytes !== 1024 ** 3) caveats.push(`sequential file ${formatMiB(o.sizes.fileBytes)}, the goal says 1 GiB`)
  if (o.workloads.includes('files') && o.sizes.fileCount !== 10_000) caveats.push(`${o.sizes.fileCount.toLocaleString('en-US')} files, the goal says 10,000`)
  if (o.repeats === 1) caveats.push('one run each, no median')
  const head = `Goals (issue 3), judged on this run${caveats.length > 0 ? ` (indicative: ${caveats.join('; ')})` : ''}`
  const width = Math.max(...goals.map((g) => g.goal.length))
  const needWidth = Math.max(...goals.map((g) => g.need.length))
  const lines = goals.map((g) => `  ${g.status === 'met' ? '[met]    ' : g.status === 'not met' ? '[NOT MET]' : '[unknown]'} ${g.goal.padEnd(width)}  ${g.need.padEnd(needWidth)}  ${g.measured}`)
  const tally = (st: GoalResult['status']): number => goals.filter((g) => g.status === st).length
  return `${head}\n${lines.join('\n')}\n  ${tally('met')} met, ${tally('not met')} not met, ${tally('unknown')} unknown\n`
}
