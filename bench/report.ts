// The text report on stdout: targets, a results table (step x target) and a
// ratio table per group of targets (its subject vs each peer). Renders a
// Summary and nothing else.
import type { Cell, Comparison, Summary } from './summary.ts'
import { formatMiB, formatRate } from './units.ts'
import type { Unit } from './workloads/types.ts'

const REASON_WIDTH = 90

/**
 * Columns two spaces apart; `align` has one letter per column, l or r. A row
 * shorter than the header ends in a free-running note (a reason why a
 * target has no figures) that does not widen the column it starts in.
 */
export function table (header: string[], rows: string[][], align: string): string {
  const all = [header, ...rows]
  const fits = (r: string[], i: number): boolean => r.length === header.length || i < r.length - 1
  const widths = header.map((_, i) => Math.max(...all.map((r) => (fits(r, i) ? (r[i] ?? '').length : 0))))
  const line = (r: string[]): string => r.map((c, i) => {
    if (!fits(r, i)) return c
    return align[i] === 'l' ? c.padEnd(widths[i]) : c.padStart(widths[i])
  }).join('  ').trimEnd()
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n')
}

const clip = (s: string, n: number): string => (s.length <= n ? s : s.slice(0, n - 1) + '…')

const rate = (c: Cell, unit: Unit): string => (c.rate === undefined ? '' : formatRate(unit, c.rate))

function secondsText (c: Cell, repeats: number): string {
  if (c.seconds === undefined) return ''
  const partial = c.n < repeats ? ` (n=${c.n})` : ''
  return `${c.seconds.toFixed(3)}${c.warm === true ? ' warm!' : ''}${c.invalid === undefined ? '' : ' invalid!'}${partial}`
}

function targetsSection (s: Summary): string {
  const rows = s.targets.map((t) => {
    const rss = t.rssMaxBytes === undefined || t.rssMaxBytes === null ? '-' : formatMiB(t.rssMaxBytes)
    return [t.name, t.status === 'ok' ? 'ok' : t.status.replace('-', ' '), rss, clip(t.status === 'ok' ? (t.detail ?? '') : (t.reason ?? ''), REASON_WIDTH)]
  })
  return 'Targets (max RSS: the daemon\'s resident memory, sampled every 200 ms over the whole run)\n' +
    table(['target', 'status', 'max RSS', 'detail'], rows, 'llrl')
}

function resultsSection (s: Summary): string {
  const rows: string[][] = []
  for (const st of s.steps) {
    for (const c of st.cells) {
      const name = `${st.step}${st.coldCache ? ' (cold)' : ''}`
      if (c.status !== 'ok') {
        const why = c.status === 'missing' ? 'no figures' : `${c.status.replace('-', ' ')}: ${c.reason ?? '?'}`
        rows.push([name, c.target, clip(why, REASON_WIDTH)])
        continue
      }
      const cpu = c.daemonCpuSeconds === null || c.daemonCpuSeconds === undefined ? '-' : c.daemonCpuSeconds.toFixed(2)
      const busiest = c.busiestThreadCpuSeconds === undefined ? '-' : c.busiestThreadCpuSeconds.toFixed(2)
      rows.push([name, c.target, secondsText(c, s.repeats), rate(c, st.unit), cpu, busiest])
    }
  }
  const what = s.repeats === 1 ? 'one run each' : `median of ${s.repeats} runs`
  const head = `Results (${what}; cold = page/dentry/inode caches dropped before the step; busiest thread = CPU seconds of the daemon's busiest thread, near the step's seconds when one thread bounds it; invalid! = see below)`
  return head + '\n' + table(['step', 'target', 'seconds', 'rate', 'daemon cpu s', 'busiest thread s'], rows, 'llrrrr')
}

/** Steps whose child timed each call: the typical call beside the slow tail. */
function latencySection (s: Summary): string {
  const rows: string[][] = []
  for (const st of s.steps) {
    for (const c of st.cells) {
      const l = c.latencyUs
      if (c.status !== 'ok' || l === undefined) continue
      rows.push([`${st.step}${st.coldCache ? ' (cold)' : ''}`, c.target, l.p50.toFixed(1), l.p90.toFixed(1), l.p99.toFixed(1)])
    }
  }
  if (rows.length === 0) return ''
  const what = s.repeats === 1 ? 'one run each' : `median over ${s.repeats} runs of each run's quantile`
  return `Single calls, microseconds (${what})\n` + table(['step', 'target', 'p50', 'p90', 'p99'], rows, 'llrrr')
}

function ratioTable (s: Summary, cmp: Comparison): string {
  const subject = cmp.subject
  const head = `Speed ratio ${subject} vs each ${cmp.group} peer = ${subject} rate / peer rate (>1: ${subject} faster, <1: ${subject} slower)`
  if (!cmp.ran) {
    const t = s.targets.find((x) => x.name === subject)
    const why = t === undefined ? `${subject} was not among the targets (--subject picks another)` : `${subject} ${t.status.replace('-', ' ')}: ${t.reason ?? 'no figures'}`
    return `${head}\n  no ratios: ${why}`
  }
  const mine = s.ratios.filter((r) => r.subject === subject)
  const peers = [...new Set(mine.map((r) => r.peer))]
  if (peers.length === 0) return `${head}\n  no ratios: no other ${cmp.group} target in this run`
  const rows = s.steps.map((st) => [st.step, ...peers.map((p) => {
    const r = mine.find((x) => x.step === st.step && x.peer === p)
    return r?.speed === undefined ? '-' : `${r.speed.toFixed(2)}x`
  })])
  return head + '\n' + table(['step', ...peers.map((p) => `vs ${p}`)], rows, 'l' + 'r'.repeat(peers.length))
}

/** One ratio table per group of targets: local peers against objfs, S3 peers against objfs-s3. */
const ratioSection = (s: Summary): string => s.comparisons.map((cmp) => ratioTable(s, cmp)).join('\n\n')

/** Invalid figures and failed workloads in full: the tables clip them. */
function notesSection (s: Summary): string {
  const lines: string[] = []
  for (const st of s.steps) {
    for (const c of st.cells) {
      if (c.invalid !== undefined) lines.push(`  invalid: ${st.step} on ${c.target}: ${c.invalid}`)
    }
  }
  for (const f of s.failures) lines.push(`  failed: ${f.workload} on ${f.target}: ${f.message}`)
  for (const t of s.targets) if (t.status === 'failed') lines.push(`  failed: ${t.name}, later workloads: ${t.reason ?? '?'}`)
  return lines.length === 0 ? '' : 'Notes\n' + lines.join('\n')
}

export function renderText (s: Summary): string {
  return [targetsSection(s), resultsSection(s), latencySection(s), ratioSection(s), notesSection(s)].filter((x) => x !== '').join('\n\n') + '\n'
}
