// The write-coalescing buffer over a fake in-memory block store whose
// writes can be held open, so "sealed but not yet stored" is a state the
// test controls instead of a race it hopes to hit.
import t from 'tap'
import { Coalescer, type Buffered } from '../../src/blocks/coalesce.ts'
import { FsError, errno as E } from '../../src/errors.ts'
import { Inode } from '../../src/inode/table.ts'
import { setLogLevel } from '../../src/log.ts'
import type { BlockWrite, ObjectAttr, ObjectId, Timespec } from '../../src/store/types.ts'

// Failing store writes are logged as errors; expected here.
setLogLevel('silent')

const BS = 16
const T0 = { sec: 1_700_000_000, nsec: 0 }

/** Let every queued promise reaction run (the fake answers in microtasks). */
const settle = async (): Promise<void> => await new Promise(resolve => setImmediate(resolve))

interface WriteCall { id: ObjectId, indexes: number[], minSize: number, awaited: boolean }

/** readBlock/writeBlocks over a Map, counting calls; writes wait while `hold` is set. */
class FakeBlocks {
  readonly blocks = new Map<string, Uint8Array>()
  readonly sizes = new Map<ObjectId, number>()
  readonly reads: Array<{ index: number, offset: number, length: number }> = []
  readonly writes: WriteCall[] = []
  /** Blocks the coalescer asked to have read ahead. */
  readonly ahead: number[] = []
  hold = false
  /** Release functions of held writes, oldest first. */
  readonly held: Array<() => void> = []
  /** errno the next write fails with (0: none). */
  failNext = 0
  /** Called at the top of every writeBlocks, to sample state mid-flight. */
  onWrite: () => void = () => {}

  async readBlock (id: ObjectId, index: number, offset: number, length: number): Promise<Uint8Array | null> {
    this.reads.push({ index, offset, length })
    const b = this.blocks.get(`${id}:${index}`)
    if (b === undefined) return null
    return b.slice(offset, Math.min(b.byteLength, offset + length))
  }

  readAhead (_id: ObjectId, index: number): void {
    this.ahead.push(index)
  }

  async writeBlocks (id: ObjectId, blocks: BlockWrite[], minSize: number, mtime: Timespec, opts?: { awaited?: boolean }): Promise<ObjectAttr> {
    this.onWrite()
    this.writes.push({ id, indexes: blocks.map(b => b.index), minSize, awaited: opts?.awaited === true })
    const fail = this.failNext
    this.failNext = 0
    if (this.hold) await new Promise<void>(resolve => this.held.push(resolve))
    if (fail !== 0) throw new FsError(fail)
    // Copied when the store "runs", not when called: a worker reads the
    // shared memory late, so a write into an in-flight block would show.
    for (const b of blocks) this.blocks.set(`${id}:${b.index}`, b.data.slice())
    const size = Math.max(this.sizes.get(id) ?? 0, minSize)
    this.sizes.set(id, size)
    return attrOf(id, size, mtime)
  }

  /** Let the oldest held write go. */
  release (): void {
    const r = this.held.shift()
    if (r === undefined) throw new Error('no held write to release')
    r()
  }

  /** The file's stored bytes, holes and short blocks as zeros. */
  content (id: ObjectId): Uint8Array {
    const size = this.sizes.get(id) ?? 0
    const out = new Uint8Array(size)
    for (let i = 0; i * BS < size; i++) {
      const b = this.blocks.get(`${id}:${i}`)
      if (b !== undefined) out.set(b.subarray(0, Math.min(b.byteLength, size - i * BS)), i * BS)
    }
    return out
  }

  /** Put a file in the store as if written earlier. */
  preload (id: ObjectId, bytes: Uint8Array): void {
    for (let i = 0; i * BS < bytes.byteLength; i++) this.blocks.set(`${id}:${i}`, bytes.slice(i * BS, (i + 1) * BS))
    this.sizes.set(id, bytes.byteLength)
  }
}

function attrOf (id: ObjectId, size: number, mtime: Timespec = T0): ObjectAttr {
  return { id, ino: 7, mode: 0o100644, nlink: 1, uid: 0, gid: 0, size, rdev: 0, atime: T0, mtime, ctime: T0 }
}

