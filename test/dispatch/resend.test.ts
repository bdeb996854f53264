// Requests the kernel resends after FUSE_NOTIFY_RESEND (unique | bit 63).
// Each case runs a request once, as the serving process that died did (its
// reply never reached the kernel), then sends it again with the resend bit,
// and checks the caller gets the answer the first run would have given, to
// the unique with bit 63 set.
import t, { type Test } from 'tap'
import { errno as E } from '../../src/errors.ts'
import { type Harness, withHarness } from './harness.ts'
import {
  FATTR_SIZE, FUSE_UNIQUE_RESEND, ROOT, parse, req, resent, type Reply, type Request,
} from './kernel.ts'

const S_IFMT = 0o170000
const S_IFREG = 0o100000
const S_IFDIR = 0o040000
const S_IFLNK = 0o120000
const S_IFIFO = 0o010000
const RENAME_EXCHANGE = 1 << 1

/** Send `r` resent and check the reply goes to its unique with bit 63 set. */
async function resend (t: Test, h: Harness, r: Request): Promise<Reply> {
  const again = resent(r)
  const reply = await h.roundTrip(again)
  if (reply === null) throw new Error('no reply to the resent request')
  t.equal(reply.rawUnique, FUSE_UNIQUE_RESEND | BigInt(r.unique), `the reply echoes ${r.unique} | FUSE_UNIQUE_RESEND`)
  return reply
}

/** The dead process's run: done, its reply lost. Returns that reply to compare with. */
async function firstRun (t: Test, h: Harness, r: Request): Promise<Reply> {
  const reply = await h.roundTrip(r)
  if (reply === null) throw new Error('no reply to the first run')
  t.equal(reply.errno, 0, 'the first run succeeded')
  return reply
}

async function ok (t: Test, h: Harness, r: Request): Promise<Uint8Array> {
  const reply = await resend(t, h, r)
  t.equal(reply.errno, 0, 'the resent request succeeds')
  return reply.body
}

const typeOf = (mode: number): number => mode & S_IFMT

t.test('MKDIR, MKNOD, SYMLINK done before: the entry', async t => {
  await withHarness(t, async h => {
    const cases: Array<[string, Request, number]> = [
      ['mkdir', req.mkdir(ROOT, 'd'), S_IFDIR],
      ['mknod', req.mknod(ROOT, 'p', S_IFIFO | 0o644), S_IFIFO],
      ['mknod of type 0 (a regular file)', req.mknod(ROOT, 'r', 0o644), S_IFREG],
      ['symlink', req.symlink(ROOT, 'l', '/some/target'), S_IFLNK],
    ]
    for (const [what, r, type] of cases) {
      const first = parse.entry((await firstRun(t, h, r)).body)
      const entry = parse.entry(await ok(t, h, r))
      t.equal(entry.nodeid, first.nodeid, `${what}: the object the first run made`)
      t.equal(entry.attr.ino, first.attr.ino, `${what}: same ino`)
      t.equal(typeOf(entry.attr.mode), type, `${what}: its type`)
    }
  })
})

t.test('CREATE done before: the entry and a usable open handle', async t => {
  await withHarness(t, async h => {
    const r = req.create(ROOT, 'f')
    const first = parse.create((await firstRun(t, h, r)).body)
    const again = parse.create(await ok(t, h, r))
    t.equal(again.entry.nodeid, first.entry.nodeid, 'the file the first run made')
    t.equal(typeOf(again.entry.attr.mode), S_IFREG)
    t.not(again.fh, first.fh, 'a handle of its own (the first one never reached the kernel)')
    const nodeid = again.entry.nodeid
    t.equal(parse.write(await h.ok(req.write(nodeid, again.fh, 0, new TextEncoder().encode('hello')), 'write')), 5)
    t.same(Buffer.from(await h.ok(req.read(nodeid, again.fh, 0, 100), 'read')).toString(), 'hello', 'the handle reads and writes')
    await h.ok(req.release(nodeid, again.fh), 'release')
    await h.ok(req.release(nodeid, first.fh), 'release the first')
  })
})

t.test('UNLINK, RMDIR done before: success', async t => {
  await withHarness(t, async h => {
    await h.ok(req.create(ROOT, 'f'), 'create')
    await h.ok(req.mkdir(ROOT, 'd'), 'mkdir')
    for (const r of [req.unlink(ROOT, 'f'), req.rmdir(ROOT, 'd')]) {
      await firstRun(t, h, r)
      t.equal((await ok(t, h, r)).byteLength, 0, 'an empty reply')
    }
    t.equal(parse.entry(await h.ok(req.lookup(ROOT, 'f'))).nodeid, 0, 'f is gone')
    t.equal(parse.entry(await h.ok(req.lookup(ROOT, 'd'))).nodeid, 0, 'd is gone')
  })
})

