// The stats snapshot in the Prometheus text exposition format (0.0.4):
// https://prometheus.io/docs/instrumenting/exposition_formats/
// Names follow Prometheus habits: base units (seconds, bytes), _total for
// counters, one HELP and TYPE per family.
import { cumulative } from './histogram.ts'
import type { StatsSnapshot } from './snapshot.ts'

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'

type Labels = Record<string, string>

/** Label values escape backslash, double quote and newline. */
const escapeLabel = (v: string): string => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')

const labelText = (labels: Labels): string => {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`)
  return parts.length === 0 ? '' : `{${parts.join(',')}}`
}

/** Integers print as integers, everything else in shortest round-trip form; +Inf as Prometheus spells it. */
const num = (n: number): string => n === Infinity ? '+Inf' : n === -Infinity ? '-Inf' : Number.isNaN(n) ? 'NaN' : String(n)

class Exposition {
  readonly #lines: string[] = []

  family (name: string, type: 'counter' | 'gauge' | 'histogram', help: string): this {
    this.#lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`)
    return this
  }

  sample (name: string, value: number, labels: Labels = {}): this {
    this.#lines.push(`${name}${labelText(labels)} ${num(value)}`)
    return this
  }

  text (): string {
    return `${this.#lines.join('\n')}\n`
  }
}

function requests (e: Exposition, s: StatsSnapshot): void {
  const ops = Object.entries(s.ops).sort(([a], [b]) => a.localeCompare(b))
  e.family('objfs_requests_total', 'counter', 'FUSE requests answered, by operation.')
  for (const [op, c] of ops) e.sample('objfs_requests_total', c.calls, { op })
  e.family('objfs_request_errors_total', 'counter', 'FUSE requests answered with an error, by operation.')
  for (const [op, c] of ops) e.sample('objfs_request_errors_total', c.errors, { op })
  e.family('objfs_request_duration_seconds', 'histogram', 'Time from reading a FUSE request to its reply, by operation.')
  const bounds = s.latencyBoundsMs
  for (const [op, c] of ops) {
    const cum = cumulative(c.buckets)
    for (let i = 0; i < cum.length; i++) {
      const le = i < bounds.length ? num(bounds[i] / 1000) : '+Inf'
      e.sample('objfs_request_duration_seconds_bucket', cum[i], { op, le })
    }
    e.sample('objfs_request_duration_seconds_sum', c.totalMs / 1000, { op })
    e.sample('objfs_request_duration_seconds_count', c.calls, { op })
  }
  e.family('objfs_errors_total', 'counter', 'FUSE requests answered with an error, by errno.')
  for (const [errno, n] of Object.entries(s.errors).sort(([a], [b]) => a.localeCompare(b))) e.sample('objfs_errors_total', n, { errno })
  e.family('objfs_requests_in_flight', 'gauge', 'FUSE requests being served.').sample('objfs_requests_in_flight', s.inFlight)
  e.family('objfs_replies_by_reader_total', 'counter', 'Replies to a lone caller written by the reader thread instead of the supervisor.')
  e.sample('objfs_replies_by_reader_total', s.repliesByReader)
  e.family('objfs_serving_thread_moves_total', 'counter', 'Times the serving thread moved off the CPU a lone caller runs on.')
  e.sample('objfs_serving_thread_moves_total', s.servingMoves)
}

function store (e: Exposition, s: StatsSnapshot): void {
  e.family('objfs_store_requests_total', 'counter', 'Calls to the object store, by kind (read: block reads, write: block writes, meta: everything else).')
  e.sample('objfs_store_requests_total', s.store.readCalls, { kind: 'read' })
  e.sample('objfs_store_requests_total', s.store.writeCalls, { kind: 'write' })
  e.sample('objfs_store_requests_total', s.store.metaCalls, { kind: 'meta' })
  e.family('objfs_store_read_bytes_total', 'counter', 'Bytes read from the object store.').sample('objfs_store_read_bytes_total', s.store.bytesRead)
  e.family('objfs_store_written_bytes_total', 'counter', 'Bytes written to the object store.').sample('objfs_store_written_bytes_total', s.store.bytesWritten)
  e.family('objfs_pool_queue_depth', 'gauge', 'Store calls waiting for a worker thread.').sample('objfs_pool_queue_depth', s.pool.queued)
  e.family('objfs_pool_calls_total', 'counter', 'Store calls by where they ran: the supervisor thread (inline) or a worker thread.')
  e.sample('objfs_pool_calls_total', s.pool.inlineCalls, { where: 'inline' })
  e.sample('objfs_pool_calls_total', s.pool.workerCalls, { where: 'worker' })
}

function memory (e: Exposition, s: StatsSnapshot): void {
  e.family('objfs_dirty_bytes', 'gauge', 'Written data buffered in memory, not yet in the store.').sample('objfs_dirty_bytes', s.dirtyBytes)
  e.family('objfs_dirty_limit_bytes', 'gauge', 'The dirty_limit budget; writes wait for room above it.').sample('objfs_dirty_limit_bytes', s.dirtyLimit)
  e.family('objfs_write_buffer_reads_total', 'counter', 'Block reads served from the write buffer (hit) or from the store (miss); objfs has no read cache of its own.')
  e.sample('objfs_write_buffer_reads_total', s.cache.writeBufferHits, { result: 'hit' })
  e.sample('objfs_write_buffer_reads_total', s.cache.writeBufferMisses, { result: 'miss' })
  e.family('objfs_negative_entries_total', 'counter', 'LOOKUPs answered with a negative entry the kernel caches for negative_timeout.')
  e.sample('objfs_negative_entries_total', s.cache.negativeEntries)
  e.family('objfs_inodes', 'gauge', 'Inodes in the daemon\'s table: referenced by the kernel, open, or holding buffered data.').sample('objfs_inodes', s.inodes)
  e.family('objfs_open_handles', 'gauge', 'Open file and directory handles.').sample('objfs_open_handles', s.handles)
}

export function renderPrometheus (s: StatsSnapshot): string {
  const e = new Exposition()
  e.family('objfs_info', 'gauge', 'The mount this daemon serves (always 1).')
  e.sample('objfs_info', 1, { source: s.source, mountpoint: s.mountpoint })
  e.family('objfs_start_time_seconds', 'gauge', 'Unix time the daemon started.').sample('objfs_start_time_seconds', s.startedAt)
  requests(e, s)
  store(e, s)
  memory(e, s)
  return e.text()
}
