// Per-operation counters for `objfs.stats`: calls, errors by errno, time,
// and a latency histogram (fixed buckets, src/metrics/histogram.ts).
import { errnoName } from '../errors.ts'
import { LATENCY_BOUNDS_MS, bucketOf, emptyBuckets } from '../metrics/histogram.ts'

export interface OpCounter {
  calls: number
  errors: number
  totalMs: number
  maxMs: number
  /** Calls per latency bucket (LATENCY_BOUNDS_MS, then +Inf). */
  buckets: number[]
}

export type OpStatsSnapshot = {
  ops: Record<string, OpCounter>
  errors: Record<string, number>
  latencyBoundsMs: readonly number[]
}

export class OpStats {
  readonly #ops = new Map<string, OpCounter>()
  readonly #errnos = new Map<string, number>()

  record (op: string, ms: number, errno: number): void {
    let c = this.#ops.get(op)
    if (c === undefined) {
      c = { calls: 0, errors: 0, totalMs: 0, maxMs: 0, buckets: emptyBuckets() }
      this.#ops.set(op, c)
    }
    c.calls++
    c.totalMs += ms
    if (ms > c.maxMs) c.maxMs = ms
    c.buckets[bucketOf(ms)]++
    if (errno !== 0) {
      c.errors++
      const name = errnoName(errno)
      this.#errnos.set(name, (this.#errnos.get(name) ?? 0) + 1)
    }
  }

  snapshot (): OpStatsSnapshot {
    return { ops: Object.fromEntries(this.#ops), errors: Object.fromEntries(this.#errnos), latencyBoundsMs: LATENCY_BOUNDS_MS }
  }
}