t.test('RENAME, RENAME2 done before: success', async t => {
  await withHarness(t, async h => {
    const d = parse.entry(await h.ok(req.mkdir(ROOT, 'd'), 'mkdir'))
    await h.ok(req.create(ROOT, 'a'), 'create a')
    await h.ok(req.create(ROOT, 'b'), 'create b')
    for (const r of [req.rename(ROOT, 'a', d.nodeid, 'a2'), req.rename2(ROOT, 'b', ROOT, 'b2')]) {
      await firstRun(t, h, r)
      t.equal((await ok(t, h, r)).byteLength, 0, 'an empty reply')
    }
    t.not(parse.entry(await h.ok(req.lookup(d.nodeid, 'a2'))).nodeid, 0, 'a2 is there')
    t.not(parse.entry(await h.ok(req.lookup(ROOT, 'b2'))).nodeid, 0, 'b2 is there')
  })
})

t.test('LINK done before: the entry of the same object', async t => {
  await withHarness(t, async h => {
    const f = parse.create(await h.ok(req.create(ROOT, 'f'), 'create'))
    const r = req.link(f.entry.nodeid, ROOT, 'g')
    const first = parse.entry((await firstRun(t, h, r)).body)
    const entry = parse.entry(await ok(t, h, r))
    t.equal(entry.nodeid, f.entry.nodeid, 'the linked object')
    t.equal(entry.nodeid, first.nodeid)
    t.equal(entry.attr.nlink, 2, 'linked once, not twice')
    await h.ok(req.release(f.entry.nodeid, f.fh), 'release')
  })
})

t.test('a resent request never run before runs normally', async t => {
  await withHarness(t, async h => {
    const entry = parse.entry(await ok(t, h, req.mkdir(ROOT, 'fresh')))
    t.equal(typeOf(entry.attr.mode), S_IFDIR)
    t.equal(parse.entry(await h.ok(req.lookup(ROOT, 'fresh'))).nodeid, entry.nodeid, 'it exists now')
    const c = parse.create(await ok(t, h, req.create(ROOT, 'f')))
    // Idempotent requests just run again.
    const w = req.write(c.entry.nodeid, c.fh, 0, new Uint8Array(10).fill(7))
    await firstRun(t, h, w)
    t.equal(parse.write(await ok(t, h, w)), 10, 'a WRITE at an offset runs again')
    const s = req.setattr(c.entry.nodeid, FATTR_SIZE, { size: 4 })
    await firstRun(t, h, s)
    t.equal(parse.attr(await ok(t, h, s)).size, 4, 'a SETATTR runs again')
    t.equal(parse.attr(await ok(t, h, req.getattr(c.entry.nodeid))).size, 4, 'a GETATTR answers as usual')
    await h.ok(req.release(c.entry.nodeid, c.fh), 'release')
  })
})

t.test('a resent request that fails for real still fails', async t => {
  await withHarness(t, async h => {
    const f = parse.create(await h.ok(req.create(ROOT, 'file'), 'create'))
    await h.ok(req.release(f.entry.nodeid, f.fh), 'release')
    await h.ok(req.symlink(ROOT, 'l', '/one'), 'symlink')
    await h.ok(req.create(ROOT, 'other'), 'create other')
    const cases: Array<[string, Request, number]> = [
      ['mkdir over a regular file', req.mkdir(ROOT, 'file'), E.EEXIST],
      ['mknod of a fifo over a regular file', req.mknod(ROOT, 'file', S_IFIFO | 0o644), E.EEXIST],
      ['create over a symlink', req.create(ROOT, 'l'), E.EEXIST],
      ['symlink with another target', req.symlink(ROOT, 'l', '/two'), E.EEXIST],
      ['link over another object', req.link(f.entry.nodeid, ROOT, 'other'), E.EEXIST],
      ['rename of a missing name to a missing name', req.rename(ROOT, 'nope', ROOT, 'nope2'), E.ENOENT],
      ['rename2 with RENAME_EXCHANGE of a missing name', req.rename2(ROOT, 'nope', ROOT, 'file', RENAME_EXCHANGE), E.ENOENT],
    ]
    for (const [what, r, errno] of cases) {
      const reply = await resend(t, h, r)
      t.equal(reply.errno, errno, what)
    }
    t.equal(typeOf(parse.entry(await h.ok(req.lookup(ROOT, 'file'))).attr.mode), S_IFREG, 'file is still a regular file')
  })
})

t.test('INTERRUPT naming a resent request finds it', async t => {
  await withHarness(t, async h => {
    await h.ok(req.mkdir(ROOT, 'd'), 'mkdir')
    const lookup = h.submit(resent(req.lookup(ROOT, 'd')))
    // Same turn of the event loop: known and in flight, so the INTERRUPT gets no reply (EAGAIN if unmatched).
    t.equal(await h.roundTrip(req.interrupt(lookup.req.unique)), null, 'matched: no reply to the INTERRUPT')
    const r = await h.answer(lookup)
    t.equal(r?.errno, 0)
    t.equal(r?.rawUnique, FUSE_UNIQUE_RESEND | BigInt(-lookup.req.unique), 'the lookup answers to its unique with bit 63')
    // Once answered it is unknown: EAGAIN, to an INTERRUPT that is itself resent.
    const i = resent(req.interrupt(lookup.req.unique))
    const ir = await h.roundTrip(i)
    t.equal(ir?.errno, E.EAGAIN, 'an answered target is unknown')
    t.equal(ir?.rawUnique, FUSE_UNIQUE_RESEND | BigInt(-i.unique), 'the EAGAIN goes to the resent INTERRUPT, bit 63 included')
  })
})