let serial = 0
function setup (opts: { limit?: number, preload?: Uint8Array, direct?: boolean } = {}): { io: FakeBlocks, c: Coalescer, file: Inode, settled: Buffered[] } {
  const io = new FakeBlocks()
  const id = `f${serial++}` as ObjectId
  if (opts.preload !== undefined) io.preload(id, opts.preload)
  const settled: Buffered[] = []
  const c = new Coalescer(io, BS, opts.limit ?? 1024 * BS, { settled: f => settled.push(f) }, { direct: opts.direct })
  const file = new Inode(2, attrOf(id, opts.preload?.byteLength ?? 0))
  return { io, c, file, settled }
}

/** n recognisable bytes (never all zero), varied by seed. */
function bytes (n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n)
  for (let i = 0; i < n; i++) out[i] = (seed * 31 + i) % 251 + 1
  return out
}

const fill = (n: number, ch: string): Uint8Array => new Uint8Array(n).fill(ch.charCodeAt(0))
const text = (b: Uint8Array): string => Buffer.from(b).toString('latin1')

t.test('sequential writes seal a block when a write reaches its end', async t => {
  const { io, c, file } = setup()
  await c.write(file, 0, bytes(10, 1))
  t.equal(io.writes.length, 0, 'a partial block stays buffered')
  await c.write(file, 10, bytes(6, 2))
  t.same(io.writes.map(w => w.indexes), [[0]], 'reaching the block end stores it')
  await c.write(file, 16, bytes(16, 3))
  t.same(io.writes.map(w => w.indexes), [[0], [1]], 'a whole block is stored at once')
  await c.write(file, 32, bytes(20, 4))
  t.same(io.writes.map(w => w.indexes), [[0], [1], [2]], 'one call per full block; the tail stays open')
  t.equal(file.size, 52, 'readers see the buffered size')
  await c.flush(file)
  t.same(io.writes.map(w => w.indexes), [[0], [1], [2], [3]], 'flush stores the open tail')
  t.equal(io.writes[3].minSize, 52, 'with the file size')
})

t.test('reads see buffered data at once, before any flush', async t => {
  const { io, c, file } = setup()
  await c.write(file, 5, bytes(10, 1))
  t.equal(io.writes.length, 0, 'nothing stored yet')
  const got = await c.read(file, 0, 100)
  const expect = new Uint8Array(15)
  expect.set(bytes(10, 1), 5)
  t.same(got, expect, 'zeros before the write, then the written bytes, clipped at the size')
  t.same(await c.read(file, 15, 10), new Uint8Array(0), 'at the size: nothing')
  t.same(await c.read(file, 3, 0), new Uint8Array(0), 'length 0: nothing')
  t.equal(io.reads.length, 0, 'a new file never asks the store')
})

t.test('reads see blocks the store has not acknowledged yet', async t => {
  const { io, c, file } = setup()
  io.hold = true
  const data = bytes(2 * BS + 4, 9)
  await c.write(file, 0, data)
  t.equal(io.writes.length, 2, 'two full blocks handed to the store')
  t.equal(io.held.length, 2, 'neither answered')
  t.same(await c.read(file, 0, data.byteLength), data, 'sealed and open blocks read back')
  t.same(await c.read(file, BS - 2, 4), data.subarray(BS - 2, BS + 2), 'across the sealed boundary')
  t.equal(io.reads.length, 0)
  const flushed = c.flush(file)
  t.equal(io.held.length, 3, 'flush handed the open tail over too')
  io.hold = false
  while (io.held.length > 0) io.release()
  await flushed
  t.same(io.content(file.id), data, 'everything stored')
})

t.test('a partial write into a stored block keeps the other bytes', async t => {
  const stored = fill(2 * BS, 'A')
  const { io, c, file } = setup({ preload: stored })
  await c.write(file, 4, fill(2, 'b'))
  t.same(io.reads, [{ index: 0, offset: 0, length: BS }], 'the base block was loaded first')
  t.equal(text(await c.read(file, 0, BS)), 'AAAAbbAAAAAAAAAA', 'read before flush')
  t.equal(io.reads.length, 1, 'the buffered block served the read')
  t.equal(text(await c.read(file, BS, 4)), 'AAAA', 'an untouched stored block reads from the store')
  await c.flush(file)
  t.equal(text(io.content(file.id)), 'AAAAbbAAAAAAAAAA' + 'A'.repeat(BS), 'stored with the base kept')
  t.equal(io.sizes.get(file.id), 2 * BS, 'size unchanged')
})

