// bench/wakeup.ts: the probe of what a wake-up costs, run for real as the
// harness runs it (a child process binding its own threads), and its lines.
import t from 'tap'
import { threadCpus } from '../../src/channel/cpus.ts'
import { describeWakeups, measureWakeups, renderWakeups } from '../../bench/wakeup.ts'

t.test('the probe measures both round trips in a child, leaving this thread where it was', async t => {
  const before = threadCpus()
  const w = measureWakeups()
  t.ok(Number.isFinite(w.sameCpuUs) && w.sameCpuUs > 0, `one CPU: ${w.sameCpuUs} us`)
  // A round trip is two wake-ups of a thread: no machine does that in under 0.1 us nor over a second.
  t.ok(w.sameCpuUs > 0.1 && w.sameCpuUs < 1e6, 'a plausible figure')
  t.ok(before.includes(w.cpus[0]) && before.includes(w.cpus[1]), `CPUs ${w.cpus.join(',')} among ${before.join(',')}`)
  if (before.length > 1) {
    t.not(w.cpus[0], w.cpus[1], 'two CPUs when there are two')
    t.ok(w.crossCpuUs !== null && w.crossCpuUs > 0.1 && w.crossCpuUs < 1e6, `across CPUs: ${w.crossCpuUs} us`)
  } else {
    t.equal(w.crossCpuUs, null, 'no cross-CPU figure with one CPU')
  }
  t.same(threadCpus(), before, 'the harness thread still runs on every CPU it had')
})

t.test('a probe that cannot finish is an error with its reason', async t => {
  t.throws(() => measureWakeups(1), /wake-up probe: .*ETIMEDOUT/)
})

t.test('the lines for people', async t => {
  t.equal(describeWakeups({ sameCpuUs: 6.7, crossCpuUs: 61.5, cpus: [0, 1] }), '6.7 us on one CPU, 61.5 us across CPUs 0 and 1')
  t.equal(describeWakeups({ sameCpuUs: 5, crossCpuUs: null, cpus: [0, 0] }), '5.0 us on one CPU')
  t.equal(renderWakeups(undefined), 'not measured', 'an older record has none')
  t.equal(renderWakeups({ before: { sameCpuUs: 6.7, crossCpuUs: 8.6, cpus: [0, 1] }, after: null }),
    'before the run 6.7 us on one CPU, 8.6 us across CPUs 0 and 1; after it not measured')
})
