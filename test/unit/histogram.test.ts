// Latency buckets: where a value lands (Prometheus `le`: bound inclusive),
// cumulative counts, quantile estimates, and OpStats filling them.
import t from 'tap'
import { LATENCY_BOUNDS_MS, bucketOf, cumulative, emptyBuckets, quantileOf } from '../../src/metrics/histogram.ts'
import { OpStats } from '../../src/ops/stats.ts'

t.test('bounds are increasing, log-spaced from 10 µs to 10 s', async t => {
  t.equal(LATENCY_BOUNDS_MS[0], 0.01)
  t.equal(LATENCY_BOUNDS_MS[LATENCY_BOUNDS_MS.length - 1], 10_000)
  for (let i = 1; i < LATENCY_BOUNDS_MS.length; i++) {
    const ratio = LATENCY_BOUNDS_MS[i] / LATENCY_BOUNDS_MS[i - 1]
    t.ok(ratio >= 2 && ratio <= 2.5, `bound ${i}: ratio ${ratio} to the previous one`)
  }
  t.equal(emptyBuckets().length, LATENCY_BOUNDS_MS.length + 1, 'one bucket per bound plus +Inf')
})

t.test('a value lands in the first bucket whose bound it does not exceed', async t => {
  t.equal(bucketOf(0), 0)
  t.equal(bucketOf(0.01), 0, 'a value equal to a bound belongs to it (le)')
  t.equal(bucketOf(0.0100001), 1)
  t.equal(bucketOf(0.7), LATENCY_BOUNDS_MS.indexOf(1))
  t.equal(bucketOf(1), LATENCY_BOUNDS_MS.indexOf(1))
  t.equal(bucketOf(10_000), LATENCY_BOUNDS_MS.length - 1)
  t.equal(bucketOf(10_000.5), LATENCY_BOUNDS_MS.length, 'past the largest bound: +Inf')
  t.equal(bucketOf(5, [1, 10]), 1, 'other bounds can be given')
})

t.test('cumulative counts', async t => {
  t.same(cumulative([1, 0, 2, 3]), [1, 1, 3, 6])
  t.same(cumulative([]), [])
})

t.test('quantiles are the bound of the bucket holding them', async t => {
  const bounds = [1, 10, 100]
  t.equal(quantileOf([0, 0, 0, 0], 0.5, bounds), undefined, 'no observations, no estimate')
  t.equal(quantileOf([5, 5, 0, 0], 0.5, bounds), 1, 'the 5th of 10 is in the first bucket')
  t.equal(quantileOf([5, 5, 0, 0], 0.6, bounds), 10)
  t.equal(quantileOf([98, 1, 1, 0], 0.99, bounds), 10)
  t.equal(quantileOf([98, 1, 0, 1], 0.995, bounds), Infinity, 'in the +Inf bucket')
  t.equal(quantileOf([0, 3, 0, 0], 0, bounds), 10, 'q=0 is the first observation')
})

t.test('OpStats fills one histogram per operation', async t => {
  const stats = new OpStats()
  const samples = [0.005, 0.03, 0.03, 0.7, 3, 20_000]
  for (const ms of samples) stats.record('lookup', ms, 0)
  stats.record('write', 2, 5)
  const snap = stats.snapshot()
  t.same(snap.latencyBoundsMs, LATENCY_BOUNDS_MS)
  const lookup = snap.ops.lookup
  t.equal(lookup.calls, samples.length)
  t.equal(lookup.buckets.reduce((a, b) => a + b, 0), lookup.calls, 'every call is in one bucket')
  t.equal(lookup.buckets[0], 1)
  t.equal(lookup.buckets[bucketOf(0.03)], 2)
  t.equal(lookup.buckets[LATENCY_BOUNDS_MS.length], 1, 'the 20 s call is in +Inf')
  t.equal(lookup.maxMs, 20_000)
  t.equal(snap.ops.write.errors, 1)
  t.same(snap.errors, { EIO: 1 })
})
