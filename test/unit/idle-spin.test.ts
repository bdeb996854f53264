// The idle supervisor's poll: only while requests come close together,
// never longer than POLL_US, and it stops finding work that is not there.
import t from 'tap'
import { IdleSpin, POLL_US, SHORT_GAP_US } from '../../src/channel/idle-spin.ts'

/** A clock that advances `stepUs` every time it is read. */
function steppingClock (stepUs: number): { now: () => number, readonly reads: number } {
  let ms = 0
  let reads = 0
  return {
    now: () => { reads++; ms += stepUs / 1000; return ms },
    get reads () { return reads },
  }
}

t.test('a fresh or long-idle supervisor does not poll', async t => {
  const clock = steppingClock(1)
  const spin = new IdleSpin(clock.now)
  t.equal(spin.budgetUs(), 0)
  let asked = 0
  t.equal(spin.poll(() => { asked++; return false }), false)
  t.equal(asked, 1, 'looked once, without polling')
  t.equal(clock.reads, 0, 'no clock read: no poll began')
})

t.test('short gaps turn polling on, and a long one turns it off again', async t => {
  const spin = new IdleSpin(steppingClock(1).now)
  let n = 0
  while (spin.budgetUs() === 0) {
    spin.gap(20)
    if (++n > 100) break
  }
  t.equal(spin.budgetUs(), POLL_US, 'polls after a run of short gaps')
  t.ok(n > 1 && n < 30, `a handful of short gaps is enough (${n})`)
  t.ok(spin.averageGapUs < SHORT_GAP_US)

  spin.gap(60_000_000)
  t.equal(spin.budgetUs(), 0, 'one long gap stops polling')
  let back = 0
  while (spin.budgetUs() === 0 && back < 100) { spin.gap(20); back++ }
  t.ok(back < 30, `a minute idle counts as capped: back to polling after ${back} short gaps`)
})

t.test('gaps near the mark of a 1 MiB write stream never turn polling on', async t => {
  const spin = new IdleSpin(steppingClock(1).now)
  for (let i = 0; i < 1000; i++) spin.gap(600)
  t.equal(spin.budgetUs(), 0)
})

t.test('a poll returns as soon as work is there, and gives up after POLL_US', async t => {
  const clock = steppingClock(5)
  const spin = new IdleSpin(clock.now)
  for (let i = 0; i < 50; i++) spin.gap(10)

  let asked = 0
  t.equal(spin.poll(() => ++asked === 3), true, 'found on the third look')
  t.equal(asked, 3)

  asked = 0
  const before = clock.reads
  t.equal(spin.poll(() => { asked++; return false }), false, 'nothing came')
  const polledUs = (clock.reads - before - 1) * 5
  t.ok(polledUs >= POLL_US && polledUs <= POLL_US + 10, `polled ${polledUs} us of a ${POLL_US} us budget`)
  t.ok(asked > 2)
})

t.test('wait sleeps only when the poll found nothing, and counts the whole gap', async t => {
  const clock = steppingClock(5)
  const spin = new IdleSpin(clock.now)
  let slept = 0
  t.equal(spin.wait(() => false, () => { slept++; return true }), true, 'woken by work')
  t.equal(slept, 1, 'slept: no poll yet')
  for (let i = 0; i < 50; i++) spin.gap(10)
  const before = spin.averageGapUs
  t.equal(spin.wait(() => true, () => { slept++; return false }), true, 'found by the poll')
  t.equal(slept, 1, 'no sleep after a poll that found work')
  t.ok(spin.averageGapUs !== before, 'the gap was counted')
})
