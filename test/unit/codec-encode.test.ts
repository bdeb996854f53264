// Golden replies, written out byte by byte as the kernel expects them, one
// commented row per struct field.
import t from 'tap'
import { errno as E } from '../../src/errors.ts'
import * as abi from '../../src/channel/abi.ts'
import * as e from '../../src/channel/encode.ts'

/** Hex rows into bytes; a token `00*44` repeats a byte. */
function hex (...rows: string[]): Uint8Array {
  const out: number[] = []
  for (const tok of rows.join(' ').split(/\s+/).filter(Boolean)) {
    const [b, n = '1'] = tok.split('*')
    for (let i = 0; i < Number(n); i++) out.push(parseInt(b, 16))
  }
  return Uint8Array.from(out)
}

const ATTR: e.Attr = {
  ino: 0x12_3456_789a, size: 2 ** 32 + 5, blocks: 1,
  atime: 1700000000, mtime: -86400, ctime: 1700000000,
  atimensec: 1, mtimensec: 2, ctimensec: 999999999,
  mode: 0o100644, nlink: 1, uid: 1000, gid: 1000, rdev: 0, blksize: 4096, flags: 0,
}

const ATTR_ROWS = [
  '9a 78 56 34 12 00 00 00', //  ino 0x123456789a
  '05 00 00 00 01 00 00 00', //  size 4 GiB + 5
  '01 00 00 00 00 00 00 00', //  blocks 1
  '00 f1 53 65 00 00 00 00', //  atime 1700000000
  '80 ae fe ff ff ff ff ff', //  mtime -86400: the day before the epoch
  '00 f1 53 65 00 00 00 00', //  ctime 1700000000
  '01 00 00 00', //              atimensec 1
  '02 00 00 00', //              mtimensec 2
  'ff c9 9a 3b', //              ctimensec 999999999
  'a4 81 00 00', //              mode 0100644
  '01 00 00 00', //              nlink 1
  'e8 03 00 00', //              uid 1000
  'e8 03 00 00', //              gid 1000
  '00 00 00 00', //              rdev 0
  '00 10 00 00', //              blksize 4096
  '00 00 00 00', //              flags 0
]

const ENTRY: e.EntryOut = {
  nodeid: 2, generation: 1, entry_valid: 1, attr_valid: 1, entry_valid_nsec: 500_000_000, attr_valid_nsec: 0, attr: ATTR,
}

const ENTRY_ROWS = [
  '02 00 00 00 00 00 00 00', //  nodeid 2
  '01 00 00 00 00 00 00 00', //  generation 1
  '01 00 00 00 00 00 00 00', //  entry_valid 1 s
  '01 00 00 00 00 00 00 00', //  attr_valid 1 s
  '00 65 cd 1d', //              entry_valid_nsec 500000000
  '00 00 00 00', //              attr_valid_nsec 0
  ...ATTR_ROWS,
]

t.test('error reply', async t => {
  t.same(e.replyError(7, E.ENOENT), hex(
    '10 00 00 00', //              len 16
    'fe ff ff ff', //              error -ENOENT
    '07 00 00 00 00 00 00 00', //  unique 7
  ))
  t.same(e.encodeOutHeader(16, 0, 2 ** 40 + 3), hex('10 00 00 00', '00 00 00 00', '03 00 00 00 00 01 00 00'))
})

t.test('replies to a resent request carry FUSE_UNIQUE_RESEND again', async t => {
  // decode.ts gives a resent request with unique 10 | bit 63 the unique -10.
  t.same(e.replyError(-10, E.EEXIST), hex(
    '10 00 00 00', //              len 16
    'ef ff ff ff', //              error -EEXIST
    '0a 00 00 00 00 00 00 80', //  unique 10 | FUSE_UNIQUE_RESEND
  ))
  t.same(e.replyHeaderFor(-10, 128), hex(
    '90 00 00 00', //              len 144: header + entry_out
    '00 00 00 00', //              error 0
    '0a 00 00 00 00 00 00 80', //  unique 10 | FUSE_UNIQUE_RESEND
  ))
  t.same(e.replyOf(-10, e.encodeEntryOut(ENTRY)), hex(
    '90 00 00 00', //              len 144
    '00 00 00 00', //              error 0
    '0a 00 00 00 00 00 00 80', //  unique 10 | FUSE_UNIQUE_RESEND
    ...ENTRY_ROWS,
  ))
  t.same(e.encodeOutHeader(16, 0, -(2 ** 40 + 3)), hex(
    '10 00 00 00', //              len 16
    '00 00 00 00', //              error 0
    '03 00 00 00 00 01 00 80', //  unique (2^40 + 3) | FUSE_UNIQUE_RESEND: the high bits below 63 kept
  ))
  t.same(e.replyError(-0, E.EIO).subarray(8), hex('00 00 00 00 00 00 00 80'), '-0: bit 63 alone')
  t.same(e.replyError(10, E.EEXIST).subarray(8), hex('0a 00 00 00 00 00 00 00'), 'not resent: no bit 63')
})

