// Exactly one reply per request, none for FORGET and BATCH_FORGET; ENOSYS
// for what we do not implement; EIO for what we cannot decode, after which
// the daemon keeps serving.
import t from 'tap'
import { errno as E } from '../../src/errors.ts'
import { withHarness } from './harness.ts'
import {
  FUSE_BATCH_FORGET, FUSE_FORGET, IN_HEADER, ROOT, parse, req, request, truncated, type Request,
} from './kernel.ts'

t.test('a scripted session: one reply per request, none for forgets', async t => {
  await withHarness(t, async h => {
    const sent: Request[] = []
    const run = async (r: Request): Promise<Uint8Array> => {
      sent.push(r)
      const reply = await h.roundTrip(r)
      return reply?.body ?? new Uint8Array(0)
    }
    const dir = parse.entry(await run(req.mkdir(ROOT, 'dir')))
    await run(req.lookup(ROOT, 'dir'))
    await run(req.lookup(ROOT, 'absent'))
    const files: Array<{ nodeid: number, fh: number }> = []
    for (let i = 0; i < 5; i++) {
      const c = parse.create(await run(req.create(dir.nodeid, `f${i}`)))
      files.push({ nodeid: c.entry.nodeid, fh: c.fh })
    }
    // A burst in flight at once, as the kernel sends them.
    const burst = files.flatMap(f => [req.write(f.nodeid, f.fh, 0, new Uint8Array(100).fill(f.nodeid)), req.getattr(f.nodeid)])
    sent.push(...burst)
    await Promise.all(burst.map(r => h.submit(r)).map(async s => await h.answer(s)))
    for (const f of files) {
      await run(req.read(f.nodeid, f.fh, 0, 4096))
      await run(req.flush(f.nodeid, f.fh))
      await run(req.release(f.nodeid, f.fh))
    }
    const { fh: dh } = parse.open(await run(req.opendir(dir.nodeid)))
    await run(req.readdirplus(dir.nodeid, dh, 0, 4096))
    await run(req.releasedir(dir.nodeid, dh))
    await run(req.rename2(dir.nodeid, 'f0', ROOT, 'moved'))
    await run(req.rename2(dir.nodeid, 'nope', ROOT, 'other'))
    await run(req.unlink(dir.nodeid, 'f1'))
    await run(req.unlink(dir.nodeid, 'f1'))
    await run(req.getattr(999_999))
    await run(request(999, ROOT, new Uint8Array(8)))
    await run(truncated(req.getattr(ROOT), 3))
    await run(req.interrupt(123_456_789))
    await run(req.forget(files[2].nodeid, 1))
    await run(req.batchForget(files.slice(3).map(f => ({ nodeid: f.nodeid, nlookup: 2 }))))
    for (let i = 0; i < 5; i++) await run(req.lookup(dir.nodeid, `f${i}`))
    await run(req.forget(dir.nodeid, 2))

    t.ok(sent.length >= 50, `${sent.length} requests`)
    for (const r of sent) {
      const expected = r.opcode === FUSE_FORGET || r.opcode === FUSE_BATCH_FORGET ? 0 : 1
      const got = h.repliesTo(r.unique)
      if (got !== expected) t.equal(got, expected, `unique ${r.unique}, opcode ${r.opcode}: replies`)
    }
    t.equal(h.replies.length, sent.filter(r => r.opcode !== FUSE_FORGET && r.opcode !== FUSE_BATCH_FORGET).length, 'as many replies as requests that take one')
  })
})

t.test('unknown and unimplemented opcodes answer ENOSYS', async t => {
  await withHarness(t, async h => {
    // 999: no such opcode; the rest exist in the protocol but not in our table.
    for (const opcode of [999, 31 /* GETLK */, 32 /* SETLK */, 37 /* BMAP */, 39 /* IOCTL */, 40 /* POLL */, 48 /* SETUPMAPPING */, 50 /* SYNCFS */, 52 /* STATX */, 4096 /* CUSE_INIT */]) {
      t.equal(await h.errno(request(opcode, ROOT, new Uint8Array(64))), E.ENOSYS, `opcode ${opcode}`)
    }
    t.equal(await h.errno(req.getattr(ROOT)), 0, 'still serving')
  })
})

t.test('a truncated body answers EIO, and the next request is served', async t => {
  await withHarness(t, async h => {
    t.equal(await h.errno(truncated(req.getattr(ROOT), 15)), E.EIO, 'GETATTR with 15 of 16 body bytes')
    t.equal(await h.errno(req.getattr(ROOT)), 0, 'the next GETATTR is fine')
    t.equal(await h.errno(request(1 /* LOOKUP */, ROOT, new TextEncoder().encode('no-terminator'))), E.EIO, 'LOOKUP name without NUL')
    t.equal(await h.errno(req.lookup(ROOT, 'x')), 0, 'the next LOOKUP is fine')
    const write = req.write(ROOT, 1, 0, new Uint8Array(100))
    t.equal(await h.errno(truncated(write, 40 + 50)), E.EIO, 'WRITE whose data is shorter than its size field')
    t.equal(await h.roundTrip(truncated(req.forget(ROOT, 1), 4)), null, 'a truncated FORGET: still no reply')
    t.equal(await h.errno(req.getattr(ROOT)), 0, 'still serving')
  })
})

t.test('bad headers: no unique to answer, the slot is freed, serving goes on', async t => {
  await withHarness(t, async h => {
    let freed = 0
    const before = h.replies.length
    const good = req.getattr(ROOT).bytes
    const shortHeader = good.subarray(0, IN_HEADER - 1)
    const lenTooBig = Uint8Array.from(good)
    new DataView(lenTooBig.buffer).setUint32(0, good.byteLength + 100, true)
    const lenTooSmall = Uint8Array.from(good)
    new DataView(lenTooSmall.buffer).setUint32(0, 10, true)
    const extlenOverrun = Uint8Array.from(good)
    new DataView(extlenOverrun.buffer).setUint16(36, 100, true)
    for (const bytes of [new Uint8Array(0), shortHeader, lenTooBig, lenTooSmall, extlenOverrun]) {
      t.doesNotThrow(() => h.dispatcher.handle(bytes, () => { freed++ }), `${bytes.byteLength} bytes`)
    }
    t.equal(freed, 5, 'every slot freed once')
    await new Promise(resolve => setImmediate(resolve))
    t.equal(h.replies.length, before, 'nothing to reply to')
    t.equal(await h.errno(req.getattr(ROOT)), 0, 'still serving')
  })
})

t.test('trailing extension bytes are not part of the body', async t => {
  await withHarness(t, async h => {
    // total_extlen counts 8-byte units after the body (security context, supplementary groups).
    const r = req.lookup(ROOT, 'nothing-here')
    const ext = new Uint8Array(r.bytes.byteLength + 16)
    ext.set(r.bytes)
    const v = new DataView(ext.buffer)
    v.setUint32(0, ext.byteLength, true)
    v.setUint16(36, 2, true)
    ext.fill(0x41, r.bytes.byteLength) // no NUL in the extension
    const reply = await h.roundTrip({ ...r, bytes: ext })
    t.equal(reply?.errno, 0, 'the name still decodes')
    t.equal(parse.entry(reply?.body ?? new Uint8Array(0)).nodeid, 0, 'a negative entry for the right name')
  })
})
