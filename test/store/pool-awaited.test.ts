// The pool runs a block write a request waits on in this thread when no
// worker is busy (a hop would buy only latency), and in a worker otherwise.
import t from 'tap'
import { LONG_AGO, file, pattern } from './conformance/helpers.ts'
import { configFor, pooledStore, storeDirs } from './local-fixture.ts'

const SIZE = 64 * 1024

t.test('an awaited block write runs inline only while no worker is busy', async t => {
  const { freshDir } = storeDirs(t, 'awaited')
  const pool = await pooledStore(configFor(freshDir(), { blockSize: SIZE }), 1)
  t.teardown(async () => await pool.close())
  const f = await file(pool, (await pool.root()).id, 'f')
  const calls = (): { inline: number, worker: number } => ({ ...pool.calls })

  let before = calls()
  await pool.writeBlocks(f.id, [{ index: 0, data: pattern(SIZE, 0) }], SIZE, LONG_AGO)
  t.same(calls(), { inline: before.inline, worker: before.worker + 1 }, 'not awaited: a worker')

  before = calls()
  await pool.writeBlocks(f.id, [{ index: 1, data: pattern(SIZE, 1) }], 2 * SIZE, LONG_AGO, { awaited: true })
  t.same(calls(), { inline: before.inline + 1, worker: before.worker }, 'awaited, the pool idle: inline')

  before = calls()
  const busy = pool.writeBlocks(f.id, [{ index: 2, data: pattern(SIZE, 2) }], 3 * SIZE, LONG_AGO)
  const awaited = pool.writeBlocks(f.id, [{ index: 3, data: pattern(SIZE, 3) }], 4 * SIZE, LONG_AGO, { awaited: true })
  await Promise.all([busy, awaited])
  t.same(calls(), { inline: before.inline, worker: before.worker + 2 }, 'awaited with a worker busy: a worker')

  for (let i = 0; i < 4; i++) t.same(await pool.readBlock(f.id, i, 0, SIZE), pattern(SIZE, i), `block ${i} stored`)
})