t.test('ENTRY_OUT with a full attr, in a reply', async t => {
  const body = e.encodeEntryOut(ENTRY)
  t.equal(body.length, abi.ENTRY_OUT_SIZE)
  t.same(body, hex(...ENTRY_ROWS))
  t.same(e.replyOf(3, body), hex(
    '90 00 00 00', //              len 144
    '00 00 00 00', //              error 0
    '03 00 00 00 00 00 00 00', //  unique 3
    ...ENTRY_ROWS,
  ))
})

t.test('ATTR_OUT, OPEN_OUT, CREATE_OUT', async t => {
  t.same(e.encodeAttrOut({ attr_valid: 2, attr_valid_nsec: 3, attr: ATTR }), hex(
    '02 00 00 00 00 00 00 00', //  attr_valid 2
    '03 00 00 00', //              attr_valid_nsec 3
    '00 00 00 00', //              dummy
    ...ATTR_ROWS,
  ))
  const OPEN_ROWS = [
    '2a 00 00 00 00 00 00 00', //  fh 42
    '03 00 00 00', //              open_flags FOPEN_DIRECT_IO|FOPEN_KEEP_CACHE
    '00 00 00 00', //              backing_id 0
  ]
  const open = { fh: 42, open_flags: abi.FOPEN_DIRECT_IO | abi.FOPEN_KEEP_CACHE }
  t.same(e.encodeOpenOut(open), hex(...OPEN_ROWS))
  t.same(e.encodeOpenOut({ ...open, backing_id: -1 }).subarray(12), hex('ff ff ff ff'))
  t.same(e.encodeCreateOut(ENTRY, open), hex(...ENTRY_ROWS, ...OPEN_ROWS))
})

t.test('INIT_OUT', async t => {
  t.same(e.encodeInitOut({
    major: 7, minor: 45, max_readahead: 131072,
    flags: abi.FUSE_ASYNC_READ | abi.FUSE_BIG_WRITES | abi.FUSE_PARALLEL_DIROPS | abi.FUSE_MAX_PAGES | abi.FUSE_INIT_EXT,
    flags2: abi.FUSE_HAS_RESEND_FLAGS2,
    max_background: 64, congestion_threshold: 48, max_write: 1 << 20, time_gran: 1,
    max_pages: 256, map_alignment: 0, max_stack_depth: 0,
  }), hex(
    '07 00 00 00', //  major 7
    '2d 00 00 00', //  minor 45
    '00 00 02 00', //  max_readahead 128 KiB
    '21 00 44 40', //  flags ASYNC_READ|BIG_WRITES|PARALLEL_DIROPS|MAX_PAGES|INIT_EXT
    '40 00', //        max_background 64
    '30 00', //        congestion_threshold 48
    '00 00 10 00', //  max_write 1 MiB
    '01 00 00 00', //  time_gran 1 ns
    '00 01', //        max_pages 256
    '00 00', //        map_alignment 0
    '80 00 00 00', //  flags2 FUSE_HAS_RESEND
    '00 00 00 00', //  max_stack_depth 0
    '00 00', //        request_timeout 0
    '00*22', //        unused[11]
  ))
})

t.test('small replies', async t => {
  t.same(e.replyHeaderFor(5, 4096), hex('10 10 00 00', '00 00 00 00', '05 00 00 00 00 00 00 00'), 'len counts the data')
  t.same(e.encodeWriteOut(4096), hex('00 10 00 00', '00 00 00 00'))
  t.same(e.encodeGetxattrOut(3), hex('03 00 00 00', '00 00 00 00'))
  t.same(e.encodeLseekOut(2 ** 33), hex('00 00 00 00 02 00 00 00'))
  t.same(e.encodeXattrNames(['user.a', 'user.b']), hex('75 73 65 72 2e 61 00', '75 73 65 72 2e 62 00'))
  t.same(e.encodeStatfsOut({ blocks: 1000, bfree: 900, bavail: 800, files: 70, ffree: 60, bsize: 4096, namelen: 255, frsize: 4096 }), hex(
    'e8 03 00 00 00 00 00 00', //  blocks 1000
    '84 03 00 00 00 00 00 00', //  bfree 900
    '20 03 00 00 00 00 00 00', //  bavail 800
    '46 00 00 00 00 00 00 00', //  files 70
    '3c 00 00 00 00 00 00 00', //  ffree 60
    '00 10 00 00', //              bsize 4096
    'ff 00 00 00', //              namelen 255
    '00 10 00 00', //              frsize 4096
    '00 00 00 00', //              padding
    '00*24', //                    spare[6]
  ))
})