t.test('a partial write past the stored size loads nothing', async t => {
  const { io, c, file } = setup({ preload: fill(BS, 'A') })
  await c.write(file, BS + 3, fill(2, 'z'))
  t.equal(io.reads.length, 0, 'the block lies wholly past the stored data')
  await c.flush(file)
  t.equal(text(io.content(file.id)), 'A'.repeat(BS) + '\0\0\0zz')
})

t.test('flush stores everything; the stored size matches', async t => {
  const { io, c, file, settled } = setup()
  const total = 7 * BS + 5
  const data = bytes(total, 3)
  // Uneven pieces in order, like a copy with an odd buffer size.
  for (let pos = 0, step = 5; pos < total; pos += step, step = step % 23 + 7) {
    await c.write(file, pos, data.subarray(pos, Math.min(total, pos + step)))
  }
  t.ok(file.dirty !== undefined, 'dirty before flush')
  await c.flush(file)
  t.same(io.content(file.id), data, 'the store holds the bytes')
  t.equal(io.sizes.get(file.id), total, 'store size')
  t.equal(file.dirty, undefined, 'no dirty state left')
  t.equal(file.attr.size, total, 'the inode takes the stored size')
  t.equal(file.size, total)
  t.same(settled, [file], 'settled once')
  t.equal(c.dirtyBytes, 0, 'no dirty memory accounted')
  const writesBefore = io.writes.length
  await c.flush(file)
  t.equal(io.writes.length, writesBefore, 'a second flush stores nothing')
  t.same(await c.read(file, 0, total), data, 'reads now come from the store')
})

t.test('overwrites in random order match a model', async t => {
  const { io, c, file } = setup({ preload: bytes(3 * BS, 50) })
  let model = bytes(3 * BS, 50)
  let seed = 7
  const rnd = (n: number): number => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed % n }
  for (let i = 0; i < 200; i++) {
    const off = rnd(6 * BS)
    const piece = bytes(1 + rnd(2 * BS), i)
    const next = new Uint8Array(Math.max(model.byteLength, off + piece.byteLength))
    next.set(model)
    next.set(piece, off)
    model = next
    await c.write(file, off, piece)
    if (i % 37 === 0) await c.flush(file)
    if (i % 11 === 0) t.same(await c.read(file, 0, model.byteLength), model, `read after write ${i}`)
  }
  await c.flush(file)
  t.same(io.content(file.id), model, 'store equals the model')
})

t.test('a reused block buffer shows nothing of its last file', async t => {
  const { io, c, file } = setup()
  // Fill block buffers with 'x' and let them go back to the spares.
  await c.write(file, 0, fill(2 * BS, 'x'))
  await c.flush(file)
  await settle()
  const other = (size: number): Inode => new Inode(3 + serial, attrOf(`g${serial++}` as ObjectId, size))
  const gap = other(0)
  await c.write(gap, 5, fill(3, 'z'))
  t.equal(text(await c.read(gap, 0, 8)), '\0\0\0\0\0zzz', 'a gap before a write reads as zeros')
  await c.write(gap, 12, fill(2, 'w'))
  t.equal(text(await c.read(gap, 0, 14)), '\0\0\0\0\0zzz\0\0\0\0ww', 'and a gap between writes')
  await c.flush(gap)
  t.equal(text(io.content(gap.id)), '\0\0\0\0\0zzz\0\0\0\0ww', 'as stored')
  // A stored block shorter than the size there (a file extended by truncate).
  const short = other(10)
  io.blocks.set(`${short.id}:0`, fill(3, 's'))
  io.sizes.set(short.id, 10)
  await c.write(short, 8, fill(1, 'v'))
  t.equal(text(await c.read(short, 0, 10)), 'sss\0\0\0\0\0v\0', 'the stored bytes, zeros to the size, the write')
  await c.flush(short)
  t.equal(text(io.content(short.id)), 'sss\0\0\0\0\0v\0', 'as stored')
})

