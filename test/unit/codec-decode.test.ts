// Golden requests, written out byte by byte as the kernel sends them, one
// commented row per struct field (fuser's request tests do the same).
import t from 'tap'
import { toErrno, errno as E } from '../../src/errors.ts'
import * as abi from '../../src/channel/abi.ts'
import * as d from '../../src/channel/decode.ts'

/** Hex rows into bytes; a token `00*44` repeats a byte. */
function hex (...rows: string[]): Uint8Array {
  const out: number[] = []
  for (const tok of rows.join(' ').split(/\s+/).filter(Boolean)) {
    const [b, n = '1'] = tok.split('*')
    for (let i = 0; i < Number(n); i++) out.push(parseInt(b, 16))
  }
  return Uint8Array.from(out)
}

/** What the dispatcher does: header, then the body minus trailing extensions. */
function request (buf: Uint8Array): { h: d.InHeader, body: Uint8Array } {
  const h = d.decodeInHeader(buf)
  return { h, body: buf.subarray(abi.IN_HEADER_SIZE, h.len - h.total_extlen * 8) }
}

const LOOKUP = hex(
  '2c 00 00 00', //              len 44
  '01 00 00 00', //              opcode FUSE_LOOKUP
  '02 00 00 00 00 00 00 00', //  unique 2
  '01 00 00 00 00 00 00 00', //  nodeid 1 (root)
  'e8 03 00 00', //              uid 1000
  '64 00 00 00', //              gid 100
  'd2 04 00 00', //              pid 1234
  '00 00 00 00', //              total_extlen 0, padding
  '66 6f 6f 00', //              "foo\0"
)

t.test('LOOKUP', async t => {
  const { h, body } = request(LOOKUP)
  t.same(h, { len: 44, opcode: abi.FUSE_LOOKUP, unique: 2, nodeid: 1, uid: 1000, gid: 100, pid: 1234, total_extlen: 0 })
  t.same(d.decodeName(body), { name: 'foo' })
  t.equal(abi.opcodeName(h.opcode), 'LOOKUP')
  t.equal(abi.opcodeName(999), 'OPCODE_999')
})

t.test('a resent request: FUSE_UNIQUE_RESEND in unique decodes as a negative unique, low bits intact', async t => {
  const { h, body } = request(hex(
    '32 00 00 00', //              len 50
    '09 00 00 00', //              opcode FUSE_MKDIR
    '0a 00 00 00 00 00 00 80', //  unique 10 | FUSE_UNIQUE_RESEND (bit 63)
    '01 00 00 00 00 00 00 00', //  nodeid 1 (root)
    'e8 03 00 00', //              uid 1000
    '64 00 00 00', //              gid 100
    'd2 04 00 00', //              pid 1234
    '00 00 00 00', //              total_extlen 0, padding
    'ed 01 00 00', //              mode 0755
    '12 00 00 00', //              umask 022
    '64 00', //                    "d\0"
  ))
  t.same(h, { len: 50, opcode: abi.FUSE_MKDIR, unique: -10, nodeid: 1, uid: 1000, gid: 100, pid: 1234, total_extlen: 0 })
  t.ok(d.isResent(h.unique))
  t.same(d.decodeMkdirIn(body), { mode: 0o755, umask: 0o22, name: 'd' })
  t.equal(abi.FUSE_UNIQUE_RESEND, 1n << 63n)

  // High bits below bit 63 stay in the value: bit 63 is the only one taken.
  const big = hex('28 00 00 00', '03 00 00 00', '04 00 00 00 01 00 00 80', '01 00 00 00 00 00 00 00', '00*16')
  t.equal(d.decodeInHeader(big).unique, -(2 ** 32 + 4), '(2^32 + 4) | bit 63')
  // Without the bit, as every request not resent: positive, as before.
  t.equal(d.decodeInHeader(LOOKUP).unique, 2)
  t.notOk(d.isResent(2))
  t.ok(d.isResent(-0), 'bit 63 over a zero rest still counts as resent')

  // FUSE_INTERRUPT naming a resent request carries the bit in fuse_interrupt_in.unique.
  t.same(d.decodeInterruptIn(hex(
    '0a 00 00 00 00 00 00 80', //  unique 10 | FUSE_UNIQUE_RESEND
  )), { unique: -10 })
})

