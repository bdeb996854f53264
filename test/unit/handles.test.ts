// fh values: kind in the low bit, the issuing process's generation above
// bit 32, and rebuilt handles for values a predecessor issued.
import t from 'tap'
import { Handles } from '../../src/inode/handles.ts'
import type { Inode } from '../../src/inode/table.ts'

const inode = { nodeid: 7 } as unknown as Inode

t.test('fh values say their kind and their generation', async t => {
  const first = new Handles(0)
  const f = first.add({ kind: 'file', inode, flags: 0 })
  const d = first.add({ kind: 'dir', inode, entries: [], pages: [], cursor: null, complete: false, loading: undefined })
  t.equal(f % 2, 0, 'a file handle is even')
  t.equal(d % 2, 1, 'a directory handle is odd')
  const next = new Handles(1)
  const g = next.add({ kind: 'file', inode, flags: 0 })
  t.ok(g >= 2 ** 32, 'a later generation issues values no predecessor did')
  t.not(g, f)
})

t.test('restore rebuilds the handle a predecessor gave the kernel', async t => {
  const next = new Handles(1)
  t.notOk(next.has(2), 'unknown at first')
  const file = next.restore(2, inode)
  t.equal(file.kind, 'file')
  t.equal(next.file(2).inode, inode, 'then served like any other')
  const dir = next.restore(3, inode)
  t.equal(dir.kind, 'dir', 'an odd value is a directory')
  t.same(next.dir(3).entries, [], 'whose listing is read again')
  t.throws(() => next.dir(2), 'a file handle is not a directory handle')
})
