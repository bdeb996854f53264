// The serving thread's move off a lone caller's CPU (src/channel/follow.ts):
// when to move and where, on a clock and a caller of the test's own.
import t from 'tap'
import { CHECK_MS, FollowCaller, MIN_MOVE_MS, STRIKES, ServingCpu, cpuOfStat, cpuOfThread, createServingCpu } from '../../src/channel/follow.ts'

/** A FollowCaller with the serving thread bound to `serving`, the caller on `caller.cpu`, and a clock moved by hand. */
function setup (all: number[], serving: number | undefined) {
  const state = new ServingCpu(createServingCpu())
  if (serving !== undefined) state.bound(serving)
  const clock = { ms: 1000 }
  const caller = { cpu: 0 as number | undefined, looks: 0 }
  const f = new FollowCaller(all, state, () => { caller.looks++; return caller.cpu }, () => clock.ms)
  return { f, state, clock, caller }
}

t.test('a caller on the reader\'s CPU: the serving thread stays', async t => {
  const { f, clock, caller } = setup([0, 1], 1)
  caller.cpu = 0
  for (let i = 0; i < 10; i++, clock.ms += CHECK_MS) t.equal(f.check(42), undefined)
  t.equal(caller.looks, 10)
})

t.test('a caller on the serving thread\'s CPU, STRIKES looks running: the serving thread moves to the other CPU', async t => {
  const { f, state, clock, caller } = setup([0, 1], 1)
  caller.cpu = 1
  for (let i = 1; i < STRIKES; i++, clock.ms += CHECK_MS) t.equal(f.check(42), undefined, `look ${i}`)
  t.equal(f.check(42), 0, 'moves to CPU 0')
  f.moved(0)
  t.equal(state.cpu, 0)
  t.equal(state.moves, 1)
})

t.test('looks are CHECK_MS apart at least: requests in between do not look', async t => {
  const { f, clock, caller } = setup([0, 1], 1)
  caller.cpu = 1
  for (let i = 0; i < 100; i++) t.equal(f.check(42), undefined)
  t.equal(caller.looks, 1, 'one look for 100 requests within CHECK_MS')
  clock.ms += CHECK_MS - 1
  t.equal(f.check(42), undefined)
  t.equal(caller.looks, 1)
  clock.ms += 1
  t.equal(f.check(42), STRIKES === 2 ? 0 : undefined)
  t.equal(caller.looks, 2)
})

t.test('a look that finds the caller elsewhere (or gone) starts the count again', async t => {
  const { f, clock, caller } = setup([0, 1], 1)
  for (const cpu of [1, 0, 1, undefined, 1]) {
    caller.cpu = cpu
    t.equal(f.check(42), undefined, `caller on ${cpu}`)
    clock.ms += CHECK_MS
  }
  t.equal(f.check(42), 0, 'two looks in a row')
})

t.test('at most one move every MIN_MOVE_MS', async t => {
  const { f, state, clock, caller } = setup([0, 1], 1)
  caller.cpu = 1
  let moves = 0
  const until = clock.ms + MIN_MOVE_MS * 3
  for (; clock.ms < until; clock.ms += CHECK_MS) {
    const to = f.check(42)
    if (to === undefined) continue
    moves++
    f.moved(to)
    // The caller follows it there: the worst case, every look a strike.
    caller.cpu = to
  }
  t.equal(moves, 3, 'three moves in three MIN_MOVE_MS')
  t.equal(state.moves, 3)
})

t.test('not before the supervisor is bound', async t => {
  const { f, state, clock, caller } = setup([0, 1], undefined)
  t.equal(state.cpu, -1)
  caller.cpu = 1
  for (let i = 0; i < 5; i++, clock.ms += CHECK_MS) t.equal(f.check(42), undefined)
  t.equal(caller.looks, 0, 'no look at all')
})

t.test('more CPUs: the serving thread goes to another than the caller\'s', async t => {
  const { f, clock, caller } = setup([0, 2, 5, 7], 7)
  caller.cpu = 7
  t.equal(f.check(42), undefined)
  clock.ms += CHECK_MS
  t.equal(f.check(42), 5, 'the last CPU that is not the caller\'s')
})

t.test('the CPU field of /proc/<tid>/stat', async t => {
  const fields = (name: string, cpu: number) => `123 (${name}) S 1 123 123 0 -1 4194560 ${Array.from({ length: 29 }, (_, i) => i).join(' ')} ${cpu} 0 0 0 0 0\n`
  t.equal(cpuOfStat(fields('bash', 3)), 3)
  t.equal(cpuOfStat(fields('a) (b c) 9', 1)), 1, 'a name with spaces and parentheses')
  t.equal(cpuOfStat('garbage'), undefined)
  t.equal(cpuOfStat('1 (x) S 2'), undefined, 'too short')
  const mine = cpuOfThread(process.pid)
  t.ok(mine !== undefined && mine >= 0, `this process runs on a CPU (${mine})`)
  t.equal(cpuOfThread(2 ** 22 + 12345), undefined, 'a thread that does not exist')
})
