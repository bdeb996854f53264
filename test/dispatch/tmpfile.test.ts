// O_TMPFILE: TMPFILE makes an open file with no name (nlink 0); LINK may
// name it; never named, it is freed once the kernel lets it go, like an
// unlinked file. A store without unnamed files answers ENOSYS, which the
// kernel turns into EOPNOTSUPP for good.
import t from 'tap'
import { errno as E } from '../../src/errors.ts'
import type { ObjectId } from '../../src/store/types.ts'
import type { Harness } from './harness.ts'
import { withHarness } from './harness.ts'
import { ROOT, parse, req } from './kernel.ts'

const utf8 = new TextEncoder()

async function tmpfile (h: Harness): Promise<{ nodeid: number, fh: number, nlink: number, mode: number }> {
  const c = parse.create(await h.ok(req.tmpfile(ROOT, 0o100600), 'tmpfile'))
  return { nodeid: c.entry.nodeid, fh: c.fh, nlink: c.entry.attr.nlink, mode: c.entry.attr.mode }
}

/** The store's object behind a nodeid, read while the inode is still known. */
const idOf = (h: Harness, nodeid: number): ObjectId => h.fs.table.get(nodeid).id

t.test('a tmpfile has no name until LINK gives it one, and is kept from then on', async t => {
  await withHarness(t, async h => {
    const f = await tmpfile(h)
    t.equal(f.nlink, 0, 'no link')
    t.equal(f.mode, 0o100600, 'a regular file with the mode asked for')
    const id = idOf(h, f.nodeid)
    await h.ok(req.write(f.nodeid, f.fh, 0, utf8.encode('kept')), 'write')
    const named = parse.entry(await h.ok(req.link(f.nodeid, ROOT, 'named'), 'link'))
    t.equal(named.nodeid, f.nodeid, 'the same inode')
    t.equal(named.attr.nlink, 1, 'one link')
    await h.ok(req.release(f.nodeid, f.fh), 'release')
    await h.roundTrip(req.forget(f.nodeid, 2))
    const again = parse.entry(await h.ok(req.lookup(ROOT, 'named'), 'lookup'))
    t.equal(again.attr.size, 4, 'found by its name with its data')
    t.equal(idOf(h, again.nodeid), id, 'the same object')
  })
})

t.test('a tmpfile never named is freed once released and forgotten', async t => {
  await withHarness(t, async h => {
    const f = await tmpfile(h)
    const id = idOf(h, f.nodeid)
    await h.ok(req.write(f.nodeid, f.fh, 0, utf8.encode('scratch')), 'write')
    await h.ok(req.release(f.nodeid, f.fh), 'release')
    t.equal((await h.store.getattr(id)).nlink, 0, 'kept while the kernel still knows the inode')
    await h.roundTrip(req.forget(f.nodeid, 1))
    t.ok(await h.reclaimed(id), 'freed after the FORGET')
  })
})

t.test('a store without unnamed files: ENOSYS', async t => {
  await withHarness(t, async h => {
    Object.defineProperty(h.fs.store, 'capabilities', { value: { ...h.fs.store.capabilities, unnamedFiles: false } })
    t.equal(await h.errno(req.tmpfile(ROOT)), E.ENOSYS, 'the kernel then answers EOPNOTSUPP without asking again')
  })
})

t.test('through the worker pool too', async t => {
  await withHarness(t, async h => {
    const f = await tmpfile(h)
    t.equal(f.nlink, 0)
    t.equal(parse.entry(await h.ok(req.link(f.nodeid, ROOT, 'n'), 'link')).attr.nlink, 1)
    await h.ok(req.release(f.nodeid, f.fh), 'release')
  }, { threads: 1 })
})
