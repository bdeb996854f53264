// The request ring: slots handed from the reader thread to the supervisor.
// In-process for the bookkeeping; a real Worker for the blocking parts,
// since acquire() parks its thread in Atomics.wait.
import { spawnSync } from 'node:child_process'
import { Worker } from 'node:worker_threads'
import t, { type Test } from 'tap'
import { RING_CLOSED, RING_RUNNING, RING_STOP, Ring, createRing, type RingBuffers } from '../../src/channel/ring.ts'

const ringUrl = new URL('../../src/channel/ring.ts', import.meta.url).href

/** The FREE control word (index 1 in ring.ts's layout). */
const free = (r: Ring): number => Atomics.load(r.ctl, 1)

const sleep = async (ms: number): Promise<void> => await new Promise(resolve => setTimeout(resolve, ms))

interface Msg { step: string, slot?: number, count?: number }

/**
 * A reader stand-in: imports ring.ts by URL and runs `body` with `ring` in
 * scope, posting messages back. Terminated at the end of the test.
 */
function readerWorker (t: Test, b: RingBuffers, body: string, extra: Record<string, unknown> = {}): { messages: Msg[], next: (step: string, ms?: number) => Promise<Msg>, worker: Worker } {
  const code = `
    const { workerData, parentPort } = require('node:worker_threads')
    import(workerData.url).then(({ Ring }) => {
      const ring = new Ring(workerData.ring)
      const post = m => parentPort.postMessage(m)
      ${body}
    })`
  const worker = new Worker(code, { eval: true, workerData: { url: ringUrl, ring: b, ...extra } })
  const messages: Msg[] = []
  const waiting: Array<() => void> = []
  worker.on('message', (m: Msg) => { messages.push(m); for (const w of waiting.splice(0)) w() })
  worker.on('error', err => { t.fail(`worker failed: ${String(err)}`) })
  t.teardown(async () => { await worker.terminate() })
  const next = async (step: string, ms = 5000): Promise<Msg> => {
    const deadline = Date.now() + ms
    for (;;) {
      const found = messages.find(m => m.step === step)
      if (found !== undefined) return found
      if (Date.now() > deadline) throw new Error(`no '${step}' from the worker within ${ms} ms`)
      await Promise.race([new Promise<void>(resolve => waiting.push(resolve)), sleep(50)])
    }
  }
  return { messages, next, worker }
}

t.test('acquire, publish, take, release: order and FREE accounting', async t => {
  const b = createRing(4, 64)
  const r = new Ring(b)
  t.equal(r.slots, 4)
  t.equal(r.slotSize, 64)
  t.equal(r.slot(1).byteLength, 64)
  t.equal(r.slot(1).byteOffset, 64, 'slot i starts at i * slotSize')
  t.equal(free(r), 4, 'all slots free')
  t.equal(r.state, RING_RUNNING)
  const got = [r.acquire(), r.acquire(), r.acquire()]
  t.same(got, [0, 1, 2], 'slots in scan order')
  t.equal(free(r), 1)
  t.same(r.take(), [], 'nothing published yet')
  r.slot(2).set([9, 9, 9])
  r.publish(2, 3)
  r.publish(0, 40)
  t.same(r.take(), [{ slot: 2, length: 3 }, { slot: 0, length: 40 }], 'in publication order, with lengths')
  t.same(r.take(), [], 'taken once')
  t.same([...r.slot(2).subarray(0, 3)], [9, 9, 9], 'the bytes are in the slot')
  r.release(0)
  t.equal(free(r), 2, 'release frees')
  t.equal(r.acquire(), 3, 'the scan continues past the last slot taken')
  t.equal(r.acquire(), 0, 'then wraps to the released slot')
  t.equal(free(r), 0)
  r.release(2)
  r.release(1)
  t.equal(r.acquire(), 1, 'lowest free slot after the scan position')
  r.unacquire(1)
  t.equal(free(r), 2, 'unacquire gives the slot back')
})

