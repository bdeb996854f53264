// The pool's read-ahead (src/workers/read-ahead.ts) over the embedded store
// in a worker thread: a READ that takes a block read ahead gets what a read
// of its own would have, never bytes a change made stale, and meets a
// failure as its own.
import t from 'tap'
import type { Test } from 'tap'
import { errno as E } from '../../src/errors.ts'
import type { ObjectAttr, ObjectId } from '../../src/store/types.ts'
import type { PooledStore } from '../../src/workers/pool.ts'
import { KEEP } from '../../src/workers/read-ahead.ts'
import { LONG_AGO, file, pattern, rejectsErrno } from './conformance/helpers.ts'
import { configFor, pooledStore, storeDirs } from './local-fixture.ts'

const SIZE = 64 * 1024

async function setup (t: Test): Promise<{ pool: PooledStore, f: ObjectAttr }> {
  const { freshDir } = storeDirs(t, 'ahead')
  // Every block read goes to the worker, as in the daemon.
  const pool = await pooledStore(configFor(freshDir(), { blockSize: SIZE }), 1)
  t.teardown(async () => await pool.close())
  const f = await file(pool, (await pool.root()).id, 'f')
  // Blocks 0, 1, 2 and a short block 4; block 3 is a hole.
  await pool.writeBlocks(f.id, [0, 1, 2].map(index => ({ index, data: pattern(SIZE, index) })), 3 * SIZE, LONG_AGO)
  await pool.writeBlocks(f.id, [{ index: 4, data: pattern(1000, 4) }], 4 * SIZE + 1000, LONG_AGO)
  return { pool, f }
}

/** A READ's call: with a reply, as the coalescer makes it. */
const read = async (pool: PooledStore, id: ObjectId, index: number, offset: number, length: number): Promise<Uint8Array | null> => {
  const got = await pool.readBlock(id, index, offset, length, { reply: {} })
  return got === null ? null : got.slice()
}

t.test('a READ takes the block read ahead: the same bytes, no second read', async t => {
  const { pool, f } = await setup(t)
  pool.readAhead(f.id, 1)
  pool.readAhead(f.id, 1)
  pool.readAhead(f.id, 3)
  pool.readAhead(f.id, 4)
  await new Promise(resolve => setTimeout(resolve, 100))
  const before = pool.calls.worker
  t.same(await read(pool, f.id, 1, 100, 5000), pattern(SIZE, 1).subarray(100, 5100), 'a range of a whole block')
  t.equal(await read(pool, f.id, 3, 0, SIZE), null, 'a hole')
  t.same(await read(pool, f.id, 4, 0, SIZE), pattern(1000, 4), 'a short block')
  t.equal(pool.calls.worker, before, 'all three read once, ahead: the second readAhead of block 1 read nothing')
  t.same(await read(pool, f.id, 1, 0, 10), pattern(SIZE, 1).subarray(0, 10), 'a block is taken once; then read as ever')
  t.equal(pool.calls.worker, before + 1)
  pool.readAhead(f.id, 4)
  t.same(await read(pool, f.id, 4, 2000, 10), new Uint8Array(0), 'past the end of a short block: nothing')
})

t.test('a change to the file makes what was read ahead stale, done or still running', async t => {
  const { pool, f } = await setup(t)
  pool.readAhead(f.id, 0)
  await new Promise(resolve => setTimeout(resolve, 100))
  pool.readAhead(f.id, 1)
  await pool.writeBlocks(f.id, [0, 1].map(index => ({ index, data: pattern(SIZE, index + 10) })), 3 * SIZE, LONG_AGO)
  t.same(await read(pool, f.id, 0, 0, SIZE), pattern(SIZE, 10), 'written after the read ahead was done')
  t.same(await read(pool, f.id, 1, 0, SIZE), pattern(SIZE, 11), 'written while it ran')
  pool.readAhead(f.id, 2)
  await pool.setattr(f.id, { size: 2 * SIZE + 10 })
  t.same(await read(pool, f.id, 2, 0, SIZE), pattern(10, 2), 'truncated')
  pool.readAhead(f.id, 2)
  await pool.dropBlocks(f.id, 2, 2)
  t.equal(await read(pool, f.id, 2, 0, SIZE), null, 'punched')
})

