// The redo log's records (src/store/local/redo.ts): bytes pinned, every
// argument type round trips, and reading stops where a record is torn,
// damaged or out of sequence.
import { mkdtempSync, readFileSync, rmSync, statSync, truncateSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { RedoLog, decodeRecords, encodeRecord, readRedo, redoPath, redoTokens } from '../../src/store/local/redo.ts'

const copy = (b: Buffer): Buffer => Buffer.from(b)

t.test('a record, byte by byte', async t => {
  const got = copy(encodeRecord({ seq: 7, steps: [['deleteEntry', ['p', 'ä']], ['addNlink', [-1, null]]] }))
  const payload = Buffer.from([
    2, 0, 0, 0, // two steps
    11, ...Buffer.from('deleteEntry', 'latin1'), 2, // name, two arguments
    2, 1, 0, 0, 0, 0x70, // text 'p': tag, u32 length, UTF-8
    2, 2, 0, 0, 0, 0xc3, 0xa4, // text 'ä'
    8, ...Buffer.from('addNlink', 'latin1'), 2,
    1, 0, 0, 0, 0, 0, 0, 0xf0, 0xbf, // number -1 as f64
    0, // null
  ])
  t.same(got.subarray(0, 4), Buffer.from('redo', 'latin1'), 'magic "redo"')
  t.equal(got.readUInt32LE(4), payload.byteLength, 'payload length')
  t.equal(got.readDoubleLE(8), 7, 'seq')
  t.same(got.subarray(20), payload, 'payload')
  t.equal(got.byteLength, 20 + payload.byteLength, 'a 20-byte header')
})

t.test('every argument type round trips', async t => {
  const shared = new Uint8Array(new SharedArrayBuffer(8))
  shared.set([1, 2, 3, 4, 5, 6, 7, 8])
  const steps: Array<[string, unknown[]]> = [
    ['insertObject', ['id', 12, 1.5, -0, null, 2n ** 60n, 'ünï', '']],
    ['insertBlock', ['id', 0, new Uint8Array([9, 8, 7]), shared.subarray(2, 5), new Uint8Array(0)]],
  ]
  const [r] = decodeRecords(copy(encodeRecord({ seq: 1, steps })))
  t.equal(r.seq, 1)
  t.same(r.steps[0], steps[0], 'numbers, null, bigint, text')
  t.same(r.steps[1][1].map(a => typeof a === 'string' || typeof a === 'number' ? a : [...(a as Uint8Array)]),
    ['id', 0, [9, 8, 7], [3, 4, 5], []], 'bytes, also a view of shared memory')
  t.throws(() => encodeRecord({ seq: 1, steps: [['x', [{}]]] }), /cannot hold/, 'anything else is refused')
})

t.test('reading stops at a torn, damaged or out-of-sequence record', async t => {
  const rec = (seq: number): Buffer => copy(encodeRecord({ seq, steps: [['touchCtime', [seq, 0, 'id']]] }))
  const three = Buffer.concat([rec(4), rec(5), rec(6)])
  t.same(decodeRecords(three).map(r => r.seq), [4, 5, 6], 'whole records in sequence')
  t.same(decodeRecords(three.subarray(0, three.byteLength - 3)).map(r => r.seq), [4, 5], 'a torn last record')
  const bad = Buffer.from(three)
  bad[rec(4).byteLength + 25] ^= 1
  t.same(decodeRecords(bad).map(r => r.seq), [4], 'a bad crc ends it')
  t.same(decodeRecords(Buffer.concat([rec(4), rec(5), rec(2), rec(3)])).map(r => r.seq), [4, 5], 'an older round left beyond the end')
  t.same(decodeRecords(Buffer.alloc(100)), [], 'zeros')
})

t.test('a log rewrites from its start after a commit, and is gone when removed', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'objfs-redo-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const log = new RedoLog(dir, 'tok')
  t.equal(log.path, redoPath(dir, 'tok'))
  t.same(redoTokens(dir), ['tok'])
  for (let seq = 1; seq <= 3; seq++) log.append({ seq, steps: [['deleteXattrs', [`object-${seq}`]]] })
  t.same(log.records().map(r => r.seq), [1, 2, 3])
  const size = statSync(log.path).size
  log.restart()
  t.same(log.records(), [], 'nothing written since the restart')
  log.append({ seq: 4, steps: [['deleteXattrs', ['x']]] })
  t.equal(statSync(log.path).size, size, 'written over, the file does not grow')
  t.same(readRedo(log.path).map(r => r.seq), [4], 'what another process reads: the round, not the older one behind it')
  truncateSync(log.path, 10)
  t.same(readRedo(log.path), [], 'a record cut short is not read')
  log.remove()
  t.same(redoTokens(dir), [], 'removed')
  t.throws(() => readFileSync(log.path))
})