t.test('READDIR buffer: two records, each padded to 8 bytes', async t => {
  const d = new e.DirentWriter(4096)
  t.ok(d.add(1, 1, abi.DT_DIR, '.'))
  t.ok(d.add(10, 2, abi.DT_REG, 'hello.txt'))
  t.equal(d.length, 2)
  t.same(d.finish(), hex(
    '01 00 00 00 00 00 00 00', //  ino 1
    '01 00 00 00 00 00 00 00', //  off 1: cookie of the next entry
    '01 00 00 00', //              namelen 1
    '04 00 00 00', //              type DT_DIR
    '2e 00 00 00 00 00 00 00', //  "." + 7 padding bytes
    '0a 00 00 00 00 00 00 00', //  ino 10
    '02 00 00 00 00 00 00 00', //  off 2
    '09 00 00 00', //              namelen 9
    '08 00 00 00', //              type DT_REG
    '68 65 6c 6c 6f 2e 74 78', //  "hello.tx"
    '74 00 00 00 00 00 00 00', //  "t" + 7 padding bytes
  ))
})

t.test('READDIRPLUS buffer: entry_out, then the dirent', async t => {
  const d = new e.DirentWriter(4096)
  t.ok(d.addPlus(ENTRY, 1, abi.DT_REG, 'f'))
  t.same(d.finish(), hex(
    ...ENTRY_ROWS,
    '9a 78 56 34 12 00 00 00', //  dirent ino: attr.ino
    '01 00 00 00 00 00 00 00', //  off 1
    '01 00 00 00', //              namelen 1
    '08 00 00 00', //              type DT_REG
    '66 00 00 00 00 00 00 00', //  "f" + 7 padding bytes
  ))
})

t.test('DirentWriter refuses a record that does not fit, and nothing of it is written', async t => {
  const d = new e.DirentWriter(64)
  t.ok(d.add(1, 1, abi.DT_DIR, '.')) //            32 bytes
  t.notOk(d.add(2, 2, abi.DT_REG, 'hello.txt'), 'needs 40, 32 left')
  t.equal(d.finish().length, 32)
  t.ok(d.add(3, 3, abi.DT_REG, 'abcdefgh'), 'exactly 32: no padding, fills the buffer')
  t.equal(d.finish().length, 64)
  t.notOk(d.addPlus(ENTRY, 4, abi.DT_REG, 'x'))
  t.equal(d.length, 2)
  const small = new e.DirentWriter(abi.FUSE_NAME_OFFSET_DIRENTPLUS + 7)
  t.notOk(small.addPlus(ENTRY, 1, abi.DT_REG, 'f'), 'direntplus of 153 rounds up to 160')
  t.same(small.finish(), new Uint8Array(0))
})

t.test('DirentWriter grows past its first buffer up to the capacity, records intact', async t => {
  for (const capacity of [1024 * 1024, 5000]) {
    const d = new e.DirentWriter(capacity)
    const names: string[] = []
    for (let i = 0; i < 2000; i++) {
      const name = `entry-${i}-${'x'.repeat(i % 40)}`
      if (!d.add(100 + i, i + 1, abi.DT_REG, name)) break
      names.push(name)
    }
    const out = d.finish()
    const view = new DataView(out.buffer, out.byteOffset, out.byteLength)
    let pos = 0
    let ok = true
    for (const [i, name] of names.entries()) {
      const namelen = view.getUint32(pos + 16, true)
      ok &&= view.getUint32(pos, true) === 100 + i && view.getUint32(pos + 8, true) === i + 1 &&
        Buffer.from(out.subarray(pos + 24, pos + 24 + namelen)).toString() === name
      pos += (24 + namelen + 7) & ~7
    }
    t.ok(ok, `capacity ${capacity}: every record decodes as written`)
    t.equal(pos, out.byteLength, 'and nothing else is in the buffer')
    t.equal(d.length, names.length)
    if (capacity === 5000) t.ok(names.length < 2000 && out.byteLength <= capacity, `refused at the capacity (${out.byteLength} bytes)`)
    else t.equal(names.length, 2000, 'all fit in 1 MiB')
  }
})

