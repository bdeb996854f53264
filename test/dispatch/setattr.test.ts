// SETATTR through the dispatcher: sizes and times as the kernel sends them,
// including times a user can pass to utimensat(2) that do not fit a double exactly.
import t, { type Test } from 'tap'
import { errno as E } from '../../src/errors.ts'
import { Harness } from './harness.ts'
import { FATTR_MTIME, FATTR_SIZE, ROOT, parse, req } from './kernel.ts'

async function withHarness (t: Test, body: (h: Harness) => Promise<void>): Promise<void> {
  const h = await Harness.create()
  try {
    await body(h)
  } finally {
    await h.close()
  }
  t.same(h.problems, [], 'no protocol rule broken')
}

t.test('truncate and extend by SETATTR', async t => {
  await withHarness(t, async h => {
    const { entry, fh } = parse.create(await h.ok(req.create(ROOT, 'f'), 'create'))
    await h.ok(req.write(entry.nodeid, fh, 0, new Uint8Array(5000).fill(9)), 'write')
    const cut = parse.attr(await h.ok(req.setattr(entry.nodeid, FATTR_SIZE, { size: 100 }), 'truncate'))
    t.equal(cut.size, 100, 'the reply carries the new size')
    t.same(await h.ok(req.read(entry.nodeid, fh, 0, 8192), 'read'), new Uint8Array(100).fill(9), 'buffered data was stored first, then cut')
    const grown = parse.attr(await h.ok(req.setattr(entry.nodeid, FATTR_SIZE, { size: 300 }), 'extend'))
    t.equal(grown.size, 300)
    const back = await h.ok(req.read(entry.nodeid, fh, 0, 8192), 'read')
    t.same(back.subarray(100), new Uint8Array(200), 'the extension reads as zeros')
    t.equal(await h.errno(req.setattr(ROOT, FATTR_SIZE, { size: 0 })), E.EISDIR, 'a directory has no size to set')
    await h.ok(req.release(entry.nodeid, fh), 'release')
  })
})

t.test('mtime at the edge of exact doubles', async t => {
  await withHarness(t, async h => {
    const { entry, fh } = parse.create(await h.ok(req.create(ROOT, 'edge'), 'create'))
    await h.ok(req.release(entry.nodeid, fh), 'release')
    const max = 2n ** 53n - 1n
    t.equal(parse.attr(await h.ok(req.setattr(entry.nodeid, FATTR_MTIME, { mtime: max }), 'setattr')).mtime, Number(max), '2^53 - 1 is kept exactly')
    t.equal(parse.attr(await h.ok(req.getattr(entry.nodeid), 'getattr')).mtime, Number(max))
    const old = -(2n ** 31n)
    t.equal(parse.attr(await h.ok(req.setattr(entry.nodeid, FATTR_MTIME, { mtime: old }), 'setattr')).mtime, Number(old), 'before 1970 is fine')
  })
})

t.test('an mtime past 2^53 s leaves the file and its directory readable', async t => {
  await withHarness(t, async h => {
    const dir = parse.entry(await h.ok(req.mkdir(ROOT, 'shared'), 'mkdir'))
    const { entry, fh } = parse.create(await h.ok(req.create(dir.nodeid, 'mine'), 'create'))
    await h.ok(req.release(entry.nodeid, fh), 'release')
    // utimensat(2) on one's own file: the kernel passes time64_t seconds through.
    const set = await h.errno(req.setattr(entry.nodeid, FATTR_MTIME, { mtime: 2n ** 62n }))
    t.ok(set === 0 || set === E.EINVAL || set === E.EOVERFLOW, `the SETATTR is accepted or refused cleanly (${set})`)
    t.equal(await h.errno(req.getattr(entry.nodeid)), 0, 'getattr of the file still works')
    t.equal(await h.errno(req.lookup(dir.nodeid, 'mine')), 0, 'lookup of the file still works')
    const { fh: dh } = parse.open(await h.ok(req.opendir(dir.nodeid), 'opendir'))
    t.equal(await h.errno(req.readdirplus(dir.nodeid, dh, 0, 4096)), 0, 'other users can still list the directory')
    await h.ok(req.releasedir(dir.nodeid, dh), 'releasedir')
  })
})
