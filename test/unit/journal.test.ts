// The write journal: record bytes, torn tails, segment rotation and
// deletion as a real Coalescer stores blocks, and replay into a store that
// already holds any part of what was journaled. The crash of the serving
// process is simulated by abandoning the coalescer and the journal with
// store writes still held, then replaying into the same store.
import { mkdtempSync, readFileSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { crc32 } from 'node:zlib'
import t, { type Test } from 'tap'
import { Coalescer } from '../../src/blocks/coalesce.ts'
import { Journal, decodeRecord } from '../../src/blocks/journal.ts'
import { replayJournal, type ReplayStore } from '../../src/blocks/journal-replay.ts'
import { S_IFREG } from '../../src/channel/abi.ts'
import { FsError, errno as E } from '../../src/errors.ts'
import { Inode } from '../../src/inode/table.ts'
import { setLogLevel } from '../../src/log.ts'
import { LocalStore } from '../../src/store/local/store.ts'
import type { BlockWrite, ObjectAttr, ObjectId, SetAttr, Timespec } from '../../src/store/types.ts'

// Failing store writes are logged as errors; expected here.
setLogLevel('silent')

const BS = 16
const T0 = { sec: 1_700_000_000, nsec: 0 }
const settle = async (): Promise<void> => { for (let i = 0; i < 5; i++) await new Promise(resolve => setImmediate(resolve)) }

const attrOf = (id: ObjectId, size: number, mtime: Timespec = T0): ObjectAttr =>
  ({ id, ino: 7, mode: 0o100644, nlink: 1, uid: 0, gid: 0, size, rdev: 0, atime: T0, mtime, ctime: T0 })

/**
 * An in-memory block store with the embedded store's semantics for what
 * the coalescer and replay use; writes wait while `hold` is set.
 */
class MemStore {
  readonly blockSize = BS
  readonly blocks = new Map<string, Uint8Array>()
  readonly files = new Map<ObjectId, { size: number, mtime: Timespec }>()
  readonly calls: string[] = []
  hold = false
  readonly held: Array<() => void> = []
  failNext = 0

  add (id: string, content: Uint8Array = new Uint8Array(0)): ObjectId {
    const oid = id as ObjectId
    this.files.set(oid, { size: 0, mtime: T0 })
    for (let i = 0; i * BS < content.byteLength; i++) this.blocks.set(`${id}:${i}`, content.slice(i * BS, (i + 1) * BS))
    this.files.get(oid)!.size = content.byteLength
    return oid
  }

  #file (id: ObjectId): { size: number, mtime: Timespec } {
    const f = this.files.get(id)
    if (f === undefined) throw new FsError(E.ENOENT)
    return f
  }

  async getattr (id: ObjectId): Promise<ObjectAttr> {
    const f = this.#file(id)
    return attrOf(id, f.size, f.mtime)
  }

  async readBlock (id: ObjectId, index: number, offset: number, length: number): Promise<Uint8Array | null> {
    this.#file(id)
    const b = this.blocks.get(`${id}:${index}`)
    return b === undefined ? null : b.slice(offset, Math.min(b.byteLength, offset + length))
  }

  async writeBlocks (id: ObjectId, blocks: BlockWrite[], minSize: number, mtime: Timespec): Promise<ObjectAttr> {
    this.calls.push(`writeBlocks ${id} ${blocks.map(b => b.index).join(',')}`)
    const fail = this.failNext
    this.failNext = 0
    if (this.hold) await new Promise<void>(resolve => this.held.push(resolve))
    if (fail !== 0) throw new FsError(fail)
    const f = this.#file(id)
    for (const b of blocks) this.blocks.set(`${id}:${b.index}`, b.data.slice())
    f.size = Math.max(f.size, minSize)
    f.mtime = mtime
    return attrOf(id, f.size, mtime)
  }

  async setattr (id: ObjectId, changes: SetAttr): Promise<ObjectAttr> {
    this.calls.push(`setattr ${id} ${JSON.stringify(changes)}`)
    const f = this.#file(id)
    if (changes.size !== undefined) {
      if (changes.size < f.size) {
        for (let i = Math.ceil(changes.size / BS); i * BS < f.size; i++) this.blocks.delete(`${id}:${i}`)
        const last = Math.floor(changes.size / BS)
        const b = this.blocks.get(`${id}:${last}`)
        if (b !== undefined && changes.size % BS !== 0) this.blocks.set(`${id}:${last}`, b.slice(0, changes.size % BS))
      }
      f.size = changes.size
    }
    f.mtime = changes.mtime ?? (changes.size !== undefined ? { sec: 1, nsec: 0 } : f.mtime)
    return attrOf(id, f.size, f.mtime)
  }

  async dropBlocks (id: ObjectId, first: number, last: number): Promise<void> {
    this.calls.push(`dropBlocks ${id} ${first}-${last}`)
    this.#file(id)
    for (let i = first; i <= last; i++) this.blocks.delete(`${id}:${i}`)
  }

  async seekBlock (id: ObjectId, from: number, limit: number, data: boolean): Promise<number | null> {
    this.#file(id)
    for (let i = from; i < limit; i++) if (this.blocks.has(`${id}:${i}`) === data) return i
    return null
  }

  release (): void {
    const r = this.held.shift()
    if (r === undefined) throw new Error('no held write to release')
    r()
  }

  content (id: ObjectId): Uint8Array {
    const size = this.#file(id).size
    const out = new Uint8Array(size)
    for (let i = 0; i * BS < size; i++) {
      const b = this.blocks.get(`${id}:${i}`)
      if (b !== undefined) out.set(b.subarray(0, Math.min(b.byteLength, size - i * BS)), i * BS)
    }
    return out
  }
}

