// Attributes read from the store before a change of this mount completed
// must not replace what the change left: a GETATTR that read the size, then
// answered after buffered data was stored, set the old size back (found by
// the model test in CI: fstat 20480 bytes after writing 22648).
import t from 'tap'
import type { ObjectAttr } from '../../src/store/types.ts'
import { Harness } from './harness.ts'
import { ROOT, parse, req } from './kernel.ts'

/** Make the store's next answers to `method` wait until `open` is called. */
function gate (h: Harness, method: 'getattr' | 'lookup'): { open: () => void, reached: Promise<void> } {
  const store = h.store as unknown as Record<string, (...args: unknown[]) => Promise<ObjectAttr | null>>
  const real = store[method].bind(h.store)
  let open = (): void => {}
  const opened = new Promise<void>(resolve => { open = resolve })
  let reached = (): void => {}
  const reachedP = new Promise<void>(resolve => { reached = resolve })
  store[method] = async (...args: unknown[]) => {
    const answer = await real(...args)
    reached()
    await opened
    return answer
  }
  return { open, reached: reachedP }
}

for (const method of ['getattr', 'lookup'] as const) {
  t.test(`a ${method} that read before a write was stored keeps the new size`, async t => {
    const h = await Harness.create()
    t.teardown(async () => { await h.close() })
    const { entry, fh } = parse.create(await h.ok(req.create(ROOT, 'f'), 'create'))
    await h.ok(req.write(entry.nodeid, fh, 0, new Uint8Array(3000).fill(7)), 'write')
    const g = gate(h, method)
    const slow = h.submit(method === 'getattr' ? req.getattr(entry.nodeid) : req.lookup(ROOT, 'f'))
    await g.reached
    // The write is stored and its dirty state released while the read waits.
    await h.ok(req.flush(entry.nodeid, fh), 'flush')
    t.equal(h.fs.table.get(entry.nodeid).dirty, undefined, 'nothing is buffered any more')
    g.open()
    const reply = await h.answer(slow)
    t.equal(reply?.errno, 0)
    const size = method === 'getattr' ? parse.attr(reply?.body as Uint8Array).size : parse.entry(reply?.body as Uint8Array).attr.size
    t.equal(size, 3000, 'the reply carries the stored size')
    t.equal(h.fs.table.get(entry.nodeid).size, 3000, 'the inode keeps it')
    t.equal(parse.attr(await h.ok(req.getattr(entry.nodeid), 'getattr')).size, 3000, 'and a later getattr agrees')
    await h.ok(req.release(entry.nodeid, fh), 'release')
    t.same(h.problems, [], 'no protocol rule broken')
  })
}
