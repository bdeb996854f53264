// The reader's poll after a request: only for a request someone waits on,
// only while one caller sent the recent ones, and never past its limit.
import t from 'tap'
import { FUSE_BATCH_FORGET, FUSE_FORGET, FUSE_GETATTR, FUSE_INTERRUPT, FUSE_LOOKUP, FUSE_RELEASE } from '../../src/channel/abi.ts'
import { ReaderSpin, SPIN_WINDOW } from '../../src/channel/reader-spin.ts'

/** A clock that advances `stepUs` every time it is read. */
function steppingClock (stepUs: number): () => number {
  let ms = 0
  return () => { ms += stepUs / 1000; return ms }
}

/** The answers of worth() for `count` requests of `opcode` from `pid`. */
const worthOf = (spin: ReaderSpin, opcode: number, pid: number, count: number): boolean[] =>
  Array.from({ length: count }, () => spin.worth(opcode, pid))

t.test('a lone caller is polled for once it has sent the whole window of recent requests', async t => {
  const spin = new ReaderSpin(50)
  const answers = worthOf(spin, FUSE_LOOKUP, 1234, SPIN_WINDOW + 2)
  t.same(answers.slice(0, SPIN_WINDOW - 1), Array(SPIN_WINDOW - 1).fill(false), 'not before the window holds only this caller')
  t.same(answers.slice(SPIN_WINDOW - 1), [true, true, true])
})

t.test('a second caller within the window stops polling until the window is one caller again', async t => {
  const spin = new ReaderSpin(50)
  worthOf(spin, FUSE_LOOKUP, 1234, SPIN_WINDOW)
  t.equal(spin.worth(FUSE_GETATTR, 1234), true)
  t.equal(spin.worth(FUSE_LOOKUP, 99), false, 'another caller')
  const after = worthOf(spin, FUSE_LOOKUP, 1234, SPIN_WINDOW)
  t.same(after.slice(0, SPIN_WINDOW - 1), Array(SPIN_WINDOW - 1).fill(false), 'while the other caller is in the window')
  t.equal(after[SPIN_WINDOW - 1], true, 'once it has left it')
})

t.test('requests nobody waits on are never polled for and leave the window alone', async t => {
  const spin = new ReaderSpin(50)
  worthOf(spin, FUSE_LOOKUP, 1234, SPIN_WINDOW)
  for (const op of [FUSE_FORGET, FUSE_BATCH_FORGET, FUSE_INTERRUPT]) t.equal(spin.worth(op, 1234), false, `opcode ${op}`)
  t.equal(spin.worth(FUSE_RELEASE, 0), false, 'pid 0: sent by the kernel on its own account')
  t.equal(spin.worth(FUSE_LOOKUP, 1234), true, 'the lone caller still is')
})

t.test('a limit of 0 never polls', async t => {
  const spin = new ReaderSpin(0)
  t.same(worthOf(spin, FUSE_LOOKUP, 1234, SPIN_WINDOW + 1), Array(SPIN_WINDOW + 1).fill(false))
})

t.test('poll stops when the request is served, or at its limit', async t => {
  const spin = new ReaderSpin(50, steppingClock(1))
  let asked = 0
  t.equal(spin.poll(() => ++asked === 5), true, 'served')
  t.equal(asked, 5, 'stopped looking once served')
  asked = 0
  t.equal(spin.poll(() => { asked++; return false }), false, 'never served')
  t.ok(asked >= 24 && asked <= 52, `gave up after about 50 us of a clock read twice a look (${asked} looks)`)
})
