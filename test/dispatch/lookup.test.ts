// Lookups and the kernel's reference counts: negative entries, FORGET
// dropping a nodeid, READDIRPLUS counting one lookup per entry it sends.
import t, { type Test } from 'tap'
import { errno as E } from '../../src/errors.ts'
import { usingHarness, type Harness, type HarnessOptions } from './harness.ts'
import { ROOT, parse, req } from './kernel.ts'

const DT_DIR = 4
const DT_REG = 8

async function withHarness (t: Test, opts: HarnessOptions, body: (h: Harness) => Promise<void>): Promise<void> {
  const h = await usingHarness(body, opts)
  t.same(h.problems, [], 'no protocol rule broken')
}

t.test('a missing name: a negative entry when negative_timeout > 0', async t => {
  await withHarness(t, { config: { negativeTimeout: 7 } }, async h => {
    const r = await h.roundTrip(req.lookup(ROOT, 'missing'))
    t.equal(r?.errno, 0, 'answered as success')
    const e = parse.entry(r?.body ?? new Uint8Array(0))
    t.equal(e.nodeid, 0, 'nodeid 0: absent')
    t.equal(e.entryValid, 7, 'cached for negative_timeout seconds')
    t.equal(h.fs.table.size, 1, 'no nodeid issued')
  })
})

t.test('a missing name: ENOENT when negative_timeout is 0', async t => {
  await withHarness(t, { config: { negativeTimeout: 0 } }, async h => {
    t.equal(await h.errno(req.lookup(ROOT, 'missing')), E.ENOENT)
  })
})

t.test('lookups add up; FORGET of all of them drops the nodeid', async t => {
  await withHarness(t, {}, async h => {
    const made = parse.entry(await h.ok(req.mkdir(ROOT, 'd'), 'mkdir'))
    t.equal(await h.roundTrip(req.forget(made.nodeid, 1)), null, 'the mkdir reference forgotten')
    t.equal(await h.errno(req.getattr(made.nodeid)), E.ESTALE, 'after its only reference: ESTALE')

    const a = parse.entry(await h.ok(req.lookup(ROOT, 'd'), 'lookup'))
    const b = parse.entry(await h.ok(req.lookup(ROOT, 'd'), 'lookup'))
    t.equal(a.nodeid, b.nodeid, 'the same nodeid twice')
    t.equal(a.nodeid, made.nodeid, 'the nodeid is the object\'s ino: the same object gets it back, no other object ever does')
    t.equal(a.attr.ino, made.attr.ino, 'the same st_ino')
    t.equal(h.fs.table.get(a.nodeid).lookups, 2, 'two lookups counted')
    await h.roundTrip(req.forget(a.nodeid, 1))
    t.equal(await h.errno(req.getattr(a.nodeid)), 0, 'one reference left: still valid')
    await h.roundTrip(req.forget(a.nodeid, 1))
    t.equal(await h.errno(req.getattr(a.nodeid)), E.ESTALE, 'forgotten: ESTALE')
    t.equal(await h.errno(req.lookup(a.nodeid, 'x')), E.ESTALE, 'as a parent too')
    t.equal(h.fs.table.size, 1, 'only the root left')
  })
})

t.test('BATCH_FORGET drops several nodeids and ignores unknown ones', async t => {
  await withHarness(t, {}, async h => {
    const ids = []
    for (const name of ['a', 'b', 'c']) ids.push(parse.entry(await h.ok(req.mkdir(ROOT, name), 'mkdir')).nodeid)
    await h.ok(req.lookup(ROOT, 'c'), 'lookup c again')
    t.equal(await h.roundTrip(req.batchForget([...ids.map(nodeid => ({ nodeid, nlookup: 1 })), { nodeid: 987_654, nlookup: 3 }, { nodeid: ROOT, nlookup: 9 }])), null)
    t.equal(await h.errno(req.getattr(ids[0])), E.ESTALE)
    t.equal(await h.errno(req.getattr(ids[1])), E.ESTALE)
    t.equal(await h.errno(req.getattr(ids[2])), 0, 'c had two references')
    t.equal(await h.errno(req.getattr(ROOT)), 0, 'the root is never forgotten')
  })
})