t.test('dirent names the kernel would reject are a programming error', async t => {
  const d = new e.DirentWriter(8192)
  t.throws(() => d.add(1, 1, abi.DT_REG, ''), RangeError)
  t.throws(() => d.add(1, 1, abi.DT_REG, 'a/b'), RangeError)
  t.throws(() => d.add(1, 1, abi.DT_REG, 'x'.repeat(1025)), RangeError)
  t.ok(d.add(1, 1, abi.DT_REG, 'é'.repeat(512)), '1024 UTF-8 bytes is the limit')
  const out = d.finish()
  t.equal(new DataView(out.buffer, out.byteOffset).getUint32(16, true), 1024, 'namelen counts bytes, not characters')
})

t.test('notifications: unique 0, error = notify code', async t => {
  t.same(e.encodeNotifyInvalEntry(1, 'foo'), hex(
    '24 00 00 00', //              len 36
    '03 00 00 00', //              error FUSE_NOTIFY_INVAL_ENTRY
    '00 00 00 00 00 00 00 00', //  unique 0
    '01 00 00 00 00 00 00 00', //  parent 1
    '03 00 00 00', //              namelen 3
    '00 00 00 00', //              flags 0
    '66 6f 6f 00', //              "foo\0": the kernel requires the NUL
  ))
  t.same(e.encodeNotifyDelete(1, 9, 'ab'), hex(
    '2b 00 00 00', //              len 43
    '06 00 00 00', //              error FUSE_NOTIFY_DELETE
    '00 00 00 00 00 00 00 00', //  unique 0
    '01 00 00 00 00 00 00 00', //  parent 1
    '09 00 00 00 00 00 00 00', //  child 9
    '02 00 00 00', //              namelen 2
    '00 00 00 00', //              padding
    '61 62 00', //                 "ab\0"
  ))
  t.same(e.encodeNotifyInvalInode(5, -1, 0), hex(
    '28 00 00 00', //              len 40
    '02 00 00 00', //              error FUSE_NOTIFY_INVAL_INODE
    '00 00 00 00 00 00 00 00', //  unique 0
    '05 00 00 00 00 00 00 00', //  ino (nodeid) 5
    'ff ff ff ff ff ff ff ff', //  off -1: attributes only
    '00 00 00 00 00 00 00 00', //  len 0
  ))
  t.same(e.encodeNotifyResend(), hex(
    '10 00 00 00', //              len 16: the header alone, no body
    '07 00 00 00', //              error FUSE_NOTIFY_RESEND
    '00 00 00 00 00 00 00 00', //  unique 0: a notification
  ))
  t.same(e.encodeNotifyInvalEntry(1, 'a', abi.FUSE_EXPIRE_ONLY).subarray(28, 32), hex('01 00 00 00'), 'flags slot')
})

t.test('Writer.alloc: every buffer zero-filled and its own, also when cut from the shared slab', async t => {
  const rng = (() => { let x = 12345; return () => (x = (x * 1103515245 + 12345) >>> 0) })()
  const pieces: Array<{ bytes: Uint8Array, mark: number }> = []
  let dirty = 0
  let missized = 0
  for (let i = 0; i < 5000; i++) {
    // Mostly reply-sized, some past the slab's largest piece (16 KiB).
    const size = i % 500 === 0 ? 20_000 + (rng() % 5000) : 1 + (rng() % 300)
    const w = e.Writer.alloc(size)
    if (w.bytes.byteLength !== size) missized++
    if (w.bytes.some(b => b !== 0)) dirty++
    // The first word through the cursor, which addresses the piece, not its slab.
    if (size >= 4) w.u32(0xffffffff)
    const mark = 1 + (i % 250)
    w.bytes.fill(mark, size >= 4 ? 4 : 0)
    pieces.push({ bytes: w.bytes, mark })
  }
  t.equal(missized, 0, 'each buffer of the size asked for')
  t.equal(dirty, 0, 'each buffer arrived zero-filled')
  const overwritten = pieces.filter(p => p.bytes.byteLength >= 4
    ? p.bytes.subarray(0, 4).some(b => b !== 0xff) || p.bytes.subarray(4).some(b => b !== p.mark)
    : p.bytes.some(b => b !== p.mark))
  t.equal(overwritten.length, 0, 'and no later buffer overlapped an earlier one')
})
