// Memory-mapped files, as data loaders use them (numpy.memmap, safetensors,
// Arrow), on any store: a map reads what was written and fetches only the
// blocks it touches; writes through a shared map reach the file, with and
// without the kernel's writeback cache, and so do a map's left dirty (no
// msync, no close) through the kernel's periodic writeback; a private map's
// do not; what msync acknowledged survives kill -9. Local disk, mapped by
// the same steps, gives the expected answers. mmap.test.ts and
// s3-mmap.test.ts run them.
import { join } from 'node:path'
import type { Test } from 'tap'
import { forceUnmount } from '../../src/channel/unmount.ts'
import { MiB } from '../../src/config.ts'
import { background, crashDaemon, crashServer, dropCaches, eventually, q, repoRoot, shOk, within, type Mount } from './harness.ts'

const clientPath = join(repoRoot, 'test/mount/mmap-client.py')
const client = q(clientPath)
const py = async (...args: Array<string | number>): Promise<string> =>
  (await shOk(`python3 ${client} ${args.map(a => q(String(a))).join(' ')}`, { timeoutMs: 120_000 })).trim()
/** mmap-client.py's poke-hold: the map stays dirty and open until end(). */
function holdDirtyMap (t: Test, path: string, offsets: string, text: string): { mapped: Promise<void>, end: () => Promise<string> } {
  const holder = background(t, 'python3', [clientPath, 'poke-hold', path, offsets, text], { stdin: true })
  return {
    mapped: holder.printed('mapped\n', 120_000),
    end: async () => {
      holder.child.stdin?.end('\n')
      if (await within(holder.done, 120_000) === 'timeout') throw new Error(`poke-hold: unmapping took over 120 s: ${holder.output()}`)
      return holder.output().replace(/^mapped\n/, '').trim()
    }
  }
}

const sha = async (path: string): Promise<string> => (await shOk(`sha256sum < ${q(path)}`, { timeoutMs: 60_000 })).slice(0, 64)

export interface MmapStore {
  mount: (t: Test, options: string[]) => Promise<Mount>
  /** The store's block size: a read-only map's few bytes may fetch two blocks, never the file. */
  blockSize: number
}