t.test('served: a publication counts as served once the supervisor has taken it and said so', async t => {
  const reader = new Ring(createRing(4, 64))
  const supervisor = new Ring({ control: reader.ctl.buffer as SharedArrayBuffer, data: reader.bytes.buffer as SharedArrayBuffer, slots: 4, slotSize: 64 })
  const first = reader.publish(reader.acquire(), 8)
  t.notOk(reader.servedUpTo(first), 'not served before it is taken')
  supervisor.served()
  t.notOk(reader.servedUpTo(first), 'served() covers only what take() returned')
  supervisor.take()
  const second = reader.publish(reader.acquire(), 8)
  supervisor.served()
  t.ok(reader.servedUpTo(first), 'served after take() and served()')
  t.notOk(reader.servedUpTo(second), 'a later publication the supervisor has not taken is not')
  supervisor.take()
  supervisor.served()
  t.ok(reader.servedUpTo(second))
})

t.test('many publications keep their order through few slots', async t => {
  const r = new Ring(createRing(4, 64))
  let expect = 0
  for (let round = 0; round < 10_000; round++) {
    const n = 1 + (round % 4)
    const slots = Array.from({ length: n }, () => r.acquire())
    for (const s of slots) {
      new DataView(r.bytes.buffer, r.slot(s).byteOffset).setUint32(0, expect + slots.indexOf(s), true)
      r.publish(s, 4)
    }
    for (const { slot, length } of r.take()) {
      const v = new DataView(r.bytes.buffer, r.slot(slot).byteOffset).getUint32(0, true)
      if (v !== expect || length !== 4) t.fail(`publication ${expect}: got ${v}, length ${length}`)
      expect++
      r.release(slot)
    }
  }
  t.equal(free(r), 4, 'every slot back')
  t.ok(expect > 20_000, `${expect} publications seen in order`)
})

t.test('stop and close', async t => {
  const r = new Ring(createRing(4, 64))
  r.requestStop()
  t.equal(r.state, RING_STOP)
  t.equal(r.acquire(), -1, 'a stopped reader gets no slot')
  const c = new Ring(createRing(4, 64))
  c.close(19)
  t.equal(c.state, RING_CLOSED)
  t.equal(c.closeErrno, 19)
  c.requestStop()
  t.equal(c.state, RING_CLOSED, 'stop does not override closed')
})

t.test('a reader blocked on a full ring resumes when a slot is released', { timeout: 15_000 }, async t => {
  const b = createRing(4, 64)
  const r = new Ring(b)
  for (let i = 0; i < 4; i++) r.acquire()
  t.equal(free(r), 0, 'all busy')
  const w = readerWorker(t, b, `
    post({ step: 'start' })
    const slot = ring.acquire()
    post({ step: 'acquired', slot })`)
  await w.next('start')
  await sleep(400)
  t.notOk(w.messages.some(m => m.step === 'acquired'), 'still blocked after 400 ms (two wait timeouts)')
  r.release(2)
  const m = await w.next('acquired')
  t.equal(m.slot, 2, 'the released slot')
  t.equal(free(r), 0)
})

t.test('the pause flag stops acquisition until cleared', { timeout: 15_000 }, async t => {
  const b = createRing(4, 64)
  const r = new Ring(b)
  r.setPaused(true)
  const w = readerWorker(t, b, `
    post({ step: 'start' })
    const slot = ring.acquire()
    post({ step: 'acquired', slot })`)
  await w.next('start')
  await sleep(400)
  t.notOk(w.messages.some(m => m.step === 'acquired'), 'free slots, but paused: blocked')
  t.equal(free(r), 4)
  r.setPaused(false)
  const m = await w.next('acquired')
  t.equal(m.slot, 0)
  t.equal(free(r), 3)
})

t.test('requestStop wakes a blocked reader with -1', { timeout: 15_000 }, async t => {
  const b = createRing(4, 64)
  const r = new Ring(b)
  for (let i = 0; i < 4; i++) r.acquire()
  const w = readerWorker(t, b, `
    post({ step: 'start' })
    post({ step: 'acquired', slot: ring.acquire() })`)
  await w.next('start')
  await sleep(100)
  r.requestStop()
  t.equal((await w.next('acquired')).slot, -1)
})

