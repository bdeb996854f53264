// FUSE_INTERRUPT: EAGAIN for a target we do not know, EINTR for a target
// whose store call is still queued, and no effect on one already running.
import t from 'tap'
import { errno as E } from '../../src/errors.ts'
import type { ObjectId } from '../../src/store/types.ts'
import type { PooledStore } from '../../src/workers/pool.ts'
import { Harness } from './harness.ts'
import { ROOT, parse, req } from './kernel.ts'

t.test('INTERRUPT of an unknown unique: EAGAIN to the interrupt', async t => {
  const h = await Harness.create()
  t.teardown(async () => { await h.close() })
  const done = await h.roundTrip(req.getattr(ROOT))
  t.equal(done?.errno, 0)
  const i1 = req.interrupt(done?.unique ?? 0)
  const r1 = await h.roundTrip(i1)
  t.equal(r1?.unique, i1.unique, 'the reply goes to the INTERRUPT itself')
  t.equal(r1?.errno, E.EAGAIN, 'EAGAIN: an already answered request is unknown')
  const i2 = req.interrupt(77_777_777)
  t.equal((await h.roundTrip(i2))?.errno, E.EAGAIN, 'never seen: EAGAIN')
  t.equal(h.repliesTo(done?.unique ?? 0), 1, 'the finished request is not answered again')
  t.same(h.problems, [])
})

t.test('INTERRUPT of a request in flight: no reply to the interrupt; a running call answers normally', async t => {
  const h = await Harness.create()
  t.teardown(async () => { await h.close() })
  await h.ok(req.mkdir(ROOT, 'd'), 'mkdir')
  const lookup = h.submit(req.lookup(ROOT, 'd'))
  // Same turn of the event loop: the LocalStore call has started, so it runs on.
  const intr = req.interrupt(lookup.req.unique)
  const ir = await h.roundTrip(intr)
  t.equal(ir, null, 'the INTERRUPT got no reply')
  const r = await h.answer(lookup)
  t.equal(r?.errno, 0, 'the lookup answered normally')
  t.not(parse.entry(r?.body ?? new Uint8Array(0)).nodeid, 0)
  t.same(h.problems, [])
})

t.test('INTERRUPT of a request whose store call is queued: EINTR', async t => {
  const BIG = 3000
  let bigId = '' as ObjectId
  const h = await Harness.create({
    threads: 1,
    prepare: async (s, root) => {
      const big = await s.create(root.id, 'big', { mode: 0o40755, uid: 0, gid: 0 })
      bigId = big.id
      for (let i = 0; i < BIG; i++) await s.create(big.id, `entry-with-a-longish-name-${i}`, { mode: 0o100644, uid: 0, gid: 0 })
    },
  })
  t.teardown(async () => { await h.close() })
  const pool = h.store as unknown as PooledStore
  await h.ok(req.getattr(ROOT), 'getattr') // the worker is up

  // One thread; the p-queue hands two calls to piscina. Three long listings fill both and queue one.
  const busy = [h.store.list(bigId, null, BIG), h.store.list(bigId, null, BIG), h.store.list(bigId, null, BIG)]
  const lookup = h.submit(req.lookup(ROOT, 'big'))
  t.ok(pool.queued >= 2, `store calls waiting: ${pool.queued}`)
  t.equal(h.dispatcher.inFlight, 1, 'the lookup is in flight')
  t.equal(await h.roundTrip(req.interrupt(lookup.req.unique)), null, 'no reply to the INTERRUPT')
  const r = await h.answer(lookup)
  t.equal(r?.errno, E.EINTR, 'the interrupted lookup answers EINTR')
  t.same((await Promise.all(busy)).map(p => p.entries.length), [BIG, BIG, BIG], 'the work ahead of it finished')
  t.equal(h.fs.table.size, 1, 'no nodeid was issued for the cancelled lookup')
  const again = parse.entry(await h.ok(req.lookup(ROOT, 'big'), 'lookup again'))
  t.not(again.nodeid, 0, 'a later lookup works')
  t.equal(h.dispatcher.inFlight, 0)
  t.same(h.problems, [])
})
