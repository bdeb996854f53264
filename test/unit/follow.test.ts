// The serving thread's move off a lone caller's CPU (src/channel/follow.ts):
// what the reader names, when the serving thread moves and where, on a
// clock, a caller and a taskset of the test's own.
import t from 'tap'
import {
  CHECK_MS, FollowCaller, LoneCallerBoard, MIN_MOVE_MS, STRIKES, cpuOfStat, cpuOfThread,
} from '../../src/channel/follow.ts'

const SERVING_TID = 100
const READER_TID = 101
const CALLER_TID = 42

/** Both sides on one buffer, the serving thread bound to `serving`, the caller on `caller.cpu`, clocks moved by hand. */
function setup (all: number[], serving: number | undefined) {
  const clock = { ms: 1000 }
  const caller = { cpu: 0 as number | undefined, looks: 0 }
  const binds: Array<{ tid: number, cpus: number[] }> = []
  const bindFails = { value: false }
  const warnings: string[] = []
  const follow = new FollowCaller(all, {
    cpuOf: async tid => { caller.looks++; return tid === CALLER_TID ? caller.cpu : undefined },
    bind: async (tid, cpus) => {
      if (bindFails.value) throw new Error('taskset: failed to set pid 100\'s affinity: Operation not permitted')
      binds.push({ tid, cpus: [...cpus] })
    },
    now: () => clock.ms,
    servingTid: SERVING_TID,
    warn: err => { warnings.push(err.message) },
  })
  const board = new LoneCallerBoard(follow.buffer, () => clock.ms)
  board.reader(READER_TID)
  if (serving !== undefined) follow.bound(serving)
  /** The reader answered a lone request of the caller, then the serving loop turned; time moves CHECK_MS on. */
  const request = async (): Promise<void> => {
    board.saw(CALLER_TID)
    await follow.tick()
    clock.ms += CHECK_MS
  }
  return { board, follow, clock, caller, binds, bindFails, warnings, request }
}

t.test('a caller on the reader\'s CPU: the serving thread stays', async t => {
  const { follow, caller, binds, request } = setup([0, 1], 1)
  caller.cpu = 0
  for (let i = 0; i < 10; i++) await request()
  t.equal(caller.looks, 10)
  t.same(binds, [])
  t.equal(follow.cpu, 1)
})

t.test('a caller on the serving thread\'s CPU, STRIKES looks running: the serving thread to the other CPU, the reader to the rest', async t => {
  const { follow, caller, binds, request } = setup([0, 1], 1)
  caller.cpu = 1
  for (let i = 1; i < STRIKES; i++) await request()
  t.same(binds, [], 'not after one look')
  await request()
  t.same(binds, [{ tid: SERVING_TID, cpus: [0] }, { tid: READER_TID, cpus: [1] }])
  t.equal(follow.cpu, 0)
  t.equal(follow.moves, 1)
})

t.test('the reader names a caller at most every CHECK_MS, and the serving thread looks only at what is named', async t => {
  const { board, follow, clock, caller } = setup([0, 1], 1)
  caller.cpu = 0
  for (let i = 0; i < 100; i++) {
    board.saw(CALLER_TID)
    await follow.tick()
  }
  t.equal(caller.looks, 1, 'one look for 100 requests within CHECK_MS')
  t.equal(follow.tick(), undefined, 'nothing named since: no look, no promise')
  clock.ms += CHECK_MS - 1
  board.saw(CALLER_TID)
  await follow.tick()
  t.equal(caller.looks, 1)
  clock.ms += 1
  board.saw(CALLER_TID)
  await follow.tick()
  t.equal(caller.looks, 2)
})

