// A worker thread opens its own store instance; an open that failed (the
// store not there yet, or a full disk) is tried again by the next call.
import t from 'tap'
import { LocalStore } from '../../src/store/local/store.ts'
import { PooledStore } from '../../src/workers/pool.ts'
import { BS, configFor, storeDirs } from './local-fixture.ts'

t.test('a worker whose open failed opens again at its next call', async t => {
  const { freshDir } = storeDirs(t, 'pool-open')
  const config = configFor(freshDir())
  // No instance in this thread: every call goes to the one worker.
  const pool = new PooledStore({
    threads: 1,
    setup: { store: { ...config, create: false } },
    blockSize: BS,
    capabilities: { stableIds: true, hardLinks: true, blockWrites: true, inoNodeids: true },
  })
  t.teardown(async () => await pool.close())
  await t.rejects(pool.root(), /cannot open|does not exist|no objfs store/i, 'no store yet: the call fails')
  const made = await LocalStore.open(config)
  const root = await made.root()
  await made.close()
  t.same((await pool.root()).id, root.id, 'once it exists, the same worker opens it')
})