t.test('a failed store write is reported by the next flush, then cleared', async t => {
  const { io, c, file } = setup()
  io.failNext = E.ENOSPC
  await c.write(file, 0, bytes(BS, 1))
  t.equal(io.writes.length, 1, 'the full block went to the store')
  await settle()
  try {
    await c.flush(file)
    t.fail('flush resolved')
  } catch (err) {
    t.ok(err instanceof FsError, 'an FsError')
    t.equal((err as FsError).errno, E.ENOSPC, 'with the store errno')
  }
  await t.resolves(c.flush(file), 'the next flush succeeds: the error was reported once')
  t.equal(file.dirty, undefined, 'dirty state released after the report')
  t.equal(c.dirtyBytes, 0)
  await c.write(file, 0, bytes(BS, 2))
  await c.flush(file)
  t.same(io.content(file.id), bytes(BS, 2), 'later writes store normally')
})

t.test('a failure during flush rejects that flush', async t => {
  const { io, c, file } = setup()
  await c.write(file, 0, bytes(5, 1))
  io.failNext = E.EIO
  const err = await c.flush(file).then(() => undefined, (e: unknown) => e)
  t.ok(err instanceof FsError && err.errno === E.EIO, 'flush rejects with the store errno', { err })
  await t.resolves(c.flush(file))
})

t.test('the dirty budget: never more than one block over', async t => {
  const limit = 4 * BS
  const { io, c, file } = setup({ limit })
  io.hold = true
  let peak = 0
  const sample = (): void => { peak = Math.max(peak, c.dirtyBytes) }
  io.onWrite = sample
  // Ten block-sized writes in flight at once, as the kernel sends them.
  const writes = Array.from({ length: 10 }, (_, i) => c.write(file, i * BS, bytes(BS, i)))
  for (let round = 0; round < 40 && io.writes.length < 10; round++) {
    await settle()
    sample()
    if (io.held.length > 0) io.release()
    await settle()
    sample()
  }
  io.hold = false
  while (io.held.length > 0) io.release()
  await Promise.all(writes)
  await c.flush(file)
  t.equal(io.writes.length, 10, 'every block stored')
  t.ok(peak <= limit + BS, `dirty bytes peaked at ${peak / BS} blocks with a limit of ${limit / BS}`)
  t.same(io.content(file.id), Uint8Array.from(Array.from({ length: 10 }, (_, i) => [...bytes(BS, i)]).flat()), 'content in order')
  t.equal(c.dirtyBytes, 0)
})

t.test('one write spanning many blocks stays within a block of the budget', async t => {
  const limit = 4 * BS
  const { io, c, file } = setup({ limit })
  io.hold = true
  let peak = 0
  io.onWrite = () => { peak = Math.max(peak, c.dirtyBytes) }
  const w = c.write(file, 0, bytes(10 * BS, 1))
  await settle()
  io.hold = false
  while (io.held.length > 0) { io.release(); await settle() }
  await w
  await c.flush(file)
  t.same(io.content(file.id), bytes(10 * BS, 1), 'stored')
  // A WRITE is at most max_write (1 MiB): with block_size=4K that is 256 blocks past the budget.
  t.ok(peak <= limit + BS, `dirty bytes peaked at ${peak / BS} blocks with a limit of ${limit / BS}`)
})

t.test('a write waiting for room gives up when its request is interrupted, with nothing buffered', async t => {
  const limit = 4 * BS
  const { io, c, file } = setup({ limit })
  io.hold = true
  // Four partial blocks spend the budget; the coldest go to the store, which holds them.
  for (let i = 0; i < 4; i++) await c.write(file, i * BS, bytes(3, i))
  const ac = new AbortController()
  const waiting = c.write(file, 8 * BS, bytes(3, 8), ac.signal)
  await settle()
  // The newest block is still open: a write into it needs no room and does not wait.
  await t.resolves(c.write(file, 3 * BS + 3, bytes(2, 7), new AbortController().signal), 'a write into an open block goes ahead')
  ac.abort()
  const err = await waiting.then(() => undefined, (e: unknown) => e)
  t.ok(err instanceof FsError && err.errno === E.EINTR, 'the waiting write ends with EINTR', { err })
  io.hold = false
  while (io.held.length > 0) io.release()
  await c.flush(file)
  const want = new Uint8Array(3 * BS + 5)
  for (let i = 0; i < 4; i++) want.set(bytes(3, i), i * BS)
  want.set(bytes(2, 7), 3 * BS + 3)
  t.same(io.content(file.id), want, 'the interrupted write left nothing behind, the others are stored')
})

