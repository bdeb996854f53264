// File data through the dispatcher: written bytes read back before any
// flush, and a created, written, closed file shows its size to a fresh lookup.
import t from 'tap'
import { FOPEN_KEEP_CACHE } from '../../src/channel/abi.ts'
import { errno as E } from '../../src/errors.ts'
import { withHarness } from './harness.ts'
import { ROOT, parse, req } from './kernel.ts'

const BS = 4096

function pattern (n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n)
  for (let i = 0; i < n; i++) out[i] = (seed + i * 13) % 251 + 1
  return out
}

for (const variant of [{ name: 'LocalStore', opts: {} }, { name: 'PooledStore', opts: { threads: 2 } }]) {
  t.test(`${variant.name}: a write reads back before any flush`, async t => {
    await withHarness(t, async h => {
      const { entry, fh } = parse.create(await h.ok(req.create(ROOT, 'f'), 'create'))
      const data = pattern(1000, 1)
      t.equal(parse.write(await h.ok(req.write(entry.nodeid, fh, 10, data), 'write')), 1000, 'write_out.size: all accepted')
      // The request slot was scribbled over after the WRITE: the bytes were copied in time.
      const back = await h.ok(req.read(entry.nodeid, fh, 0, 2 * BS), 'read')
      const expect = new Uint8Array(1010)
      expect.set(data, 10)
      t.same(back, expect, 'zeros, then the bytes written, clipped at the size')
      t.equal(await h.store.readBlock(h.fs.table.get(entry.nodeid).id, 0, 0, BS), null, 'the store has no block yet: the read came from the buffer')
      t.equal(parse.attr(await h.ok(req.getattr(entry.nodeid), 'getattr')).size, 1010, 'getattr shows the buffered size')
      t.same(await h.ok(req.read(entry.nodeid, fh, 5, 10), 'read'), expect.subarray(5, 15), 'a range inside')
      t.same(await h.ok(req.read(entry.nodeid, fh, 1010, 10), 'read at EOF'), new Uint8Array(0), 'at EOF: empty')
      await h.ok(req.release(entry.nodeid, fh), 'release')
    }, variant.opts)
  })

  t.test(`${variant.name}: create, write, flush, release; a fresh lookup sees the size`, async t => {
    await withHarness(t, async h => {
      const { entry, fh } = parse.create(await h.ok(req.create(ROOT, 'data.bin'), 'create'))
      t.not(entry.nodeid, 0)
      t.equal(entry.attr.size, 0)
      const total = 3 * BS + 123
      const data = pattern(total, 7)
      // Writes in kernel-sized pieces that do not line up with blocks.
      for (let off = 0; off < total; off += 1500) {
        const piece = data.subarray(off, Math.min(total, off + 1500))
        t.equal(parse.write(await h.ok(req.write(entry.nodeid, fh, off, piece), `write at ${off}`)), piece.byteLength)
      }
      await h.ok(req.flush(entry.nodeid, fh), 'flush')
      await h.ok(req.release(entry.nodeid, fh), 'release')
      t.equal(await h.roundTrip(req.forget(entry.nodeid, 1)), null, 'forget: no reply')
      t.equal(await h.errno(req.getattr(entry.nodeid)), E.ESTALE, 'the nodeid is gone')

      const again = parse.entry(await h.ok(req.lookup(ROOT, 'data.bin'), 'lookup'))
      t.equal(again.nodeid, entry.nodeid, 'the object gets its nodeid back: it is its ino, never given to another object')
      t.equal(again.attr.size, total, 'lookup: stored size')
      t.equal(again.attr.ino, entry.attr.ino, 'the same st_ino')
      const attr = parse.attr(await h.ok(req.getattr(again.nodeid), 'getattr'))
      t.equal(attr.size, total, 'getattr: stored size')
      t.equal(attr.blocks, Math.ceil(total / 512), 'st_blocks in 512-byte units')
      const { fh: fh2 } = parse.open(await h.ok(req.open(again.nodeid, 0), 'open'))
      t.same(await h.ok(req.read(again.nodeid, fh2, 0, total + 100), 'read'), data, 'the bytes, from the store')
      await h.ok(req.release(again.nodeid, fh2), 'release')
    }, variant.opts)
  })
}

t.test('open and create keep the kernel\'s page cache (FOPEN_KEEP_CACHE) unless -o no_keep_cache', async t => {
  for (const [opts, want] of [[{}, FOPEN_KEEP_CACHE], [{ keepCache: false }, 0]] as const) {
    await withHarness(t, async h => {
      const created = parse.create(await h.ok(req.create(ROOT, 'f'), 'create'))
      t.equal(created.openFlags & FOPEN_KEEP_CACHE, want, `create, ${JSON.stringify(opts)}`)
      await h.ok(req.release(created.entry.nodeid, created.fh), 'release')
      const { openFlags } = parse.open(await h.ok(req.open(created.entry.nodeid, 0), 'open'))
      t.equal(openFlags & FOPEN_KEEP_CACHE, want, `open, ${JSON.stringify(opts)}`)
    }, { config: opts })
  }
})
