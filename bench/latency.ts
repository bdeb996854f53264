// Per-call latency of a step whose child times each call (the file steps):
// quantiles in microseconds, so a table can set the typical call beside the
// slow tail that a mean folds together.

export interface Latency {
  p50: number
  p90: number
  p99: number
}

/** Nearest-rank quantiles of per-call milliseconds, in microseconds. */
export function latencyOf (callsMs: ArrayLike<number>): Latency {
  const sorted = Float64Array.from(callsMs).sort()
  const at = (q: number): number => sorted.length === 0 ? 0 : sorted[Math.ceil(q * sorted.length) - 1] * 1000
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99) }
}

/** A Latency from a child's JSON, or undefined when it has none or a malformed one. */
export function parseLatency (x: unknown): Latency | undefined {
  if (typeof x !== 'object' || x === null) return undefined
  const { p50, p90, p99 } = x as Record<string, unknown>
  const ok = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0
  return ok(p50) && ok(p90) && ok(p99) ? { p50, p90, p99 } : undefined
}
