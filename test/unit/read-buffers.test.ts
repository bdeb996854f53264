// Pooled read buffers come back only when both holders are done: the store
// call that fills one and the reply that sends it.
import t from 'tap'
import { ReadBuffers } from '../../src/blocks/read-buffers.ts'

t.test('a buffer is reused only after both holders are done', async t => {
  const pool = new ReadBuffers(4096)
  const a = pool.lend()
  t.ok(a.buf.buffer instanceof SharedArrayBuffer, 'shared memory, so a worker can fill it without a transfer')
  t.equal(a.buf.byteLength, 4096)
  a.done()
  const b = pool.lend()
  t.not(b.buf, a.buf, 'one holder left (an interrupted read whose worker still copies): not lent again')
  a.done()
  const c = pool.lend()
  t.equal(c.buf, a.buf, 'both done: lent again')
})

t.test('at most 16 spares are kept', async t => {
  const pool = new ReadBuffers(16)
  const leases = Array.from({ length: 20 }, () => pool.lend())
  for (const l of leases) { l.done(); l.done() }
  const again = new Set(Array.from({ length: 20 }, () => pool.lend().buf))
  const reused = leases.filter(l => again.has(l.buf)).length
  t.equal(reused, 16, 'the extra buffers were dropped')
})
