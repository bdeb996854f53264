// Block math: spans() cuts a byte range at block boundaries, and the pieces
// must tile the range exactly (no gap, no overlap, positions in the caller's buffer).
import t, { type Test } from 'tap'
import { blockCount, blockOf, spans, type Span } from '../../src/blocks/range.ts'

const BS = 4096

/** The pieces cover [offset, offset+length) in order, each within one block. */
function tiles (t: Test, got: Span[], offset: number, length: number, bs: number): void {
  let pos = 0
  for (const s of got) {
    t.equal(s.pos, pos, `span ${s.index} starts where the previous ended`)
    t.ok(s.length > 0 && s.offset >= 0 && s.offset + s.length <= bs, `span ${s.index} lies inside its block`)
    t.equal(s.index * bs + s.offset, offset + pos, `span ${s.index} addresses the right byte`)
    pos += s.length
  }
  t.equal(pos, length, 'the spans add up to the range')
}

t.test('spans at block boundaries', async t => {
  t.same(spans(0, 10, BS), [{ index: 0, offset: 0, length: 10, pos: 0 }], 'offset 0, inside the first block')
  t.same(spans(100, 50, BS), [{ index: 0, offset: 100, length: 50, pos: 0 }], 'mid-block')
  t.same(spans(0, BS, BS), [{ index: 0, offset: 0, length: BS, pos: 0 }], 'exactly one block')
  t.same(spans(BS, BS, BS), [{ index: 1, offset: 0, length: BS, pos: 0 }], 'exactly the second block')
  t.same(spans(BS - 1, 2, BS), [
    { index: 0, offset: BS - 1, length: 1, pos: 0 },
    { index: 1, offset: 0, length: 1, pos: 1 },
  ], 'two bytes straddling a boundary')
  t.same(spans(BS - 10, BS + 20, BS), [
    { index: 0, offset: BS - 10, length: 10, pos: 0 },
    { index: 1, offset: 0, length: BS, pos: 10 },
    { index: 2, offset: 0, length: 10, pos: BS + 10 },
  ], 'across three blocks')
  t.same(spans(0, 0, BS), [], 'length 0: no spans')
  t.same(spans(5 * BS + 3, 0, BS), [], 'length 0 at any offset: no spans')
  t.same(spans(2 * BS - 1, 1, BS), [{ index: 1, offset: BS - 1, length: 1, pos: 0 }], 'the last byte of a block')
})

t.test('spans tile arbitrary ranges', async t => {
  // A deterministic spread of offsets and lengths around boundaries.
  const cases: Array<[number, number, number]> = []
  for (const bs of [512, 4096, 1 << 20]) {
    for (const off of [0, 1, bs - 1, bs, bs + 1, 7 * bs + 13]) {
      for (const len of [1, bs - 1, bs, bs + 1, 3 * bs + 5]) cases.push([off, len, bs])
    }
  }
  for (const [off, len, bs] of cases) {
    const got = spans(off, len, bs)
    t.equal(got.length, blockOf(off + len - 1, bs) - blockOf(off, bs) + 1, `${off}+${len}/${bs}: one span per touched block`)
    tiles(t, got, off, len, bs)
  }
})

t.test('offsets beyond 2^32 stay exact', async t => {
  const off = 2 ** 40 + 17
  const got = spans(off, BS, BS)
  t.equal(got.length, 2)
  t.equal(got[0].index, Math.floor(off / BS))
  t.equal(got[0].offset, 17)
  t.equal(got[1].length, 17)
})

t.test('blockOf and blockCount', async t => {
  t.equal(blockOf(0, BS), 0)
  t.equal(blockOf(BS - 1, BS), 0)
  t.equal(blockOf(BS, BS), 1)
  t.equal(blockOf(10 * BS + 5, BS), 10)
  t.equal(blockCount(0, BS), 0, 'an empty file has no blocks')
  t.equal(blockCount(1, BS), 1)
  t.equal(blockCount(BS, BS), 1, 'exactly one block')
  t.equal(blockCount(BS + 1, BS), 2)
  t.equal(blockCount(3 * BS, BS), 3)
})
