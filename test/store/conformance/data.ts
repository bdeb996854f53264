// Conformance: setattr, truncation, block reads and writes, holes, seek, sync.
import type { Test } from 'tap'
import { errno as E } from '../../../src/errors.ts'
import {
  LONG_AGO, S_IFREG, file, mkdir, pattern, readRange, rejectsErrno, secs, skip, storeTest, type StoreFactory,
} from './helpers.ts'

export function dataTests (t: Test, make: StoreFactory): void {
  storeTest(t, make, 'setattr', async (s, _fx, t) => {
    const root = await s.root()
    const f = await file(s, root.id, 'f', 0o644)
    t.same(await s.setattr(f.id, {}), await s.getattr(f.id), 'no changes, no change')
    const m = await s.setattr(f.id, { mode: 0o4700 })
    t.equal(m.mode, S_IFREG | 0o4700, 'mode changes the permission bits and keeps the type')
    const typed = await s.setattr(f.id, { mode: 0o170600 })
    t.equal(typed.mode, S_IFREG | 0o600, 'type bits given in a mode change are ignored')
    const o = await s.setattr(f.id, { uid: 7, gid: 8 })
    t.match(o, { uid: 7, gid: 8 }, 'owner and group')
    const times = await s.setattr(f.id, { atime: { sec: 100, nsec: 5 }, mtime: { sec: 200, nsec: 6 } })
    t.same([times.atime, times.mtime], [{ sec: 100, nsec: 5 }, { sec: 200, nsec: 6 }], 'explicit atime and mtime, nanoseconds kept')
    t.ok(secs(times.ctime) > 200, 'any change sets ctime to now')
    const c = await s.setattr(f.id, { ctime: { sec: 300, nsec: 7 } })
    t.same(c.ctime, { sec: 300, nsec: 7 }, 'an explicit ctime wins')
    t.same(await s.getattr(f.id), c, 'getattr returns what setattr returned')
    const d = await mkdir(s, root.id, 'd')
    await rejectsErrno(t, s.setattr(d.id, { size: 0 }), E.EISDIR, 'truncating a directory')
  })

  storeTest(t, make, 'truncate down and up reads zeros', async (s, _fx, t) => {
    const bs = s.blockSize
    const root = await s.root()
    const f = await file(s, root.id, 'f')
    const blocks = [0, 1, 2].map(index => ({ index, data: pattern(bs, index * 17) }))
    await s.writeBlocks(f.id, blocks, 3 * bs, LONG_AGO)
    const model = new Uint8Array(3 * bs)
    blocks.forEach(b => model.set(b.data, b.index * bs))
    const half = Math.floor(1.5 * bs)
    const down = await s.setattr(f.id, { size: half })
    t.equal(down.size, half, 'truncated size')
    t.ok(down.mtime.sec > LONG_AGO.sec, 'truncate moves mtime')
    t.same(await readRange(s, f.id, 0, half), model.subarray(0, half), 'the kept bytes are intact')
    t.equal(await s.readBlock(f.id, 2, 0, bs), null, 'the block past the end is gone')
    const up = await s.setattr(f.id, { size: 3 * bs })
    t.equal(up.size, 3 * bs, 'extended size')
    const expect = new Uint8Array(3 * bs)
    expect.set(model.subarray(0, half))
    t.same(await readRange(s, f.id, 0, 3 * bs), expect, 'the extension reads as zeros, old bytes never come back')
    await s.setattr(f.id, { size: 0 })
    t.same(await readRange(s, f.id, 0, 3 * bs), new Uint8Array(3 * bs), 'truncate to 0 drops everything')
  })

  storeTest(t, make, 'block writes and reads', async (s, _fx, t) => {
    const bs = s.blockSize
    const root = await s.root()
    const f = await file(s, root.id, 'f')
    const full = pattern(bs, 1)
    const attr = await s.writeBlocks(f.id, [{ index: 0, data: full }, { index: 1, data: pattern(10, 2) }], bs + 10, { sec: 4242, nsec: 7 })
    t.equal(attr.size, bs + 10, 'size raised to minSize')
    t.same(attr.mtime, { sec: 4242, nsec: 7 }, 'mtime as given')
    const part = await s.readBlock(f.id, 0, 100, 50)
    t.same(part, full.subarray(100, 150), 'a partial range of a block')
    t.ok(part !== null && part.byteOffset === 0 && part.buffer.byteLength === part.byteLength, 'returned bytes own their ArrayBuffer')
    t.same(await s.readBlock(f.id, 1, 0, bs), pattern(10, 2), 'a short last block reads short')
    t.same(await s.readBlock(f.id, 1, 5, 100), pattern(10, 2).subarray(5), 'a range past the end of a short block reads short')
    const shorter = await s.writeBlocks(f.id, [{ index: 0, data: pattern(10, 9) }], 5, LONG_AGO)
    t.equal(shorter.size, bs + 10, 'size never shrinks through writeBlocks')
    t.same(await s.readBlock(f.id, 0, 0, bs), pattern(10, 9), 'a rewrite leaves no stale tail')
    await s.writeBlocks(f.id, [], 3 * bs, LONG_AGO)
    t.equal((await s.getattr(f.id)).size, 3 * bs, 'no blocks, only a size')
    t.equal(await s.readBlock(f.id, 2, 0, bs), null, 'a block never written is a hole')
  })

  storeTest(t, make, 'readBlockInto reads what readBlock does, into a shared buffer', async (s, _fx, t) => {
    if (s.readBlockInto === undefined) return skip(t, 'the store has no readBlockInto')
    const bs = s.blockSize
    const root = await s.root()
    const f = await file(s, root.id, 'f')
    // A whole block (a file of the embedded store), a small one (in its row), and a hole.
    await s.writeBlocks(f.id, [{ index: 0, data: pattern(bs, 3) }, { index: 1, data: pattern(10, 4) }], 3 * bs, LONG_AGO)
    const into = new Uint8Array(new SharedArrayBuffer(bs + 16)).fill(0xee)
    for (const [index, offset, length] of [[0, 0, bs], [0, 100, 50], [1, 0, bs], [1, 5, 100]]) {
      const n = await s.readBlockInto(f.id, index, offset, length, into)
      const want = await s.readBlock(f.id, index, offset, length)
      t.same(n === null ? null : into.slice(0, n), want, `block ${index}, ${length} bytes at ${offset}`)
    }
    t.equal(await s.readBlockInto(f.id, 2, 0, bs, into), null, 'a hole is null')
    await rejectsErrno(t, s.readBlockInto(f.id, 0, 0, bs, new Uint8Array(10)), E.EINVAL, 'a buffer too small')
  })

  storeTest(t, make, 'holes, dropBlocks and seekBlock', async (s, _fx, t) => {
    if (!s.capabilities.blockWrites) return skip(t, 'the store writes whole objects only')
    const bs = s.blockSize
    const root = await s.root()
    const f = await file(s, root.id, 'f')
    for (const index of [0, 1, 2, 4, 5]) await s.writeBlocks(f.id, [{ index, data: pattern(bs, index) }], (index + 1) * bs, LONG_AGO)
    t.equal(await s.readBlock(f.id, 3, 0, bs), null, 'block 3 is a hole')
    t.equal(await s.seekBlock(f.id, 0, 10, true), 0, 'data at 0')
    t.equal(await s.seekBlock(f.id, 3, 10, true), 4, 'next data after the hole')
    t.equal(await s.seekBlock(f.id, 6, 10, true), null, 'no data past the last block')
    t.equal(await s.seekBlock(f.id, 3, 4, true), null, 'no data below the limit')
    t.equal(await s.seekBlock(f.id, 0, 10, false), 3, 'the first hole')
    t.equal(await s.seekBlock(f.id, 3, 10, false), 3, 'a hole at from')
    t.equal(await s.seekBlock(f.id, 4, 10, false), 6, 'the hole after the last block')
    t.equal(await s.seekBlock(f.id, 4, 6, false), null, 'no hole below the limit')
    await s.dropBlocks(f.id, 1, 1)
    t.equal(await s.readBlock(f.id, 1, 0, bs), null, 'a dropped block is a hole')
    t.equal((await s.getattr(f.id)).size, 6 * bs, 'dropBlocks keeps the size')
    t.equal(await s.seekBlock(f.id, 0, 10, false), 1, 'the punched hole is found')
    t.same(await s.readBlock(f.id, 2, 0, bs), pattern(bs, 2), 'neighbours untouched')
    await s.dropBlocks(f.id, 0, 100)
    t.equal(await s.seekBlock(f.id, 0, 10, true), null, 'no data left')
  })

  storeTest(t, make, 'sync and counters', async (s, _fx, t) => {
    const root = await s.root()
    const f = await file(s, root.id, 'f')
    const before = s.counters()
    await s.writeBlocks(f.id, [{ index: 0, data: pattern(1000, 1) }], 1000, LONG_AGO)
    await s.sync(f.id)
    const got = await s.readBlock(f.id, 0, 0, 1000)
    t.same(got, pattern(1000, 1), 'data intact after sync')
    const after = s.counters()
    t.equal(after.writeCalls - before.writeCalls, 1, 'one write call counted')
    t.equal(after.bytesWritten - before.bytesWritten, 1000, 'bytes written counted')
    t.equal(after.readCalls - before.readCalls, 1, 'one read call counted')
    t.equal(after.bytesRead - before.bytesRead, 1000, 'bytes read counted')
    t.ok(after.metaCalls > before.metaCalls, 'metadata calls counted')
  })
}