t.test('an open file outlives its FORGET; an unlinked one is reclaimed on release', async t => {
  await withHarness(t, {}, async h => {
    const { entry, fh } = parse.create(await h.ok(req.create(ROOT, 'f'), 'create'))
    const id = h.fs.table.get(entry.nodeid).id
    await h.ok(req.write(entry.nodeid, fh, 0, new Uint8Array([1, 2, 3])), 'write')
    await h.ok(req.unlink(ROOT, 'f'), 'unlink')
    await h.roundTrip(req.forget(entry.nodeid, 1))
    t.equal(await h.errno(req.getattr(entry.nodeid)), 0, 'still open: still valid')
    t.same(await h.ok(req.read(entry.nodeid, fh, 0, 10), 'read'), new Uint8Array([1, 2, 3]), 'and readable')
    await h.ok(req.release(entry.nodeid, fh), 'release')
    t.equal(await h.errno(req.getattr(entry.nodeid)), E.ESTALE, 'released: dropped')
    await h.reclaimed(id)
    const gone = await h.store.getattr(id).then(() => 'exists', (err: { errno?: number }) => err.errno)
    t.equal(gone, E.ENOENT, 'the object was reclaimed in the store')
  })
})

t.test('READDIRPLUS: entries count lookups, "." and ".." carry nodeid 0', async t => {
  await withHarness(t, {}, async h => {
    const dir = parse.entry(await h.ok(req.mkdir(ROOT, 'dir'), 'mkdir'))
    const names = ['one', 'two', 'three']
    for (const n of names) {
      const c = parse.create(await h.ok(req.create(dir.nodeid, n), 'create'))
      await h.ok(req.release(c.entry.nodeid, c.fh), 'release')
      await h.roundTrip(req.forget(c.entry.nodeid, 1))
    }
    t.equal(h.fs.table.size, 2, 'root and dir only')
    const { fh } = parse.open(await h.ok(req.opendir(dir.nodeid), 'opendir'))
    const list = parse.direntplus(await h.ok(req.readdirplus(dir.nodeid, fh, 0, 64 * 1024), 'readdirplus'))
    t.same(list.slice(0, 2).map(e => [e.name, e.entry.nodeid, e.type]), [['.', 0, DT_DIR], ['..', 0, DT_DIR]], 'dots first, nodeid 0')
    const files = list.slice(2)
    t.same(files.map(e => e.name).sort(), [...names].sort(), 'every entry')
    t.same(list.map(e => e.off), [1, 2, 3, 4, 5], 'cookies count up from 1')
    for (const e of files) {
      t.not(e.entry.nodeid, 0, `${e.name}: a nodeid`)
      t.equal(e.type, DT_REG, `${e.name}: DT_REG`)
      t.equal(e.ino, e.entry.attr.ino, `${e.name}: dirent ino is st_ino`)
      t.equal(h.fs.table.get(e.entry.nodeid).lookups, 1, `${e.name}: one lookup counted`)
    }
    // A second listing adds one more each; the kernel forgets both.
    const again = parse.direntplus(await h.ok(req.readdirplus(dir.nodeid, fh, 0, 64 * 1024), 'readdirplus'))
    t.same(again.slice(2).map(e => e.entry.nodeid), files.map(e => e.entry.nodeid), 'the same nodeids')
    await h.roundTrip(req.batchForget(files.map(e => ({ nodeid: e.entry.nodeid, nlookup: 1 }))))
    for (const e of files) t.equal(await h.errno(req.getattr(e.entry.nodeid)), 0, `${e.name}: one reference left`)
    await h.roundTrip(req.batchForget(files.map(e => ({ nodeid: e.entry.nodeid, nlookup: 1 }))))
    for (const e of files) t.equal(await h.errno(req.getattr(e.entry.nodeid)), E.ESTALE, `${e.name}: forgotten`)
    await h.ok(req.releasedir(dir.nodeid, fh), 'releasedir')
  })
})

