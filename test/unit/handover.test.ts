// The reply handover (handover.ts): a reply the reader thread polls for is
// written by exactly one side, the reader or the supervisor.
import { Worker } from 'node:worker_threads'
import t from 'tap'
import { HANDOVER_MAX, Handover, createHandover, wireUnique } from '../../src/channel/handover.ts'

const handoverUrl = new URL('../../src/channel/handover.ts', import.meta.url).href

/** A reply header (len, error, unique) and a body, as the dispatcher sends them. */
function reply (unique: bigint, body: Uint8Array = new Uint8Array(0)): Uint8Array[] {
  const header = new Uint8Array(16)
  const v = new DataView(header.buffer)
  v.setUint32(0, 16 + body.byteLength, true)
  v.setBigInt64(8, unique, true)
  return body.byteLength === 0 ? [header] : [header, body]
}

t.test('the unique of a header, as both directions carry it', async t => {
  const [header] = reply(0x1234_5678_9abcn)
  t.equal(wireUnique(header), 0x1234_5678_9abcn)
  const resent = reply(-(2n ** 63n) + 7n)[0]
  t.equal(wireUnique(resent), -(2n ** 63n) + 7n, 'FUSE_UNIQUE_RESEND (bit 63) kept')
})

t.test('nobody polls: the supervisor writes its own reply', async t => {
  const h = new Handover(createHandover())
  t.notOk(h.take(reply(5n)), 'not taken')
  t.equal(h.handed(), 0)
})

t.test('offered and claimed: the reader gets the bytes, and only once', async t => {
  const h = new Handover(createHandover())
  h.offer(7n)
  const body = Uint8Array.from({ length: 120 }, (_, i) => i)
  t.ok(h.take(reply(7n, body)), 'taken')
  t.equal(h.handed(), 136, 'header and body')
  const bytes = h.reply(h.handed())
  t.equal(wireUnique(bytes), 7n)
  t.same([...bytes.subarray(16)], [...body], 'the body follows the header')
  t.notOk(h.withdraw(7n), 'too late to withdraw: the reader must write it')
  h.written()
  t.equal(h.handed(), 0)
  t.notOk(h.take(reply(7n)), 'a second reply to the same unique is not taken')
})

t.test('a notification (unique 0) is the supervisor\'s to write, offer or none', async t => {
  const h = new Handover(createHandover())
  t.notOk(h.take(reply(0n)), 'with no offer pending (the empty offer is 0 too)')
  h.offer(4n)
  t.notOk(h.take(reply(0n)), 'with an offer pending')
  t.ok(h.withdraw(4n), 'the offer untouched')
})

t.test('withdrawn first: the supervisor writes it', async t => {
  const h = new Handover(createHandover())
  h.offer(9n)
  t.ok(h.withdraw(9n))
  t.notOk(h.take(reply(9n)), 'not taken')
})

t.test('another unique, or a reply too large, is the supervisor\'s to write', async t => {
  const h = new Handover(createHandover())
  h.offer(11n)
  t.notOk(h.take(reply(12n)), 'another request\'s reply')
  t.notOk(h.take(reply(11n, new Uint8Array(HANDOVER_MAX))), `more than ${HANDOVER_MAX} bytes with its header`)
  t.ok(h.take(reply(11n, new Uint8Array(HANDOVER_MAX - 16))), 'exactly the buffer')
})

t.test('settle waits for the reader to write a claimed reply', async t => {
  const sab = createHandover()
  const h = new Handover(sab)
  t.ok(h.settle(10), 'nothing claimed: settled at once')
  h.offer(3n)
  t.ok(h.take(reply(3n)))
  t.notOk(h.settle(20), 'claimed and not written: not settled')
  const worker = new Worker(`
    const { workerData } = require('node:worker_threads')
    import(workerData.url).then(({ Handover }) => {
      const h = new Handover(workerData.sab)
      setTimeout(() => { h.written() }, 30)
    })`, { eval: true, workerData: { url: handoverUrl, sab } })
  t.teardown(async () => { await worker.terminate() })
  t.ok(h.settle(5000), 'settled once the reader wrote it')
})

t.test('racing: each of many replies is written by exactly one side', async t => {
  // The reader (a worker) offers each unique, polls for a while, then
  // either writes what was handed or withdraws; the supervisor (this
  // thread) takes each reply after a random while. The two must agree.
  const N = 3000
  const sab = createHandover()
  const sync = new SharedArrayBuffer(4 * 2)
  const byReader = new SharedArrayBuffer(N + 1)
  const worker = new Worker(`
    const { workerData } = require('node:worker_threads')
    import(workerData.url).then(({ Handover }) => {
      const h = new Handover(workerData.sab)
      const offered = new Int32Array(workerData.sync)
      const wrote = new Uint8Array(workerData.byReader)
      for (let i = 1; i <= workerData.n; i++) {
        h.offer(BigInt(i))
        // A third withdrawn before the supervisor looks, a third waited
        // for until handed, a third raced.
        const gaveUp = i % 3 === 0 && h.withdraw(BigInt(i))
        Atomics.store(offered, 0, i)
        Atomics.notify(offered, 0)
        const until = i % 3 === 1 ? Infinity : Math.random() * 40
        for (let k = 0; !gaveUp && k < until && h.handed() === 0; k++) ;
        let length = h.handed()
        if (length === 0 && !gaveUp && !h.withdraw(BigInt(i))) length = h.waitHanded()
        if (length > 0) { wrote[i] = 1; h.written() }
        // Wait until the supervisor is done with i before offering i + 1.
        while (Atomics.load(offered, 1) < i) Atomics.wait(offered, 1, Atomics.load(offered, 1), 5)
      }
    })`, { eval: true, workerData: { url: handoverUrl, sab, sync, byReader, n: N } })
  t.teardown(async () => { await worker.terminate() })
  const h = new Handover(sab)
  const offered = new Int32Array(sync)
  const bySupervisor = new Uint8Array(N + 1)
  for (let i = 1; i <= N; i++) {
    while (Atomics.load(offered, 0) < i) Atomics.wait(offered, 0, Atomics.load(offered, 0), 5)
    const until = Math.random() * 40
    for (let k = 0; k < until; k++) ;
    if (!h.take(reply(BigInt(i)))) bySupervisor[i] = 1
    Atomics.store(offered, 1, i)
    Atomics.notify(offered, 1)
  }
  await new Promise<void>((resolve, reject) => { worker.on('exit', () => { resolve() }); worker.on('error', reject) })
  const wrote = new Uint8Array(byReader)
  let both = 0
  let neither = 0
  let reader = 0
  for (let i = 1; i <= N; i++) {
    if (wrote[i] === 1 && bySupervisor[i] === 1) both++
    if (wrote[i] === 0 && bySupervisor[i] === 0) neither++
    reader += wrote[i]
  }
  t.equal(both, 0, 'never written twice')
  t.equal(neither, 0, 'never lost')
  t.ok(reader > 0 && reader < N, `both sides wrote some (the reader ${reader} of ${N})`)
})