t.test('INIT, 7.45 form with flags2', async t => {
  const { h, body } = request(hex(
    '68 00 00 00', //              len 104
    '1a 00 00 00', //              opcode FUSE_INIT
    '01 00 00 00 00 00 00 00', //  unique 1
    '00 00 00 00 00 00 00 00', //  nodeid 0
    '00*12', //                    uid, gid, pid 0
    '00 00 00 00', //              total_extlen 0, padding
    '07 00 00 00', //              major 7
    '2d 00 00 00', //              minor 45
    '00 00 02 00', //              max_readahead 128 KiB
    'fb ff ff 7f', //              flags: everything but FUSE_FILE_OPS and FUSE_INIT_RESERVED
    'bf 07 00 00', //              flags2: bits 0-5, 7-10
    '00*44', //                    unused[11]
  ))
  t.equal(h.opcode, abi.FUSE_INIT)
  t.same(d.decodeInitIn(body), { major: 7, minor: 45, max_readahead: 131072, flags: 0x7ffffffb, flags2: 0x7bf })
  t.ok(d.decodeInitIn(body).flags & abi.FUSE_INIT_EXT)
})

t.test('INIT, 16-byte form before 7.36 reads flags2 as 0', async t => {
  const body = hex(
    '07 00 00 00', // major 7
    '1f 00 00 00', // minor 31
    '00 00 02 00', // max_readahead 128 KiB
    '01 00 00 00', // flags FUSE_ASYNC_READ
  )
  t.same(d.decodeInitIn(body), { major: 7, minor: 31, max_readahead: 131072, flags: 1, flags2: 0 })
  t.throws(() => d.decodeInitIn(body.subarray(0, 15)), d.DecodeError)
})

const SETATTR_BODY = hex(
  '68 02 00 00', //              valid FATTR_SIZE|FATTR_MTIME|FATTR_FH|FATTR_LOCKOWNER
  '00 00 00 00', //              padding
  '07 00 00 00 00 00 00 00', //  fh 7
  '00 00 00 00 01 00 00 00', //  size 4 GiB
  '10 32 54 76 98 ba dc fe', //  lock_owner 0xfedcba9876543210
  '00*8', //                     atime 0
  'ff ff ff ff ff ff ff ff', //  mtime -1: one second before the epoch
  '00 00 00 65 00 00 00 00', //  ctime 1694498816
  '00 00 00 00', //              atimensec 0
  'ff c9 9a 3b', //              mtimensec 999999999
  '00 00 00 00', //              ctimensec 0
  'a4 81 00 00', //              mode 0100644
  '00 00 00 00', //              unused4
  'e8 03 00 00', //              uid 1000
  'e9 03 00 00', //              gid 1001
  '00 00 00 00', //              unused5
)

t.test('SETATTR', async t => {
  t.equal(SETATTR_BODY.length, abi.SETATTR_IN_SIZE)
  t.same(d.decodeSetattrIn(SETATTR_BODY), {
    valid: abi.FATTR_SIZE | abi.FATTR_MTIME | abi.FATTR_FH | abi.FATTR_LOCKOWNER,
    fh: 7, size: 2 ** 32, lock_owner: 0xfedcba9876543210n,
    atime: 0, mtime: -1, ctime: 1694498816, atimensec: 0, mtimensec: 999999999, ctimensec: 0,
    mode: 0o100644, uid: 1000, gid: 1001,
  })
  t.throws(() => d.decodeSetattrIn(SETATTR_BODY.subarray(0, 87)), d.DecodeError, 'truncated body')
})

const WRITE = hex(
  '55 00 00 00', //              len 85
  '10 00 00 00', //              opcode FUSE_WRITE
  '0a 00 00 00 00 00 00 00', //  unique 10
  '05 00 00 00 00 00 00 00', //  nodeid 5
  '00*12', //                    uid, gid, pid
  '00 00 00 00', //              total_extlen 0, padding
  '03 00 00 00 00 00 00 00', //  fh 3
  '00 10 00 00 00 00 00 00', //  offset 4096
  '05 00 00 00', //              size 5
  '02 00 00 00', //              write_flags FUSE_WRITE_LOCKOWNER
  '88 77 66 55 44 33 22 11', //  lock_owner
  '01 80 00 00', //              flags O_WRONLY|O_LARGEFILE
  '00 00 00 00', //              padding
  '68 65 6c 6c 6f', //           data "hello"
)