t.test('READDIRPLUS: an entry that does not fit is not counted, and comes next time', async t => {
  await withHarness(t, {}, async h => {
    const dir = parse.entry(await h.ok(req.mkdir(ROOT, 'dir'), 'mkdir'))
    const names = Array.from({ length: 6 }, (_, i) => `file-${i}`)
    const made = []
    for (const n of names) made.push(parse.entry(await h.ok(req.mkdir(dir.nodeid, n), 'mkdir')).nodeid)
    await h.roundTrip(req.batchForget(made.map(nodeid => ({ nodeid, nlookup: 1 }))))
    t.equal(h.fs.table.size, 2, 'root and dir only')
    const { fh } = parse.open(await h.ok(req.opendir(dir.nodeid), 'opendir'))
    // Room for "." and ".." (160 bytes each) and two 6-letter entries: 4 * 160 = 640.
    const seen: string[] = []
    let offset = 0
    for (let round = 0; round < 10; round++) {
      const page = parse.direntplus(await h.ok(req.readdirplus(dir.nodeid, fh, offset, 700), 'readdirplus'))
      if (page.length === 0) break
      t.ok(page.length <= 4, `round ${round}: at most 4 records fit in 700 bytes`)
      seen.push(...page.map(e => e.name))
      offset = page[page.length - 1].off
    }
    t.same(seen, ['.', '..', ...names], 'every name once, in order, across pages')
    // Each refused entry was referenced, then the reference taken back.
    t.equal(h.fs.table.size, 2 + names.length, 'one nodeid per entry sent, none for the refused')
    let total = 0
    for (let nodeid = 2; nodeid < 100; nodeid++) {
      const inode = h.fs.table.find(nodeid)
      if (inode !== undefined && inode.nodeid !== dir.nodeid) total += inode.lookups
    }
    t.equal(total, names.length, 'one lookup per entry sent')
    await h.ok(req.releasedir(dir.nodeid, fh), 'releasedir')
  })
})

t.test('RENAME2 over an open file: the replaced object lives until released', async t => {
  await withHarness(t, {}, async h => {
    const a = parse.create(await h.ok(req.create(ROOT, 'a'), 'create a'))
    await h.ok(req.write(a.entry.nodeid, a.fh, 0, new Uint8Array([7, 7, 7])), 'write a')
    await h.ok(req.flush(a.entry.nodeid, a.fh), 'flush a')
    const b = parse.create(await h.ok(req.create(ROOT, 'b'), 'create b'))
    await h.ok(req.release(b.entry.nodeid, b.fh), 'release b')
    const aId = h.fs.table.get(a.entry.nodeid).id
    await h.ok(req.rename2(ROOT, 'b', ROOT, 'a'), 'rename b over a')
    const now = parse.entry(await h.ok(req.lookup(ROOT, 'a'), 'lookup a'))
    t.equal(now.nodeid, b.entry.nodeid, 'the name now leads to b (stable ids: same nodeid)')
    t.same(await h.ok(req.read(a.entry.nodeid, a.fh, 0, 10), 'read the replaced file'), new Uint8Array([7, 7, 7]), 'the open, replaced file still reads')
    await h.roundTrip(req.forget(a.entry.nodeid, 1))
    await h.ok(req.release(a.entry.nodeid, a.fh), 'release a')
    t.equal(await h.errno(req.getattr(a.entry.nodeid)), E.ESTALE, 'its nodeid is gone')
    await h.reclaimed(aId)
    t.equal(await h.store.getattr(aId).then(() => 'exists', (err: { errno?: number }) => err.errno), E.ENOENT, 'and the object was reclaimed')
    t.equal(await h.errno(req.rename2(ROOT, 'nope', ROOT, 'x')), E.ENOENT, 'renaming a missing name: ENOENT')
  })
})