function tempDir (t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'objfs-journal-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

const segments = (dir: string): string[] => readdirSync(dir).sort()
const fill = (n: number, ch: string): Uint8Array => new Uint8Array(n).fill(ch.charCodeAt(0))
const text = (b: Uint8Array): string => Buffer.from(b).toString('latin1').replaceAll('\0', '.')

function setup (t: Test, opts: { segmentBytes?: number, content?: Uint8Array, direct?: boolean, limit?: number } = {}): { dir: string, store: MemStore, journal: Journal, c: Coalescer, file: Inode } {
  const dir = tempDir(t)
  const store = new MemStore()
  const id = store.add('f', opts.content)
  const journal = new Journal(dir, { segmentBytes: opts.segmentBytes })
  const c = new Coalescer(store, BS, opts.limit ?? 1024 * BS, { settled: () => {} }, { journal, direct: opts.direct })
  const file = new Inode(2, attrOf(id, opts.content?.byteLength ?? 0))
  return { dir, store, journal, c, file }
}

/** What the ops do for a truncate: flush, store, journal. */
async function truncate (c: Coalescer, store: MemStore, file: Inode, size: number): Promise<void> {
  await c.flush(file)
  file.attr = await store.setattr(file.id, { size })
  c.journalSize(file.id, size)
}

t.test('record bytes', async t => {
  const dir = tempDir(t)
  const j = new Journal(dir, { now: () => 1_700_000_000_123 })
  t.same(segments(dir), ['000001.jrnl'], 'the first segment exists from the start')
  t.equal(readFileSync(join(dir, '000001.jrnl')).byteLength, 0, 'empty until the first record')
  t.equal(j.appendWrite('f1' as ObjectId, 0x01_0203_0405, Uint8Array.from([0xaa, 0xbb, 0xcc])), 1, 'segment 1')
  const got = readFileSync(join(dir, '000001.jrnl'))
  t.same([...got], [
    0x4f, 0x42, 0x4a, 0x46, 0x53, 0x4a, 0x30, 0x31, // "OBJFSJ01": the segment header
    0x29, 0x00, 0x00, 0x00,                         // record length 41: 36 header + 2 id + 3 data
    0x86, 0xe5, 0x0d, 0xee,                         // crc32 of bytes 8..41 of the record
    0x01,                                           // kind: write
    0x02,                                           // id length, low 8 bits
    0x00, 0x00,                                     // id length, the bits above
    0x7b, 0x68, 0xe5, 0xcf, 0x8b, 0x01, 0x00, 0x00, // time 1_700_000_000_123 ms
    0x05, 0x04, 0x03, 0x02, 0x01, 0x00, 0x00, 0x00, // offset 0x0102030405 (past 32 bits)
    0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // data length 3
    0x66, 0x31,                                     // id "f1"
    0xaa, 0xbb, 0xcc,                               // the written bytes
  ])
  t.equal(crc32(got.subarray(16, 49)), 0xee0de586, 'the checksum covers everything after itself')
  const r = decodeRecord(got, 8)
  t.same(r, { record: { kind: 1, id: 'f1', time: 1_700_000_000_123, a: 0x01_0203_0405, b: 3, data: Buffer.from([0xaa, 0xbb, 0xcc]) }, next: 49 })
})

t.test('an id longer than 255 bytes (an S3 key)', async t => {
  const dir = tempDir(t)
  const id = `bucket/${'x'.repeat(255)}/${'é'.repeat(300)}/f` as ObjectId
  const j = new Journal(dir, { now: () => 1_700_000_000_123 })
  j.appendWrite(id, 7, Uint8Array.from([1, 2]))
  const got = readFileSync(join(dir, '000001.jrnl'))
  const n = Buffer.byteLength(id)
  t.same([got[8 + 9], got.readUInt16LE(8 + 10)], [n & 0xff, n >>> 8], 'its length split over the two fields')
  const r = decodeRecord(got, 8)
  t.same('record' in r ? [r.record.id, r.record.a, [...(r.record.data ?? [])]] : r, [id, 7, [1, 2]], 'and read back whole')
  j.close()
})

t.test('append and replay round trip: write, size, zero', async t => {
  const dir = tempDir(t)
  const store = new MemStore()
  const id = store.add('a')
  const j = new Journal(dir, { now: () => 1_700_000_005_250 })
  j.appendWrite(id, 0, fill(40, 'x'))
  j.appendWrite(id, 10, fill(4, 'y'))
  j.appendZero(id, 12, 20)          // bytes 12..15 zeroed in block 0, block 1 a hole, 32 in block 2
  j.appendSize(id, 36)
  j.appendSize(id, 50)
  t.same(decodeRecord(readFileSync(join(dir, '000001.jrnl')), 8), decodeRecord(readFileSync(join(dir, '000001.jrnl')), 8), 'decoding is deterministic')
  const r = await replayJournal(dir, store)
  t.same({ ...r, torn: r.torn }, { segments: 1, records: 5, bytes: 44, skipped: 0, repaired: 1, torn: undefined })
  t.equal(text(store.content(id)), 'xxxxxxxxxxyy....................xxxx..............')
  t.same(store.files.get(id)?.mtime, { sec: 1_700_000_005, nsec: 250e6 }, 'the mtime of the newest record')
  t.notOk(store.blocks.has(`${id}:1`), 'a zeroed whole block is a hole')
  t.same(segments(dir), [], 'replayed segments are removed')
  const again = await replayJournal(dir, store)
  t.equal(again.records, 0, 'nothing is left to replay')
})

t.test('a torn last record is reported and the rest replayed', async t => {
  const dir = tempDir(t)
  const store = new MemStore()
  const id = store.add('a')
  const j = new Journal(dir)
  j.appendWrite(id, 0, fill(4, 'a'))
  j.appendWrite(id, 4, fill(4, 'b'))
  const path = join(dir, '000001.jrnl')
  const whole = readFileSync(path).byteLength
  truncateSync(path, whole - 2)       // the process died inside the second write(2)
  const r = await replayJournal(dir, store)
  t.equal(r.records, 1)
  t.match(r.torn, { segment: path, offset: 8 + 41, reason: 'record length 41 with 39 bytes left' })
  t.equal(text(store.content(id)), 'aaaa')

  const dir2 = tempDir(t)
  const j2 = new Journal(dir2)
  j2.appendWrite(id, 0, fill(4, 'c'))
  j2.appendWrite(id, 4, fill(4, 'd'))
  const path2 = join(dir2, '000001.jrnl')
  const bytes = readFileSync(path2)
  bytes[bytes.byteLength - 1] ^= 1   // a changed byte: the checksum catches it
  writeFileSync(path2, bytes)
  const r2 = await replayJournal(dir2, store)
  t.match(r2, { records: 1, torn: { offset: 49, reason: 'checksum mismatch' } })
  t.equal(text(store.content(id)), 'cccc')

  const dir3 = tempDir(t)
  writeFileSync(join(dir3, '000001.jrnl'), 'OBJ')
  t.match(await replayJournal(dir3, store), { records: 0, torn: { offset: 0, reason: 'segment header cut short' } }, 'killed while writing the segment header')
})

t.test('damage before the last segment stops replay and keeps everything', async t => {
  const dir = tempDir(t)
  const store = new MemStore()
  const id = store.add('a')
  const j = new Journal(dir, { segmentBytes: 60 })
  j.appendWrite(id, 0, fill(4, 'a'))
  j.appendWrite(id, 0, fill(4, 'b'))
  t.same(segments(dir), ['000001.jrnl', '000002.jrnl'])
  truncateSync(join(dir, '000001.jrnl'), 20)
  await t.rejects(replayJournal(dir, store), /000001.jrnl is damaged at byte 8/)
  t.same(segments(dir), ['000001.jrnl', '000002.jrnl'], 'nothing deleted')
  t.throws(() => new Journal(dir), /2 segments not replayed/, 'and no new journal starts over them')
})

t.test('segments rotate, and go once the coalescer stored their blocks, oldest first', async t => {
  // Each record of 4 bytes is 36 + 1 + 4 = 41 bytes: two fit a segment of 100 with its header.
  const { dir, store, journal, c, file } = setup(t, { segmentBytes: 100 })
  store.hold = true
  await c.write(file, 0, fill(4, 'a'))
  await c.write(file, 16, fill(4, 'b'))      // another block
  await c.write(file, 32, fill(4, 'c'))      // segment 2
  await c.write(file, 48, fill(4, 'd'))      // segment 2: full
  t.same(segments(dir), ['000001.jrnl', '000002.jrnl'])
  const flushed = c.flush(file)
  await settle()
  t.equal(store.held.length, 1, 'one store write of the four blocks')
  t.same(segments(dir), ['000001.jrnl', '000002.jrnl'], 'kept while the store write runs')
  store.release()
  await flushed
  t.same(segments(dir), ['000002.jrnl'], 'the closed segment is deleted once stored; the open one stays')
  store.hold = false

  store.hold = true
  await c.write(file, 64, fill(4, 'e'))      // segment 3: segment 2, stored and unpinned, goes
  await c.write(file, 80, fill(4, 'f'))
  await c.write(file, 96, fill(4, 'g'))      // segment 4
  await c.write(file, 112, fill(4, 'h'))
  t.same(segments(dir), ['000003.jrnl', '000004.jrnl'])
  t.equal(journal.segments, 2)
  const again = c.flush(file)
  await settle()
  t.equal(store.held.length, 1)
  store.release()
  await again
  t.same(segments(dir), ['000004.jrnl'])
  store.hold = false
  journal.close()
  t.same(segments(dir), [], 'a clean close leaves nothing to replay')
})

t.test('a segment waits for an older one still being stored', async t => {
  // One record per segment.
  const { dir, store, c, file } = setup(t, { segmentBytes: 60 })
  const g = new Inode(3, attrOf(store.add('g'), 0))
  const h = new Inode(4, attrOf(store.add('h'), 0))
  store.hold = true
  await c.write(file, 0, fill(4, 'a'))       // segment 1
  await c.write(g, 0, fill(4, 'b'))          // segment 2
  await c.write(h, 0, fill(4, 'c'))          // segment 3: f's block, two segments back, goes to the store
  t.equal(store.held.length, 1)
  const flushed = c.flush(g)
  await settle()
  t.equal(store.held.length, 2)
  const [f, gs] = store.held.splice(0, 2)
  gs()
  await flushed
  t.same(segments(dir), ['000001.jrnl', '000002.jrnl', '000003.jrnl'], 'segment 2 is stored but segment 1 is not: both stay')
  f()
  await settle()
  t.same(segments(dir), ['000003.jrnl'], 'then both go; the open one stays')
})

t.test('a failed store write keeps its segments, and replay stores the data', async t => {
  const { dir, store, journal, c, file } = setup(t, { segmentBytes: 60 })
  store.failNext = E.EIO
  await c.write(file, 0, fill(16, 'a'))      // a whole block: stored (and failing) at once
  await settle()
  const err = await c.flush(file).catch((e: unknown) => e)
  t.ok(err instanceof FsError && err.errno === E.EIO, 'the failure is reported', { err })
  await c.write(file, 16, fill(16, 'b'))     // segment 2, stored fine
  await c.write(file, 32, fill(16, 'c'))     // segment 3
  await c.flush(file)
  t.same(segments(dir), ['000001.jrnl', '000002.jrnl', '000003.jrnl'], 'all kept: the oldest holds data the store lacks')
  journal.close()
  t.same(segments(dir), ['000001.jrnl', '000002.jrnl', '000003.jrnl'], 'also at close')
  t.equal(text(store.content(file.id)), '................bbbbbbbbbbbbbbbbcccccccccccccccc')
  const r = await replayJournal(dir, store)
  t.match(r, { records: 3, repaired: 1 })
  t.equal(text(store.content(file.id)), 'aaaaaaaaaaaaaaaabbbbbbbbbbbbbbbbcccccccccccccccc')
})

t.test('ids about to change: everything buffered is stored, and a failed write stays for its own file to report', async t => {
  const { store, c, file } = setup(t)
  store.failNext = E.EIO
  await c.write(file, 0, fill(16, 'a'))      // a whole block: stored (and failing) at once
  await c.write(file, 16, fill(4, 'b'))      // buffered
  await settle()
  await c.idsChanging()
  t.equal(text(store.content(file.id)), '................bbbb', 'the buffered write is stored')
  const err = await c.flush(file).catch((e: unknown) => e)
  t.ok(err instanceof FsError && err.errno === E.EIO, 'the earlier failure is still reported by the next flush', { err })
})

t.test('a write interrupted while it waited for room left no record: replay after a crash leaves it out', async t => {
  const { dir, store, c, file } = setup(t, { limit: 4 * BS })
  store.hold = true
  // Four partial blocks spend the budget; the store holds every write, as a slow one would.
  for (let i = 0; i < 4; i++) await c.write(file, i * BS, fill(3, 'a'))
  const ac = new AbortController()
  const waiting = c.write(file, 8 * BS, fill(3, 'z'), ac.signal)
  await settle()
  ac.abort()
  const err = await waiting.catch((e: unknown) => e)
  t.ok(err instanceof FsError && err.errno === E.EINTR, 'EINTR', { err })
  // The process dies with nothing stored: the next one replays the journal.
  const next = new MemStore()
  next.add(file.id)
  const r = await replayJournal(dir, next)
  t.match(r, { records: 4 }, 'the four writes answered')
  t.equal(text(next.content(file.id)), 'aaa.............aaa.............aaa.............aaa', 'and not the interrupted one')
})

t.test('a block rewritten in place does not keep every segment on disk', async t => {
  const { dir, store, c, file } = setup(t, { segmentBytes: 100 })
  for (let i = 0; i < 40; i++) await c.write(file, 0, fill(4, String.fromCharCode(97 + i % 26)))
  await settle()
  t.ok(segments(dir).length <= 3, `${segments(dir).length} segments for 20 rotations`)
  t.ok(store.calls.length > 0, 'the open block went to the store when its segment aged')
})

t.test('replay in journal order: write, truncate, write', async t => {
  const { dir, store, c, file } = setup(t)
  await c.write(file, 0, fill(40, 'a'))
  await truncate(c, store, file, 20)
  await c.write(file, 30, fill(4, 'b'))
  await c.flush(file)
  const expected = 'aaaaaaaaaaaaaaaaaaaa..........bbbb'
  t.equal(text(store.content(file.id)), expected)
  const mtime = { sec: 42, nsec: 0 }
  store.files.get(file.id)!.mtime = mtime    // touch -d after the writes
  store.calls.length = 0
  // The process dies with everything stored: replay finds nothing to change.
  const r = await replayJournal(dir, store)
  t.match(r, { records: 3, repaired: 0 })
  t.same(store.calls, [], 'no store write')
  t.same(store.files.get(file.id)?.mtime, mtime, 'the mtime set since is kept')
  t.equal(text(store.content(file.id)), expected)
})

t.test('replay onto a store that lost the writes around a truncation', async t => {
  const { dir, store, c, file } = setup(t)
  await c.write(file, 0, fill(40, 'a'))
  await truncate(c, store, file, 20)
  store.hold = true
  await c.write(file, 30, fill(4, 'b'))
  await c.write(file, 8, fill(2, 'c'))
  void c.flush(file).catch(() => {})
  await settle()
  t.equal(store.held.length, 2, 'killed with these writes held')
  store.hold = false
  const r = await replayJournal(dir, store)
  t.match(r, { records: 4, repaired: 1 })
  t.equal(text(store.content(file.id)), 'aaaaaaaaccaaaaaaaaaa..........bbbb')

  // Truncated to 0 and rewritten shorter, with the rewrite lost and the old data stored.
  const s2 = setup(t)
  await s2.c.write(s2.file, 0, fill(40, 'x'))
  await truncate(s2.c, s2.store, s2.file, 0)
  s2.store.hold = true
  await s2.c.write(s2.file, 0, fill(5, 'y'))
  void s2.c.flush(s2.file).catch(() => {})
  await settle()
  s2.store.hold = false
  await replayJournal(s2.dir, s2.store)
  t.equal(text(s2.store.content(s2.file.id)), 'yyyyy')
})

t.test('a cut the store has not seen is applied (replay onto an older store)', async t => {
  // Not what the ops leave (they record a size after the store applied it),
  // but replay must not depend on the store being ahead.
  const dir = tempDir(t)
  const store = new MemStore()
  const a = store.add('a', fill(48, 'o'))
  const b = store.add('b', fill(48, 'o'))
  const j = new Journal(dir)
  j.appendSize(a, 0)
  j.appendSize(a, 48)
  j.appendSize(b, 0)
  j.appendWrite(b, 20, fill(2, 'w'))
  j.appendWrite(b, 46, fill(2, 'w'))
  t.match(await replayJournal(dir, store), { records: 5, repaired: 2 })
  t.equal(text(store.content(a)), '.'.repeat(48), 'the bytes past the cut are gone, though the size came back')
  t.equal(text(store.content(b)), `${'.'.repeat(20)}ww${'.'.repeat(24)}ww`, 'writes after the cut do not bring back their blocks\' old bytes')
})

t.test('replay skips objects that no longer exist', async t => {
  const dir = tempDir(t)
  const store = new MemStore()
  const kept = store.add('kept')
  const j = new Journal(dir)
  j.appendWrite('gone' as ObjectId, 0, fill(4, 'g'))
  j.appendWrite(kept, 0, fill(4, 'k'))
  j.appendSize('gone' as ObjectId, 0)
  const r = await replayJournal(dir, store)
  t.match(r, { records: 3, skipped: 2, repaired: 1 })
  t.equal(text(store.content(kept)), 'kkkk')
  t.notOk(store.files.has('gone' as ObjectId), 'nothing is created for it')
})

t.test('a punched hole replays after the writes it zeroed', async t => {
  const { dir, store, c, file } = setup(t, { content: fill(48, 'o') })
  store.hold = true
  await c.write(file, 0, fill(48, 'w'))      // three whole blocks: stored at once, held
  // What fallocate(PUNCH_HOLE) does for [4, 36): after the flush, so release the held writes.
  store.hold = false
  for (let i = 0; i < 3; i++) store.release()
  await c.write(file, 4, new Uint8Array(12))
  await c.write(file, 32, new Uint8Array(4))
  await c.flush(file)
  await store.dropBlocks(file.id, 1, 1)
  c.journalZero(file.id, 4, 32)
  const expected = 'wwww................................wwwwwwwwwwww'
  t.equal(text(store.content(file.id)), expected)
  // Replaying the writes before the punch must not bring the punched bytes back.
  t.match(await replayJournal(dir, store), { records: 4, repaired: 0 })
  t.equal(text(store.content(file.id)), expected)
})

/** A store the crash runs can hold writes of, and read whole files from. */
interface CrashStore {
  readonly blockSize: number
  hold: boolean
  readonly held: Array<() => void>
  release: () => void
  io: ReplayStore
  add: (name: string) => Promise<ObjectId>
  content: (id: ObjectId) => Promise<Uint8Array>
}

function memCrashStore (): CrashStore {
  const m = new MemStore()
  return {
    blockSize: BS,
    get hold () { return m.hold },
    set hold (v: boolean) { m.hold = v },
    held: m.held,
    release: () => m.release(),
    io: m,
    add: async name => m.add(name),
    content: async id => m.content(id),
  }
}

/** The embedded store itself, with store writes held the way MemStore holds them. */
async function localCrashStore (t: Test): Promise<CrashStore> {
  const local = await LocalStore.open({ url: `local:${join(tempDir(t), 'store')}`, blockSize: 512, readOnly: false, create: true, options: {} })
  t.teardown(async () => await local.close())
  const root = (await local.root()).id
  const held: Array<() => void> = []
  const s: CrashStore = {
    blockSize: local.blockSize,
    hold: false,
    held,
    release: () => { const r = held.shift(); if (r === undefined) throw new Error('no held write'); r() },
    io: {
      blockSize: local.blockSize,
      getattr: async id => await local.getattr(id),
      readBlock: async (id, index, offset, length) => await local.readBlock(id, index, offset, length),
      writeBlocks: async (id, blocks, minSize, mtime) => {
        if (s.hold) await new Promise<void>(resolve => held.push(resolve))
        return await local.writeBlocks(id, blocks, minSize, mtime)
      },
      setattr: async (id, changes) => await local.setattr(id, changes),
      dropBlocks: async (id, first, last) => await local.dropBlocks(id, first, last),
      seekBlock: async (id, from, limit, data) => await local.seekBlock(id, from, limit, data),
    },
    add: async name => (await local.create(root, name, { mode: S_IFREG | 0o644, uid: 0, gid: 0 })).id,
    content: async id => {
      const size = (await local.getattr(id)).size
      const out = new Uint8Array(size)
      for (let i = 0; i * local.blockSize < size; i++) {
        const b = await local.readBlock(id, i, 0, Math.min(local.blockSize, size - i * local.blockSize))
        if (b !== null) out.set(b, i * local.blockSize)
      }
      return out
    },
  }
  return s
}

/**
 * Seeded random writes, truncations and punched holes on two files through
 * a real Coalescer with store writes held at random, as the ops do them;
 * then kill -9 (the coalescer's memory and the held writes are gone),
 * replay, and compare with a model of what the kernel was told.
 */
async function crashRuns (t: Test, seeds: number, open: () => Promise<CrashStore>, opts: { direct?: boolean } = {}): Promise<void> {
  for (let seed = 1; seed <= seeds; seed++) {
    let x = (seed * 2654435761) >>> 0
    /** xorshift32: 0 <= result < n. */
    const rand = (n: number): number => {
      x = (x ^ (x << 13)) >>> 0
      x = (x ^ (x >>> 17)) >>> 0
      x = (x ^ (x << 5)) >>> 0
      return x % n
    }
    const dir = tempDir(t)
    const store = await open()
    const bs = store.blockSize
    const journal = new Journal(dir, { segmentBytes: 4 * bs + rand(20 * bs) })
    const c = new Coalescer(store.io, bs, 16 * bs, { settled: () => {} }, { journal, direct: opts.direct })
    const files: Inode[] = []
    for (let i = 0; i < 2; i++) files.push(new Inode(2 + i, attrOf(await store.add(`s${seed}f${i}`), 0)))
    const model = files.map(() => new Uint8Array(0))
    /** Await `work`, letting held store writes go one by one while it waits on one (a block in flight, the budget). */
    const drive = async (work: Promise<void>): Promise<void> => {
      let done = false
      void work.finally(() => { done = true }).catch(() => {})
      await settle()
      while (!done) {
        if (store.held.length === 0) throw new Error(`seed ${seed}: stuck with no store write held`)
        store.release()
        await settle()
      }
      await work
    }
    const steps = 20 + rand(40)
    for (let step = 0; step < steps; step++) {
      const k = rand(2)
      const file = files[k]
      const op = rand(10)
      if (op < 7) {
        // With `direct`, one write in three is a whole block, which may go straight to the store.
        const whole = opts.direct === true && rand(3) === 0
        const offset = whole ? rand(6) * bs : rand(6 * bs)
        const data = new Uint8Array(whole ? bs : 1 + rand(2 * bs)).map(() => 1 + rand(255))
        store.hold = rand(3) === 0
        await drive(c.write(file, offset, data))
        const m = new Uint8Array(Math.max(model[k].byteLength, offset + data.byteLength))
        m.set(model[k])
        m.set(data, offset)
        model[k] = m
      } else {
        // Truncate or punch: the op flushes first, so the held writes go first.
        store.hold = false
        while (store.held.length > 0) store.release()
        if (op < 9) {
          const size = rand(6 * bs)
          await c.flush(file)
          file.attr = await store.io.setattr(file.id, { size })
          c.journalSize(file.id, size)
          const m = new Uint8Array(size)
          m.set(model[k].subarray(0, size))
          model[k] = m
        } else {
          // As file.ts zeroRange: zeros written into partial blocks, whole ones dropped.
          const from = rand(model[k].byteLength + 1)
          const to = Math.min(model[k].byteLength, from + rand(3 * bs))
          if (to > from) {
            const first = Math.ceil(from / bs)
            const last = Math.floor(to / bs) - 1
            if (last < first) await c.write(file, from, new Uint8Array(to - from))
            else {
              if (from < first * bs) await c.write(file, from, new Uint8Array(first * bs - from))
              if (to > (last + 1) * bs) await c.write(file, (last + 1) * bs, new Uint8Array(to - (last + 1) * bs))
            }
            await c.flush(file)
            if (last >= first) await store.io.dropBlocks(file.id, first, last)
            c.journalZero(file.id, from, to - from)
            model[k].fill(0, from, to)
          }
        }
      }
      // Now and then some held store writes complete.
      if (rand(4) === 0) { const n = rand(store.held.length + 1); for (let i = 0; i < n; i++) store.release() }
      await settle()
    }
    // kill -9: the coalescer's memory and the held store writes are gone.
    store.held.length = 0
    store.hold = false
    const r = await replayJournal(dir, store.io)
    for (const [k, file] of files.entries()) {
      const found = await store.content(file.id)
      if (Buffer.compare(found, model[k]) !== 0) {
        t.fail(`seed ${seed} file ${k}: replayed ${r.records} records of ${r.segments} segments`, { found: text(found), wanted: text(model[k]) })
        return
      }
    }
  }
  t.pass(`${seeds} seeds match the model`)
}

t.test('random writes, truncations and holes survive a crash at any point', async t => {
  await crashRuns(t, 200, async () => memCrashStore())
})

t.test('the same against the embedded store', async t => {
  await crashRuns(t, 15, async () => await localCrashStore(t))
})

/** Records of `id` in the segments on disk: "kind offset length". */
function recordsOf (dir: string, id: ObjectId): string[] {
  const out: string[] = []
  for (const name of segments(dir)) {
    const buf = readFileSync(join(dir, name))
    for (let pos = 8; pos < buf.byteLength;) {
      const r = decodeRecord(buf, pos)
      if ('bad' in r) throw new Error(r.bad)
      if (r.record.id === id) out.push(`${r.record.kind} ${r.record.a} ${r.record.b}`)
      pos = r.next
    }
  }
  return out
}

t.test('direct: a whole block of a file with no record on disk is not journaled', async t => {
  const { dir, store, journal, c, file } = setup(t, { direct: true, segmentBytes: 3 * BS })
  await c.write(file, 0, fill(BS, 'a'))
  t.same(recordsOf(dir, file.id), [], 'stored, not recorded')
  await c.write(file, BS + 3, fill(2, 'b'))
  await c.write(file, 2 * BS, fill(BS, 'c'))
  t.same(recordsOf(dir, file.id), [`1 ${BS + 3} 2`, `1 ${2 * BS} ${BS}`], 'once a record of the file is on disk, whole blocks are recorded too')
  await c.flush(file)
  // Writes to another file fill segments until those holding this file's records are gone.
  const other = new Inode(3, attrOf(store.add('g'), 0))
  for (let i = 0; recordsOf(dir, file.id).length > 0; i++) {
    if (i === 100) throw new Error(`segments never went: ${journal.segments} left`)
    await c.write(other, i * 4, fill(4, 'o'))
    await c.flush(other)
  }
  t.same(recordsOf(dir, file.id), [], 'the segments holding them are deleted')
  await c.write(file, 3 * BS, fill(BS, 'd'))
  t.same(recordsOf(dir, file.id), [], 'then a whole block is stored directly again')
  await truncate(c, store, file, 3 * BS)
  t.same(recordsOf(dir, file.id), [`2 ${3 * BS} 0`], 'a truncation is recorded')
  await c.write(file, 3 * BS, fill(BS, 'e'))
  t.ok(recordsOf(dir, file.id).includes(`1 ${3 * BS} ${BS}`), 'and counts as a record: the next whole block is recorded')
  await c.flush(file)
  t.same(text(store.content(file.id)), 'a'.repeat(BS) + '...bb' + '.'.repeat(BS - 5) + 'c'.repeat(BS) + 'e'.repeat(BS))
})

t.test('with whole blocks stored directly, not journaled', async t => {
  await crashRuns(t, 200, async () => memCrashStore(), { direct: true })
})

t.test('with whole blocks stored directly, against the embedded store', async t => {
  await crashRuns(t, 15, async () => await localCrashStore(t), { direct: true })
})