t.test('WRITE: data is a zero-copy view of exactly size bytes', async t => {
  const { body } = request(WRITE)
  const w = d.decodeWriteIn(body)
  t.same({ ...w, data: undefined }, {
    fh: 3, offset: 4096, size: 5, write_flags: abi.FUSE_WRITE_LOCKOWNER,
    lock_owner: 0x1122334455667788n, flags: 0x8001, data: undefined,
  })
  t.equal(Buffer.from(w.data).toString(), 'hello')
  t.equal(w.data.buffer, WRITE.buffer, 'same ArrayBuffer')
  t.equal(w.data.byteOffset, 80, 'right after header and write_in')
  const short = new Uint8Array(body.subarray(0, body.length - 1))
  t.throws(() => d.decodeWriteIn(short), d.DecodeError, 'size 5 with 4 data bytes')
})

t.test('READ', async t => {
  t.same(d.decodeReadIn(hex(
    '09 00 00 00 00 00 00 00', //  fh 9
    '00 00 00 00 02 00 00 00', //  offset 8 GiB
    '00 00 02 00', //              size 128 KiB
    '02 00 00 00', //              read_flags FUSE_READ_LOCKOWNER
    '10 32 54 76 98 ba dc fe', //  lock_owner
    '00 80 00 00', //              flags O_RDONLY|O_LARGEFILE
    '00 00 00 00', //              padding
  )), { fh: 9, offset: 2 ** 33, size: 131072, read_flags: abi.FUSE_READ_LOCKOWNER, lock_owner: 0xfedcba9876543210n, flags: 0x8000 })
})

t.test('RENAME2', async t => {
  const { h, body } = request(hex(
    '3c 00 00 00', //              len 60
    '2d 00 00 00', //              opcode FUSE_RENAME2
    '04 00 00 00 00 00 00 00', //  unique 4
    '02 00 00 00 00 00 00 00', //  nodeid 2: the old parent
    '00*12', //                    uid, gid, pid
    '00 00 00 00', //              total_extlen 0, padding
    '05 00 00 00 00 00 00 00', //  newdir 5
    '01 00 00 00', //              flags RENAME_NOREPLACE
    '00 00 00 00', //              padding
    '61 00', //                    oldname "a\0"
    '62 00', //                    newname "b\0"
  ))
  t.equal(h.nodeid, 2)
  t.same(d.decodeRename2In(body), { newdir: 5, flags: abi.RENAME_NOREPLACE, oldname: 'a', newname: 'b' })
  t.same(d.decodeRenameIn(hex('05 00 00 00 00 00 00 00', '61 00 62 00')), { newdir: 5, oldname: 'a', newname: 'b' })
})

t.test('SYMLINK: entry name first, then the target', async t => {
  const body = hex(
    '6c 69 6e 6b 00', //           name "link\0"
    '2f 74 6d 70 2f 78 00', //     target "/tmp/x\0"
  )
  t.same(d.decodeSymlinkIn(body), { name: 'link', target: '/tmp/x' })
  t.throws(() => d.decodeSymlinkIn(body.subarray(0, body.length - 1)), d.DecodeError, 'target lacks NUL')
})

t.test('SETXATTR with FUSE_SETXATTR_EXT: 16-byte struct with setxattr_flags', async t => {
  const buf = hex(
    '03 00 00 00', //              size 3
    '02 00 00 00', //              flags XATTR_REPLACE
    '01 00 00 00', //              setxattr_flags FUSE_SETXATTR_ACL_KILL_SGID
    '00 00 00 00', //              padding
    '73 79 73 74 65 6d 2e 70 6f 73 69 78 5f 61 63 6c 5f 61 63 63 65 73 73 00', // "system.posix_acl_access\0"
    '78 79 7a', //                 value "xyz"
  )
  const x = d.decodeSetxattrIn(buf, { setxattrExt: true })
  t.same({ ...x, value: [...x.value] }, { size: 3, flags: abi.XATTR_REPLACE, setxattr_flags: abi.FUSE_SETXATTR_ACL_KILL_SGID, name: 'system.posix_acl_access', value: [0x78, 0x79, 0x7a] })
  t.throws(() => d.decodeSetxattrIn(buf.subarray(0, 12), { setxattrExt: true }), d.DecodeError, 'struct cut short')
  // The same bytes read as the compat struct: the name would start inside setxattr_flags.
  t.not(d.decodeSetxattrIn(buf.subarray(0, 16 + 24 + 3), { setxattrExt: false }).name, 'system.posix_acl_access', 'the negotiation decides how it reads')
})