t.test('a read ahead that fails: the READ reads again and meets the error as its own', async t => {
  const { pool } = await setup(t)
  const gone = 'no-such-object' as ObjectId
  pool.readAhead(gone, 0)
  await new Promise(resolve => setTimeout(resolve, 100))
  await rejectsErrno(t, read(pool, gone, 0, 0, SIZE), E.ENOENT, 'the READ fails as without')
})

t.test('read ahead is for the reads about to come: let go once passed or stale', async t => {
  const { pool, f } = await setup(t)
  for (const index of [0, 1, 2, 3, 4]) pool.readAhead(f.id, index)
  await new Promise(resolve => setTimeout(resolve, 100))
  let calls = pool.calls.worker
  const worker = (): number => pool.calls.worker - calls
  t.same(await read(pool, f.id, 2, 0, SIZE), pattern(SIZE, 2))
  t.equal(worker(), 0, 'taken')
  t.same(await read(pool, f.id, 1, 0, SIZE), pattern(SIZE, 1))
  t.equal(worker(), 1, 'one the reader went past was let go')
  const copy = await pool.readBlock(f.id, 4, 10, 20)
  t.same(copy, pattern(1000, 4).subarray(10, 30), 'a read for no READ of its own (one that spans two blocks) takes it too')
  t.equal(worker(), 1)
  pool.readAhead(f.id, 0)
  await new Promise(resolve => setTimeout(resolve, 1100))
  calls = pool.calls.worker
  t.same(await read(pool, f.id, 0, 0, SIZE), pattern(SIZE, 0))
  t.equal(worker(), 1, 'one not asked for within a second is read again')
})

t.test('full, no more is read ahead: the blocks held wait for their READs', async t => {
  const { pool } = await setup(t)
  // One block each of KEEP + 1 files, as readers side by side ask for them.
  const files: ObjectAttr[] = []
  const root = (await pool.root()).id
  for (let i = 0; i <= KEEP; i++) {
    const g = await file(pool, root, `g${i}`)
    await pool.writeBlocks(g.id, [{ index: 1, data: pattern(SIZE, i) }], 2 * SIZE, LONG_AGO)
    files.push(g)
  }
  let calls = pool.calls.worker
  const worker = (): number => pool.calls.worker - calls
  for (const g of files) pool.readAhead(g.id, 1)
  await new Promise(resolve => setTimeout(resolve, 100))
  t.equal(worker(), KEEP, `${KEEP} read ahead, the last one not`)
  calls = pool.calls.worker
  for (let i = 0; i < KEEP; i++) t.same(await read(pool, files[i].id, 1, 0, SIZE), pattern(SIZE, i))
  t.equal(worker(), 0, 'every block held went to its READ, the first one too')
  t.same(await read(pool, files[KEEP].id, 1, 0, SIZE), pattern(SIZE, KEEP))
  t.equal(worker(), 1, 'the one left out is read by its READ')

  for (let i = 0; i < KEEP; i++) pool.readAhead(files[i].id, 1)
  await new Promise(resolve => setTimeout(resolve, 1100))
  calls = pool.calls.worker
  pool.readAhead(files[KEEP].id, 1)
  await new Promise(resolve => setTimeout(resolve, 100))
  t.equal(worker(), 1, 'full of blocks nobody asked for within a second: they make room')
  t.same(await read(pool, files[0].id, 1, 0, SIZE), pattern(SIZE, 0))
  t.equal(worker(), 2, 'and were let go')
  t.same(await read(pool, files[KEEP].id, 1, 0, SIZE), pattern(SIZE, KEEP))
  t.equal(worker(), 2, 'the new one was read ahead')
})