export function mmapCases (t: Test, store: MmapStore): void {
  t.test('a read-only map reads what was written, and only the blocks it touches', async t => {
    const m = await store.mount(t, [])
    const ref = join(m.scratch, 'weights')
    const file = join(m.mountpoint, 'weights')
    const size = 6 * store.blockSize + 333
    await shOk(`head -c ${size} /dev/urandom > ${q(ref)} && cp ${q(ref)} ${q(file)}`, { timeoutMs: 120_000 })
    // Remounted, the daemon holds nothing of the file: every byte comes from the store.
    await m.remount()
    await dropCaches()
    const before = (await m.stats()).store.bytesRead as number
    const at = 4 * store.blockSize + 5
    t.equal(await py('read-at', file, at, 64), await py('read-at', ref, at, 64), `64 bytes from the middle of a ${size}-byte file`)
    const read = (await m.stats()).store.bytesRead - before
    // The kernel faults in its read-around window (at most max_readahead) and the daemon reads whole blocks.
    const bound = Math.max(4 * MiB, 2 * store.blockSize)
    t.ok(read > 0 && read <= bound, `the store read ${read} bytes for them (at most ${bound})`)
    t.equal(await py('read-all', file), await sha(ref), 'the whole file through the map')
  })

  for (const options of [[], ['writeback_cache']]) {
    const name = options.length === 0 ? 'default options' : options.join(',')
    t.test(`writes through a shared map reach the file (${name})`, async t => {
      const m = await store.mount(t, options)
      const ref = join(m.scratch, 'f')
      const file = join(m.mountpoint, 'f')
      const size = 3 * store.blockSize + 12345
      await shOk(`head -c ${size} /dev/urandom > ${q(ref)} && cp ${q(ref)} ${q(file)}`, { timeoutMs: 120_000 })
      // Across block boundaries, at both ends, msync'ed.
      const offsets = [0, store.blockSize - 3, 2 * store.blockSize + 7, size - 5].join(',')
      for (const f of [ref, file]) await py('poke', f, offsets, 'HELLO', 'sync')
      t.equal(await sha(file), await sha(ref), 'msync\'ed: read(2) sees the map\'s writes')
      // Unmapped and closed without msync: close's FLUSH writes the dirty pages.
      for (const f of [ref, file]) await py('poke', f, 100, 'WORLD', 'nosync')
      t.equal(await sha(file), await sha(ref), 'unmapped and closed without msync: read(2) sees them too')
      const written = await sha(ref)
      t.equal(await py('poke-private', file, 0, 'XXXXX'), 'XXXXX', 'a private map sees its own write')
      t.equal(await sha(file), written, 'but the file does not')
      await dropCaches()
      t.equal(await sha(file), written, 'from the daemon, past the page cache')
      await m.remount()
      t.equal(await sha(file), written, 'and after a remount, from the store')
    })
  }

  // A process that keeps a map written and open (a trainer's state file)
  // relies on the kernel's flusher, which writes pages dirty for
  // vm.dirty_expire_centisecs (30 s by default; left as it is, being global).
  // Both option sets wait at once.
  t.test('a shared map left dirty (no msync, no close) reaches the daemon by the kernel\'s periodic writeback', async t => {
    await Promise.all([[], ['writeback_cache']].map(async options => {
      const name = options.length === 0 ? 'default options' : options.join(',')
      const m = await store.mount(t, options)
      const ref = join(m.scratch, 'f')
      const file = join(m.mountpoint, 'f')
      const size = 3 * store.blockSize + 12345
      await shOk(`head -c ${size} /dev/urandom > ${q(ref)} && cp ${q(ref)} ${q(file)}`, { timeoutMs: 120_000 })
      const offsets = [1, store.blockSize - 2, size - 6].join(',')
      await py('poke', ref, offsets, 'DIRTY', 'sync')
      const before = (await m.stats()).ops
      const calls = (ops: Record<string, { calls: number } | undefined>, op: string): number => ops[op]?.calls ?? 0
      const holder = holdDirtyMap(t, file, offsets, 'DIRTY')
      await holder.mapped
      const flushed = await eventually(async () => calls((await m.stats()).ops, 'write') > calls(before, 'write'), 90_000, 500)
      const after = (await m.stats()).ops
      t.ok(flushed, `${name}: the daemon got WRITEs of the map's dirty pages within 90 s`)
      t.equal(calls(after, 'fsync'), calls(before, 'fsync'), `${name}: with no fsync (msync) meanwhile`)
      t.equal(calls(after, 'flush'), calls(before, 'flush'), `${name}: and no flush (close)`)
      // Answered writes are in the write journal: the next serving process replays them.
      await crashServer(m.mountpoint)
      t.equal(await holder.end(), 'ok', `${name}: the holder unmaps and closes after kill -9 of the serving process`)
      await m.remount()
      t.equal(await sha(file), await sha(ref), `${name}: a remount reads the map's writes from the store`)
    }))
  })

  t.test('numpy.memmap\'s new file, flushed, survives kill -9', async t => {
    const m = await store.mount(t, [])
    const file = join(m.mountpoint, 'array.npy')
    const size = 5 * MiB + 77
    const written = await py('memmap-new', file, size, 'objfs')
    t.equal(written, (await shOk(`python3 ${client} pattern ${size} objfs | sha256sum`)).slice(0, 64), 'the client mapped the pattern')
    await crashDaemon(t, m.mountpoint)
    t.ok(['aborted', 'lazy', 'unmounted'].includes(await forceUnmount(m.mountpoint, { timeoutMs: 10_000 })), 'the dead mount comes down')
    await m.remount()
    t.equal(await shOk(`stat -c %s ${q(file)}`), `${size}\n`, 'its size')
    t.equal(await sha(file), written, 'and every byte msync acknowledged')
  })
}