t.test('SETXATTR: compat 8-byte struct, value is a view', async t => {
  const buf = hex(
    '03 00 00 00', //              size 3
    '01 00 00 00', //              flags XATTR_CREATE
    '75 73 65 72 2e 61 00', //     name "user.a\0"
    '78 79 7a', //                 value "xyz"
  )
  const x = d.decodeSetxattrIn(buf, { setxattrExt: false })
  t.same({ ...x, value: [...x.value] }, { size: 3, flags: abi.XATTR_CREATE, setxattr_flags: 0, name: 'user.a', value: [0x78, 0x79, 0x7a] })
  t.equal(x.value.buffer, buf.buffer)
  t.throws(() => d.decodeSetxattrIn(buf.subarray(0, buf.length - 1), { setxattrExt: false }), d.DecodeError, 'value shorter than size')
  t.same(d.decodeGetxattrIn(hex('00 01 00 00', '00 00 00 00', '75 73 65 72 2e 61 00')), { size: 256, name: 'user.a' })
  t.same(d.decodeListxattrIn(hex('00 00 00 00', '00 00 00 00')), { size: 0 })
})

t.test('BATCH_FORGET', async t => {
  const body = hex(
    '02 00 00 00', //              count 2
    '00 00 00 00', //              dummy
    '05 00 00 00 00 00 00 00', //  [0] nodeid 5
    '01 00 00 00 00 00 00 00', //      nlookup 1
    '06 00 00 00 00 00 00 00', //  [1] nodeid 6
    '03 00 00 00 00 00 00 00', //      nlookup 3
  )
  t.same(d.decodeBatchForgetIn(body), { count: 2, forgets: [{ nodeid: 5, nlookup: 1 }, { nodeid: 6, nlookup: 3 }] })
  const lying = new Uint8Array(body)
  lying[0] = 3
  t.throws(() => d.decodeBatchForgetIn(lying), d.DecodeError, 'count 3 with room for 2')
  t.same(d.decodeForgetIn(hex('02 00 00 00 00 00 00 00')), { nlookup: 2 })
})

const CREATE_WITH_EXT = hex(
  '50 00 00 00', //              len 80
  '23 00 00 00', //              opcode FUSE_CREATE
  '08 00 00 00 00 00 00 00', //  unique 8
  '01 00 00 00 00 00 00 00', //  nodeid 1
  'e8 03 00 00', //              uid 1000
  'e8 03 00 00', //              gid 1000
  'd2 04 00 00', //              pid 1234
  '02 00 00 00', //              total_extlen 2 (16 bytes), padding
  '41 02 00 00', //              flags O_WRONLY|O_CREAT|O_TRUNC
  'a4 81 00 00', //              mode 0100644
  '12 00 00 00', //              umask 022
  '00 00 00 00', //              open_flags 0
  '6e 65 77 2e 74 78 74 00', //  name "new.txt\0"
  '10 00 00 00 20 00 00 00', //  ext header: size 16, type FUSE_EXT_GROUPS
  '01 00 00 00 64 00 00 00', //  nr_groups 1, groups[0] 100
)

t.test('CREATE, with a trailing extension the body excludes', async t => {
  const { h, body } = request(CREATE_WITH_EXT)
  t.equal(h.total_extlen, 2)
  t.equal(body.length, 16 + 8)
  t.same(d.decodeCreateIn(body), { flags: 0x241, mode: 0o100644, umask: 0o022, open_flags: 0, name: 'new.txt' })
})

t.test('COPY_FILE_RANGE', async t => {
  t.same(d.decodeCopyFileRangeIn(hex(
    '01 00 00 00 00 00 00 00', //  fh_in 1
    '00 00 00 00 00 00 00 00', //  off_in 0
    '07 00 00 00 00 00 00 00', //  nodeid_out 7
    '02 00 00 00 00 00 00 00', //  fh_out 2
    '00 10 00 00 00 00 00 00', //  off_out 4096
    '00 00 10 00 00 00 00 00', //  len 1 MiB
    '00 00 00 00 00 00 00 00', //  flags 0
  )), { fh_in: 1, off_in: 0, nodeid_out: 7, fh_out: 2, off_out: 4096, len: 1048576, flags: 0 })
})