t.test('one look at a time: a slow look is not joined by others', async t => {
  const clock = { ms: 0 }
  let release: (cpu: number) => void = () => {}
  let looks = 0
  const follow = new FollowCaller([0, 1], {
    cpuOf: () => { looks++; return new Promise(resolve => { release = resolve }) },
    bind: async () => {},
    now: () => clock.ms,
    servingTid: SERVING_TID,
    warn: () => {},
  })
  const board = new LoneCallerBoard(follow.buffer, () => clock.ms)
  follow.bound(1)
  board.saw(CALLER_TID)
  const first = follow.tick()
  t.ok(first !== undefined, 'looks')
  for (let i = 0; i < 5; i++) {
    clock.ms += CHECK_MS
    board.saw(CALLER_TID)
    t.equal(follow.tick(), undefined, 'a look in flight: none started')
  }
  release(0)
  await first
  t.equal(looks, 1)
  t.ok(follow.tick() !== undefined, 'the next tick looks again, at the latest caller named')
  release(0)
})

t.test('a look that finds the caller elsewhere (or gone) starts the count again', async t => {
  const { caller, binds, request } = setup([0, 1], 1)
  for (const cpu of [1, 0, 1, undefined, 1]) {
    caller.cpu = cpu
    await request()
    t.same(binds, [], `caller on ${cpu}`)
  }
  await request()
  t.equal(binds.length, 2, 'two looks in a row')
})

t.test('at most one move every MIN_MOVE_MS', async t => {
  const { follow, clock, caller, request } = setup([0, 1], 1)
  caller.cpu = 1
  const until = clock.ms + MIN_MOVE_MS * 3
  while (clock.ms < until) {
    await request()
    // The caller follows it there: the worst case, every look a strike.
    caller.cpu = follow.cpu
  }
  t.equal(follow.moves, 3, 'three moves in three MIN_MOVE_MS')
})

t.test('not before the serving thread is bound', async t => {
  const { follow, caller, binds, request } = setup([0, 1], undefined)
  t.equal(follow.cpu, -1)
  caller.cpu = 1
  for (let i = 0; i < 5; i++) await request()
  t.equal(caller.looks, 0, 'no look at all')
  t.same(binds, [])
})

t.test('more CPUs: the serving thread goes to another than the caller\'s, the reader to all the others', async t => {
  const { caller, binds, request } = setup([0, 2, 5, 7], 7)
  caller.cpu = 7
  await request()
  await request()
  t.same(binds, [{ tid: SERVING_TID, cpus: [5] }, { tid: READER_TID, cpus: [0, 2, 7] }], 'the last CPU that is not the caller\'s')
})

t.test('a taskset that fails: one warning, and no move or look again', async t => {
  const { follow, caller, binds, bindFails, warnings, request } = setup([0, 1], 1)
  caller.cpu = 1
  bindFails.value = true
  for (let i = 0; i < STRIKES; i++) await request()
  t.same(warnings, ['taskset: failed to set pid 100\'s affinity: Operation not permitted'])
  t.equal(follow.cpu, 1, 'still where it was')
  bindFails.value = false
  const looks = caller.looks
  for (let i = 0; i < 50; i++) await request()
  t.equal(caller.looks, looks, 'no look after')
  t.same(binds, [])
  t.equal(follow.moves, 0)
})

t.test('the CPU field of /proc/<tid>/stat', async t => {
  const fields = (name: string, cpu: number) => `123 (${name}) S 1 123 123 0 -1 4194560 ${Array.from({ length: 29 }, (_, i) => i).join(' ')} ${cpu} 0 0 0 0 0\n`
  t.equal(cpuOfStat(fields('bash', 3)), 3)
  t.equal(cpuOfStat(fields('a) (b c) 9', 1)), 1, 'a name with spaces and parentheses')
  t.equal(cpuOfStat('garbage'), undefined)
  t.equal(cpuOfStat('1 (x) S 2'), undefined, 'too short')
  const mine = await cpuOfThread(process.pid)
  t.ok(mine !== undefined && mine >= 0, `this process runs on a CPU (${mine})`)
  t.equal(await cpuOfThread(2 ** 22 + 12345), undefined, 'a thread that does not exist')
})
