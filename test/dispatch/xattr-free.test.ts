// A file created on a store only this daemon changes has no extended
// attribute until one is set through it: GETXATTR (the kernel's
// security.capability before the first write) and LISTXATTR are answered
// without asking the store, and the first SETXATTR ends that.
import t from 'tap'
import { errno as E } from '../../src/errors.ts'
import type { Harness } from './harness.ts'
import { withHarness } from './harness.ts'
import { ROOT, parse, req } from './kernel.ts'

const utf8 = new TextEncoder()

/** Counts the store's xattr reads. */
function countReads (h: Harness): { n: number } {
  const count = { n: 0 }
  const store = h.fs.store
  const get = store.getxattr.bind(store)
  const list = store.listxattr.bind(store)
  store.getxattr = async (...a) => { count.n++; return await get(...a) }
  store.listxattr = async (...a) => { count.n++; return await list(...a) }
  return count
}

t.test('a file created here: ENODATA and an empty list without the store, until a SETXATTR', async t => {
  await withHarness(t, async h => {
    const reads = countReads(h)
    const { nodeid } = parse.create(await h.ok(req.create(ROOT, 'f'), 'create')).entry
    t.equal(await h.errno(req.getxattr(nodeid, 'security.capability', 0)), E.ENODATA, 'no capability')
    const sized = await h.ok(req.listxattr(nodeid, 0), 'listxattr')
    t.equal(new DataView(sized.buffer, sized.byteOffset, sized.byteLength).getUint32(0, true), 0, 'no names')
    t.equal(reads.n, 0, 'the store was not asked')

    await h.ok(req.setxattr(nodeid, 'user.k', utf8.encode('v')), 'setxattr')
    t.same(await h.ok(req.getxattr(nodeid, 'user.k', 100), 'getxattr'), utf8.encode('v'), 'what was set is read back')
    t.equal(await h.errno(req.getxattr(nodeid, 'security.capability', 0)), E.ENODATA, 'and a name never set is still absent')
    t.ok(reads.n >= 2, 'from the store')
  })
})

t.test('a file this daemon did not create, or a store others change too, is asked', async t => {
  await withHarness(t, async h => {
    const reads = countReads(h)
    const { nodeid } = parse.create(await h.ok(req.create(ROOT, 'f'), 'create')).entry
    await h.ok(req.setxattr(nodeid, 'user.k', utf8.encode('v')), 'setxattr')
    // Forgotten, then found again by name: a new inode, nothing known of it.
    await h.roundTrip(req.forget(nodeid, 1))
    const again = parse.entry(await h.ok(req.lookup(ROOT, 'f'), 'lookup'))
    t.same(await h.ok(req.getxattr(again.nodeid, 'user.k', 100), 'getxattr'), utf8.encode('v'))
    t.equal(reads.n, 1, 'asked')
  })
  await withHarness(t, async h => {
    Object.defineProperty(h.fs.store, 'capabilities', { value: { ...h.fs.store.capabilities, exclusive: false } })
    const reads = countReads(h)
    const { nodeid } = parse.create(await h.ok(req.create(ROOT, 'g'), 'create')).entry
    t.equal(await h.errno(req.getxattr(nodeid, 'security.capability', 0)), E.ENODATA)
    t.equal(reads.n, 1, 'another client may have set one: asked')
  })
})
