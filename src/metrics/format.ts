// The stats snapshot for people: what `objfs stats MOUNTPOINT` prints.
import { quantileOf } from './histogram.ts'
import type { StatsSnapshot } from './snapshot.ts'

export function formatBytes (n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let v = n
  let u = 0
  while (v >= 1024 && u < units.length - 1) { v /= 1024; u++ }
  return u === 0 ? `${n} B` : `${v.toFixed(v < 10 ? 2 : 1)} ${units[u]}`
}

export function formatDuration (seconds: number): string {
  const d = Math.floor(seconds / 86400)
  const h = Math.floor(seconds / 3600) % 24
  const m = Math.floor(seconds / 60) % 60
  const s = Math.floor(seconds) % 60
  return d > 0 ? `${d}d ${h}h ${m}m` : h > 0 ? `${h}h ${m}m` : m > 0 ? `${m}m ${s}s` : `${s}s`
}

const ms = (v: number | undefined): string => v === undefined ? '-' : v === Infinity ? '>10000' : v < 0.1 ? v.toFixed(3) : v < 10 ? v.toFixed(2) : v.toFixed(0)

const count = (n: number): string => n.toLocaleString('en-US')

const plural = (n: number, one: string, many = `${one}s`): string => `${count(n)} ${n === 1 ? one : many}`

/** One row per operation, busiest first; p50 and p99 are bucket bounds ("at most"). */
function opTable (s: StatsSnapshot): string[] {
  const rows = Object.entries(s.ops).sort(([, a], [, b]) => b.calls - a.calls)
  if (rows.length === 0) return ['  (no requests yet)']
  const head = ['operation', 'calls', 'errors', 'avg ms', 'p50 ms', 'p99 ms', 'max ms']
  const body = rows.map(([op, c]) => [
    op, count(c.calls), count(c.errors), ms(c.calls === 0 ? undefined : c.totalMs / c.calls),
    ms(quantileOf(c.buckets, 0.5, s.latencyBoundsMs)), ms(quantileOf(c.buckets, 0.99, s.latencyBoundsMs)), ms(c.maxMs),
  ])
  const widths = head.map((h, i) => Math.max(h.length, ...body.map(r => r[i].length)))
  const line = (r: string[]): string => '  ' + r.map((cell, i) => i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i])).join('  ')
  return [line(head), ...body.map(line), '  (p50 and p99 are the upper bounds of the latency buckets they fall in)']
}

export function formatStats (s: StatsSnapshot): string {
  let calls = 0
  let errors = 0
  for (const c of Object.values(s.ops)) { calls += c.calls; errors += c.errors }
  const byErrno = Object.entries(s.errors).sort(([, a], [, b]) => b - a).map(([name, n]) => `${name} ${count(n)}`).join(', ')
  const lines = [
    `objfs ${s.source} on ${s.mountpoint}: daemon pid ${s.pid}, up ${formatDuration(s.uptimeSeconds)}`,
    '',
    `requests  ${count(calls)} answered (${count(s.repliesByReader)} replies written by the reader thread), ${count(s.inFlight)} in flight, ${plural(errors, 'error')}${byErrno === '' ? '' : ` (${byErrno})`}`,
    ...opTable(s),
    '',
    `store     ${plural(s.store.readCalls, 'block read')} (${formatBytes(s.store.bytesRead)}), ` +
      `${plural(s.store.writeCalls, 'block write')} (${formatBytes(s.store.bytesWritten)}), ${plural(s.store.metaCalls, 'metadata call')}`,
    `pool      ${count(s.pool.queued)} queued; ${count(s.pool.inlineCalls)} calls ran inline, ${count(s.pool.workerCalls)} in worker threads`,
    `buffer    ${formatBytes(s.dirtyBytes)} dirty of ${formatBytes(s.dirtyLimit)}; block reads: ${count(s.cache.writeBufferHits)} from the write buffer, ${count(s.cache.writeBufferMisses)} from the store`,
    `lookups   ${plural(s.cache.negativeEntries, 'negative entry', 'negative entries')} handed to the kernel to cache`,
    `kernel    ${plural(s.inodes, 'inode')} known, ${plural(s.handles, 'open handle')}`,
    `threads   the serving thread moved off a lone caller's CPU ${plural(s.servingMoves, 'time')}`,
  ]
  return `${lines.join('\n')}\n`
}