t.test('the dirty budget pushes the oldest open blocks to the store', async t => {
  const limit = 4 * BS
  const { io, c, file } = setup({ limit })
  const other = new Inode(3, attrOf('g' as ObjectId, 0))
  // Partial blocks stay open: only the budget can push them out.
  for (let i = 0; i < 3; i++) await c.write(i % 2 === 0 ? file : other, i * BS, bytes(3, i))
  t.equal(io.writes.length, 0, 'three open partial blocks, none stored')
  // The fourth spends the budget: the writers waiting for room may be all
  // that comes, so the coldest go to the store at once.
  await c.write(other, 3 * BS, bytes(3, 3))
  t.ok(io.writes.length >= 2, 'the oldest blocks went to the store')
  t.same(io.writes[0], { id: file.id, indexes: [0], minSize: 3, awaited: false }, 'oldest first')
  await settle()
  t.ok(c.dirtyBytes < limit, 'back within the budget')
  await c.write(file, 10 * BS, bytes(3, 9))
  await c.flush(file)
  await c.flush(other)
})

t.test('a write into a block being stored waits for it', async t => {
  const { io, c, file } = setup()
  io.hold = true
  await c.write(file, 0, fill(BS, 'A'))
  t.equal(io.held.length, 1, 'block 0 in flight')
  let second = false
  const w2 = c.write(file, 0, fill(BS, 'B')).then(() => { second = true })
  await settle()
  t.equal(second, false, 'the second write waits for the store')
  t.equal(io.writes.length, 1, 'and has not been sent')
  io.hold = false
  io.release()
  await w2
  await c.flush(file)
  t.equal(io.writes.length, 2, 'two store writes, in order')
  t.equal(text(io.content(file.id)), 'B'.repeat(BS), 'the final content is the second write')
})

t.test('a partial write into a block being stored keeps the first write', async t => {
  const { io, c, file } = setup()
  io.hold = true
  await c.write(file, 0, fill(BS, 'A'))
  const w2 = c.write(file, 2, fill(3, 'b'))
  await settle()
  t.equal(text(await c.read(file, 0, BS)), 'A'.repeat(BS), 'meanwhile reads see the in-flight block')
  io.hold = false
  io.release()
  await w2
  t.equal(text(await c.read(file, 0, BS)), 'AAbbbAAAAAAAAAAA', 'merged in memory')
  await c.flush(file)
  t.equal(text(io.content(file.id)), 'AAbbbAAAAAAAAAAA', 'merged in the store')
})

t.test('drain flushes every file and swallows errors', async t => {
  const { io, c, file } = setup()
  const other = new Inode(3, attrOf('h' as ObjectId, 0))
  await c.write(file, 0, bytes(5, 1))
  await c.write(other, 0, bytes(7, 2))
  await c.drain()
  t.equal(io.sizes.get(file.id), 5)
  t.equal(io.sizes.get(other.id), 7)
  t.equal(c.dirtyBytes, 0)
})


t.test('a file read block after block has its next blocks read ahead, within its size and not where buffered', async t => {
  const { io, c, file } = setup({ preload: bytes(6 * BS + 3, 1) })
  await c.read(file, 0, BS)
  t.same(io.ahead, [], 'one read is no pattern yet')
  await c.read(file, BS, BS)
  t.same(io.ahead, [2, 3], 'the second block after the first: two ahead')
  await c.read(file, BS + 4, 4)
  t.same(io.ahead, [2, 3, 2, 3], 'again within the same block (the pool reads each once)')
  await c.write(file, 3 * BS, bytes(4, 9))
  await c.read(file, 2 * BS, BS)
  t.same(io.ahead.slice(4), [4], 'not the block buffered here')
  await c.read(file, 5 * BS, BS)
  t.same(io.ahead.slice(5), [], 'a jump is no pattern')
  await c.read(file, 6 * BS, 3)
  t.same(io.ahead.slice(5), [], 'nothing past the end of the file')
  await c.read(file, 0, BS)
  t.same(io.ahead.slice(5), [], 'backwards is no pattern')
})