t.test('a producer thread and this thread move 2000 requests through 4 slots', { timeout: 30_000 }, async t => {
  const b = createRing(4, 64)
  const r = new Ring(b)
  const N = 2000
  readerWorker(t, b, `
    for (let i = 0; i < workerData.n; i++) {
      const slot = ring.acquire()
      const view = new DataView(ring.bytes.buffer, slot * ring.slotSize, ring.slotSize)
      view.setUint32(0, i, true)
      ring.publish(slot, 4 + (i % 60))
    }
    ring.close(19)`, { n: N })
  let expect = 0
  let maxBatch = 0
  // The producer exits right after close(); waitForRequests alone would not
  // keep this process alive (see the next test), so a timer does.
  const keepAlive = setInterval(() => {}, 100)
  t.teardown(() => clearInterval(keepAlive))
  for (;;) {
    const batch = r.take()
    maxBatch = Math.max(maxBatch, batch.length)
    for (const { slot, length } of batch) {
      const v = new DataView(r.bytes.buffer, slot * r.slotSize, r.slotSize).getUint32(0, true)
      if (v !== expect || length !== 4 + (expect % 60)) t.fail(`request ${expect}: got ${v} with length ${length}`)
      expect++
      // Release late now and then, so the producer runs into a full ring.
      if (expect % 7 === 0) await sleep(1)
      r.release(slot)
    }
    if (batch.length === 0 && r.state === RING_CLOSED) break
    await r.waitForRequests()
  }
  t.equal(expect, N, 'every request, in order')
  t.ok(maxBatch <= 4, 'never more published than slots')
  t.equal(r.closeErrno, 19)
  t.equal(free(r), 4)
})

t.test('waitForRequests returns after a close() it did not see happen', { timeout: 30_000 }, async t => {
  // The supervisor takes a batch, the reader closes the ring and exits while
  // the batch is being served, then the supervisor waits: TAIL never moves
  // again and the close's notify is gone. Session.serve relies on the
  // 1000 ms timeout here, but an Atomics.waitAsync timeout does not keep the
  // event loop alive: with the reader thread gone and piscina's idle workers
  // unref'd, the process just ends, without draining buffered writes.
  const code = `
    import { Ring, createRing } from ${JSON.stringify(ringUrl)}
    const r = new Ring(createRing(4, 64))
    const s = r.acquire()
    r.publish(s, 1)
    r.take()
    r.release(s)
    r.close(19)
    await r.waitForRequests()
    console.log('returned', r.state)`
  const out = spawnSync(process.execPath, ['--input-type=module', '--disable-warning=ExperimentalWarning', '-e', code], { encoding: 'utf8', timeout: 20_000 })
  t.equal(out.stdout.trim(), `returned ${RING_CLOSED}`, 'the wait ends and the caller sees the ring closed',
    { status: out.status, stderr: out.stderr.split('\n').slice(0, 3).join(' | ') })
})

t.test('a close() while the supervisor waits wakes it at once', { timeout: 15_000 }, async t => {
  const b = createRing(4, 64)
  const r = new Ring(b)
  const keepAlive = setInterval(() => {}, 100)
  t.teardown(() => clearInterval(keepAlive))
  const w = readerWorker(t, b, `
    post({ step: 'start' })
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200)
    ring.close(19)
    post({ step: 'closed' })`)
  await w.next('start')
  const t0 = Date.now()
  await r.waitForRequests()
  const ms = Date.now() - t0
  t.equal(r.state, RING_CLOSED)
  t.ok(ms < 900, `woken by the close after ${ms} ms, not by the timeout`)
  t.same(r.take(), [], 'nothing published')
})

t.test('refault() writes every page of the slots once more and changes no byte', async t => {
  // 1,021 pages, the last slot ending inside a page: a buffer need not start or end on one.
  const b = createRing(64, 65_331)
  const r = new Ring(b)
  const bytes = new Uint8Array(b.data)
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 2654435761) >>> 24
  const before = bytes.slice()
  const pages = Math.ceil(bytes.byteLength / 4096)
  const faults = (): number => process.resourceUsage().minorPageFault
  // A fork leaves every private page copy-on-write: the next write to each faults.
  t.equal(spawnSync('true').status, 0)
  let at = faults()
  r.refault()
  const first = faults() - at
  t.ok(first >= pages, `after a fork, refault() faulted each of the ${pages} pages (${first} faults)`)
  // The count is the whole process's: another thread's faults (the GC's,
  // tap's) can land in a pass (122 once, in a full run). The fewest of three.
  let second = Infinity
  for (let i = 0; i < 3; i++) {
    at = faults()
    r.refault()
    second = Math.min(second, faults() - at)
  }
  t.ok(second < pages / 10, `and once written, the pages fault no more (${second} faults)`)
  t.ok(Buffer.from(bytes).equals(Buffer.from(before)), 'every byte as it was')
})