t.test('small fixed structs', async t => {
  t.same(d.decodeGetattrIn(hex('01 00 00 00', '00 00 00 00', '04 00 00 00 00 00 00 00')), { getattr_flags: abi.FUSE_GETATTR_FH, fh: 4 })
  t.same(d.decodeMknodIn(hex('00 10 00 00', '00 00 00 00', '12 00 00 00', '00 00 00 00', '70 00')), { mode: abi.S_IFIFO, rdev: 0, umask: 0o22, name: 'p' })
  t.same(d.decodeMkdirIn(hex('ed 01 00 00', '12 00 00 00', '64 00')), { mode: 0o755, umask: 0o22, name: 'd' })
  t.same(d.decodeLinkIn(hex('09 00 00 00 00 00 00 00', '68 00')), { oldnodeid: 9, newname: 'h' })
  t.same(d.decodeOpenIn(hex('02 80 00 00', '00 00 00 00')), { flags: 0x8002, open_flags: 0 })
  t.same(d.decodeReleaseIn(hex('03 00 00 00 00 00 00 00', '01 80 00 00', '01 00 00 00', '01 00 00 00 00 00 00 00')), { fh: 3, flags: 0x8001, release_flags: abi.FUSE_RELEASE_FLUSH, lock_owner: 1n })
  t.same(d.decodeFlushIn(hex('03 00 00 00 00 00 00 00', '00*8', 'ff ff ff ff ff ff ff ff')), { fh: 3, lock_owner: 2n ** 64n - 1n })
  t.same(d.decodeFsyncIn(hex('03 00 00 00 00 00 00 00', '01 00 00 00', '00 00 00 00')), { fh: 3, fsync_flags: abi.FUSE_FSYNC_FDATASYNC })
  t.same(d.decodeAccessIn(hex('04 00 00 00', '00 00 00 00')), { mask: 4 })
  t.same(d.decodeInterruptIn(hex('0a 00 00 00 00 00 00 00')), { unique: 10 })
  t.same(d.decodeFallocateIn(hex('03 00 00 00 00 00 00 00', '00 10 00 00 00 00 00 00', '00 20 00 00 00 00 00 00', '03 00 00 00', '00 00 00 00')), { fh: 3, offset: 4096, length: 8192, mode: abi.FALLOC_FL_KEEP_SIZE | abi.FALLOC_FL_PUNCH_HOLE })
  t.same(d.decodeLseekIn(hex('03 00 00 00 00 00 00 00', '00 10 00 00 00 00 00 00', '03 00 00 00', '00 00 00 00')), { fh: 3, offset: 4096, whence: abi.SEEK_DATA })
  t.same(d.decodeStatxIn(hex('00 00 00 00', '00 00 00 00', '03 00 00 00 00 00 00 00', '00 00 00 00', 'ff 0f 00 00')), { getattr_flags: 0, fh: 3, sx_flags: 0, sx_mask: 0xfff })
})

t.test('names: empty is legal for the codec, non-UTF-8 bytes become U+FFFD', async t => {
  t.same(d.decodeName(hex('00')), { name: '' })
  t.same(d.decodeName(hex('61 ff 62 00')), { name: 'a\ufffdb' })
  t.same(d.decodeName(hex('c3 a9 00')), { name: 'é' })
})

t.test('failures are DecodeErrors that map to EIO', async t => {
  const cases: Array<[string, () => unknown]> = [
    ['truncated header', () => d.decodeInHeader(LOOKUP.subarray(0, 39))],
    ['len beyond the bytes read', () => d.decodeInHeader(LOOKUP.subarray(0, 43))],
    ['len below the header size', () => d.decodeInHeader(hex('27 00 00 00', '00*36'))],
    ['extensions overrun len', () => d.decodeInHeader(hex('28 00 00 00', '00*32', '01 00 00 00'))],
    ['name lacks its NUL', () => d.decodeName(hex('66 6f 6f'))],
    ['truncated fixed struct', () => d.decodeReadIn(new Uint8Array(abi.READ_IN_SIZE - 1))],
    ['struct present, name missing', () => d.decodeCreateIn(new Uint8Array(abi.CREATE_IN_SIZE))],
  ]
  for (const [what, fn] of cases) {
    const err = t.throws(fn, d.DecodeError, what) as d.DecodeError
    t.equal(err.code, 'OBJFS_ERR_PROTOCOL', `${what}: code`)
    t.equal(toErrno(err), E.EIO, `${what}: errno`)
  }
})