t.test('readers of one file taking turns each have their next blocks read ahead', async t => {
  const { io, c, file } = setup({ preload: bytes(40 * BS, 1) })
  // Two readers, one from block 0 and one from block 20, a READ each in turn.
  for (const i of [0, 1]) {
    await c.read(file, i * BS, BS)
    await c.read(file, (20 + i) * BS, BS)
  }
  t.same(io.ahead, [2, 3, 22, 23], 'each reader\'s second block: two ahead of it')
  await c.read(file, 2 * BS, BS)
  await c.read(file, 22 * BS, BS)
  t.same(io.ahead.slice(4), [3, 4, 23, 24], 'each goes on from where it left off')
  // Eight more readers start elsewhere: the two are forgotten, the oldest first.
  for (let k = 0; k < 8; k++) await c.read(file, (24 + 2 * k) * BS, 1)
  await c.read(file, 3 * BS, BS)
  t.same(io.ahead.slice(8), [], 'a ninth reader took the place of the oldest')
})

t.test('direct: a whole-block write is stored from the caller\'s memory and resolves once stored', async t => {
  const old = bytes(2 * BS, 1)
  const { io, c, file, settled } = setup({ direct: true, preload: old })
  io.hold = true
  const data = bytes(BS, 2)
  let done = false
  const w = c.write(file, 0, data).then(() => { done = true })
  await settle()
  t.same(io.writes, [{ id: file.id, indexes: [0], minSize: BS, awaited: true }], 'handed to the store at once, the caller waiting')
  t.equal(done, false, 'not answered before the store')
  t.same(await c.read(file, 0, 2 * BS), Buffer.concat([data, old.subarray(BS)]), 'readers see the block in flight')
  t.equal(io.reads.length, 1, 'only the other block came from the store')
  const partial = c.write(file, 2, fill(3, 'x'))
  await settle()
  t.equal(io.writes.length, 1, 'a write into the block in flight waits for it')
  io.hold = false
  io.release()
  await w
  await partial
  await c.flush(file)
  const want = Buffer.from(data)
  want.set(fill(3, 'x'), 2)
  t.same(io.content(file.id), Buffer.concat([want, old.subarray(BS)]), 'the later partial write lands on the stored block')
  t.equal(file.dirty, undefined, 'nothing buffered afterwards')
  t.ok(settled.includes(file), 'and the file settled')
})

t.test('direct: a write past the end raises the size only once stored', async t => {
  const { io, c, file } = setup({ direct: true })
  io.hold = true
  const w = c.write(file, BS, bytes(BS, 3))
  await settle()
  t.equal(file.size, 0, 'not while in flight')
  io.release()
  await w
  t.equal(file.size, 2 * BS, 'then to the end of the block')
  t.same(io.content(file.id), Buffer.concat([new Uint8Array(BS), bytes(BS, 3)]), 'a hole before it')
})

t.test('direct: a failed store write is that write\'s error, and changes nothing', async t => {
  const { io, c, file } = setup({ direct: true })
  io.failNext = E.ENOSPC
  const err = await c.write(file, 0, bytes(BS, 4)).then(() => undefined, (e: unknown) => e)
  t.equal((err as FsError | undefined)?.errno, E.ENOSPC, 'the write rejects with the store errno')
  t.equal(file.size, 0, 'the size is unchanged')
  t.same(await c.read(file, 0, BS), new Uint8Array(0), 'nothing to read')
  await c.flush(file)
  t.pass('no error left over for flush')
})

t.test('direct: only whole, aligned blocks nothing buffers', async t => {
  const { io, c, file } = setup({ direct: true })
  await c.write(file, 4, bytes(BS, 5))
  t.same(io.writes.map(w => w.awaited), [false], 'unaligned: buffered, its first block sealed in the background')
  await c.write(file, 2 * BS, bytes(2 * BS, 6))
  t.same(io.writes.map(w => w.awaited), [false, false, false], 'two blocks in one write: buffered')
  await c.write(file, 4 * BS, bytes(4, 7))
  await c.write(file, 4 * BS, bytes(BS, 8))
  t.same(io.writes.map(w => w.awaited), [false, false, false, false], 'into an open block: buffered')
  await c.write(file, 5 * BS, bytes(BS, 9))
  t.same(io.writes.map(w => w.awaited), [false, false, false, false, true], 'a whole block nothing buffers: direct')
  await c.flush(file)
  const want = new Uint8Array(6 * BS)
  want.set(bytes(BS, 5), 4)
  want.set(bytes(2 * BS, 6), 2 * BS)
  want.set(bytes(BS, 8), 4 * BS)
  want.set(bytes(BS, 9), 5 * BS)
  t.same(io.content(file.id), want)
})
