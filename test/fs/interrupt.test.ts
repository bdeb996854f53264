// FUSE_INTERRUPT of requests whose store call is already running (a slow
// store, from the test-only fault wrapper in the worker threads): the
// request answers EINTR at once instead of when the store does, nothing is
// left in flight, a write still lands, and its error waits for the next flush.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { errno as E } from '../../src/errors.ts'
import { FAULTS_ENV } from '../../src/store/fault.ts'
import { Harness } from '../dispatch/harness.ts'
import { ROOT, parse, req } from '../dispatch/kernel.ts'

const BS = 4096
const dir = mkdtempSync(join(tmpdir(), 'objfs-interrupt-'))
const rules = join(dir, 'faults')
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
const faults = (text: string): void => { if (text === '') rmSync(rules, { force: true }); else writeFileSync(rules, `${text}\n`) }

const sleep = async (ms: number): Promise<void> => await new Promise(resolve => setTimeout(resolve, ms))

/** A harness whose worker threads open the store behind the rules file. */
async function harness (): Promise<Harness> {
  process.env[FAULTS_ENV] = `@${rules}`
  try {
    return await Harness.create({ threads: 1, blockSize: BS })
  } finally {
    delete process.env[FAULTS_ENV]
  }
}

t.test('a read waiting for a running store call', async t => {
  faults('')
  const h = await harness()
  t.teardown(async () => { faults(''); await h.close() })
  const c = parse.create(await h.ok(req.create(ROOT, 'f'), 'create'))
  const f = c.entry.nodeid
  await h.ok(req.write(f, c.fh, 0, new Uint8Array(2 * BS).fill(7)), 'write')
  await h.ok(req.flush(f, c.fh), 'flush')
  faults('readBlock:delay=5000')
  const read = h.submit(req.read(f, c.fh, BS, BS))
  await sleep(300)
  t.equal(h.repliesTo(read.req.unique), 0, 'the read waits for the store')
  const started = Date.now()
  t.equal(await h.roundTrip(req.interrupt(read.req.unique)), null, 'no reply to the INTERRUPT itself')
  const r = await h.answer(read)
  t.equal(r?.errno, E.EINTR, 'the read answers EINTR')
  t.ok(Date.now() - started < 1000, `within ${Date.now() - started} ms, not when the store answers`)
  t.equal(h.dispatcher.inFlight, 0, 'nothing in flight')
  faults('')
  // The worker is busy until the delayed call ends; the next read queues behind it.
  t.same(await h.ok(req.read(f, c.fh, BS, 4)), new Uint8Array(4).fill(7), 'reads work again')
  t.same(h.problems, [])
})

t.test('a flush waiting for a slow store write: EINTR now, the data still lands', async t => {
  faults('')
  const h = await harness()
  t.teardown(async () => { faults(''); await h.close() })
  const c = parse.create(await h.ok(req.create(ROOT, 'f'), 'create'))
  const f = c.entry.nodeid
  faults('writeBlocks:delay=2000')
  await h.ok(req.write(f, c.fh, 100, new Uint8Array(10).fill(9)), 'write')
  const flush = h.submit(req.flush(f, c.fh))
  await sleep(200)
  t.equal(h.repliesTo(flush.req.unique), 0, 'the flush waits for the store')
  await h.roundTrip(req.interrupt(flush.req.unique))
  t.equal((await h.answer(flush))?.errno, E.EINTR, 'the flush answers EINTR at once')
  t.equal(h.dispatcher.inFlight, 0)
  faults('')
  await h.ok(req.flush(f, c.fh), 'the next flush waits for the write and succeeds')
  t.same(await h.ok(req.read(f, c.fh, 100, 10)), new Uint8Array(10).fill(9), 'the data landed')
  t.equal(parse.attr(await h.ok(req.getattr(f))).size, 110)
})

t.test('an interrupted flush keeps the store\'s error for the next one', async t => {
  faults('')
  const h = await harness()
  t.teardown(async () => { faults(''); await h.close() })
  const c = parse.create(await h.ok(req.create(ROOT, 'f'), 'create'))
  const f = c.entry.nodeid
  faults('writeBlocks:ENOSPC:delay=1000')
  await h.ok(req.write(f, c.fh, 0, new Uint8Array(10).fill(1)), 'write')
  const flush = h.submit(req.flush(f, c.fh))
  await sleep(100)
  await h.roundTrip(req.interrupt(flush.req.unique))
  t.equal((await h.answer(flush))?.errno, E.EINTR, 'interrupted')
  await sleep(1200)
  faults('')
  t.equal(await h.errno(req.flush(f, c.fh)), E.ENOSPC, 'the failure is reported by the next flush')
  t.equal(await h.errno(req.flush(f, c.fh)), 0, 'once')
})
