// Latency histograms with fixed, log-spaced buckets shared by every
// operation: 1-2.5-5 per decade from 10 µs to 10 s. Recording costs a few
// comparisons and one increment (most requests land in the first half), and
// a snapshot is a plain array that JSON and Prometheus both take as is.

/** Upper bounds of the buckets in milliseconds; one more bucket (+Inf) follows the last. */
export const LATENCY_BOUNDS_MS: readonly number[] = [
  0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000,
]

/** Zeroed counts for the bounds, +Inf included. */
export const emptyBuckets = (bounds: readonly number[] = LATENCY_BOUNDS_MS): number[] => new Array<number>(bounds.length + 1).fill(0)

/** The bucket counting `value`: the first bound >= value (Prometheus `le`), or +Inf past the largest. */
export function bucketOf (value: number, bounds: readonly number[] = LATENCY_BOUNDS_MS): number {
  let i = 0
  while (i < bounds.length && value > bounds[i]) i++
  return i
}

/** Counts as Prometheus wants them: each bucket includes every smaller one. */
export function cumulative (counts: readonly number[]): number[] {
  let sum = 0
  return counts.map(n => (sum += n))
}

/**
 * An upper estimate of quantile q (0..1): the bound of the bucket the q-th
 * observation falls in, Infinity in the +Inf bucket, undefined without
 * observations. A bucket bound, not an interpolation: the true value is at
 * most this and above the previous bound.
 */
export function quantileOf (counts: readonly number[], q: number, bounds: readonly number[] = LATENCY_BOUNDS_MS): number | undefined {
  let total = 0
  for (const n of counts) total += n
  if (total === 0) return undefined
  const rank = Math.max(1, Math.ceil(q * total))
  let seen = 0
  for (let i = 0; i < counts.length; i++) {
    seen += counts[i]
    if (seen >= rank) return i < bounds.length ? bounds[i] : Infinity
  }
  return Infinity
}
