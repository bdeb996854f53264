// POSIX ACLs as the kernel passes them: golden bytes from tmpfs (getfattr -e
// hex after setfacl), and the rules of fs/posix_acl.c checked against what
// tmpfs showed for the same operations.
import t from 'tap'
import { errno as E, FsError } from '../../src/errors.ts'
import {
  GROUP, GROUP_OBJ, MASK, OTHER, USER, USER_OBJ, chmodAcl, createMasq, encodeAcl, isMinimal, modeFromAcl, parseAcl, type AclEntry,
} from '../../src/ops/posix-acl.ts'

const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'))
const NONE = 0xffffffff

// setfacl -m u:1000:rw,g:100:r on a file of mode 0640.
const FILE_ACL = '0200000001000600ffffffff02000600e803000004000400ffffffff080004006400000010000600ffffffff20000000ffffffff'
const FILE_ENTRIES: AclEntry[] = [
  { tag: USER_OBJ, perm: 6, id: NONE },
  { tag: USER, perm: 6, id: 1000 },
  { tag: GROUP_OBJ, perm: 4, id: NONE },
  { tag: GROUP, perm: 4, id: 100 },
  { tag: MASK, perm: 6, id: NONE },
  { tag: OTHER, perm: 0, id: NONE },
]
// setfacl -d -m u:1000:rwx,g::rx,o::- on a directory.
const DIR_DEFAULT = '0200000001000700ffffffff02000700e803000004000500ffffffff10000700ffffffff20000000ffffffff'

const S_IFREG = 0o100000
const S_IFDIR = 0o040000

t.test('the xattr form, both ways', async t => {
  t.same(parseAcl(hex(FILE_ACL)), FILE_ENTRIES)
  t.equal(Buffer.from(encodeAcl(FILE_ENTRIES)).toString('hex'), FILE_ACL)
  t.equal(Buffer.from(encodeAcl(parseAcl(hex(DIR_DEFAULT)))).toString('hex'), DIR_DEFAULT)
})

t.test('the mode mirrors the access ACL, the mask standing for the group', async t => {
  t.equal(modeFromAcl(FILE_ENTRIES, S_IFREG | 0o640), S_IFREG | 0o660)
  t.equal(modeFromAcl(FILE_ENTRIES, S_IFREG | 0o4777), S_IFREG | 0o4660, 'special bits and type kept')
  const minimal = [{ tag: USER_OBJ, perm: 7, id: NONE }, { tag: GROUP_OBJ, perm: 5, id: NONE }, { tag: OTHER, perm: 1, id: NONE }]
  t.equal(modeFromAcl(minimal, S_IFREG), S_IFREG | 0o751, 'without a mask, the owning group')
  t.ok(isMinimal(minimal), 'three base entries say no more than the mode')
  t.notOk(isMinimal(FILE_ENTRIES))
  t.notOk(isMinimal([...minimal.slice(0, 2), { tag: MASK, perm: 5, id: NONE }, minimal[2]]), 'a mask is more')
})

t.test('chmod rewrites the base entries, the mask for the group', async t => {
  // tmpfs, chmod 604 of that file: user::rw-, the named ones kept, mask::---, other::r--.
  t.same(chmodAcl(FILE_ENTRIES, 0o604).map(e => e.perm), [6, 6, 4, 4, 0, 4])
  const minimal = [{ tag: USER_OBJ, perm: 7, id: NONE }, { tag: GROUP_OBJ, perm: 5, id: NONE }, { tag: OTHER, perm: 1, id: NONE }]
  t.same(chmodAcl(minimal, 0o640).map(e => e.perm), [6, 4, 0], 'without a mask, the owning group')
})

t.test('a new object inherits the default ACL, cut down by its mode', async t => {
  const inherited = parseAcl(hex(DIR_DEFAULT))
  // tmpfs: touch d/new gave -rw-rw---- with user::rw-, user:1000:rwx, group::r-x, mask::rw-, other::---.
  const file = createMasq(inherited, S_IFREG | 0o666)
  t.equal(file.mode, S_IFREG | 0o660)
  t.same(file.access?.map(e => e.perm), [6, 7, 5, 6, 0])
  // mkdir -m 700 d/priv: drwx------, mask::---.
  const dir = createMasq(inherited, S_IFDIR | 0o700)
  t.equal(dir.mode, S_IFDIR | 0o700)
  t.same(dir.access?.map(e => e.perm), [7, 7, 5, 0, 0])
  t.same(inherited.map(e => e.perm), [7, 7, 5, 7, 0], 'the directory\'s ACL is left as it was')
  const minimal = [{ tag: USER_OBJ, perm: 7, id: NONE }, { tag: GROUP_OBJ, perm: 5, id: NONE }, { tag: OTHER, perm: 5, id: NONE }]
  t.same(createMasq(minimal, S_IFREG | 0o666), { mode: S_IFREG | 0o644, access: undefined }, 'base entries only: the mode, no ACL')
  t.equal(createMasq(minimal, S_IFREG | 0o4777).mode, S_IFREG | 0o4755, 'set-user-ID kept')
})

t.test('what posix_acl_valid refuses is EINVAL', async t => {
  const fails = (bytes: Uint8Array, errno: number, why: string): void => {
    try {
      parseAcl(bytes)
      t.fail(`${why}: accepted`)
    } catch (err) {
      t.ok(err instanceof FsError && err.errno === errno, why, { err })
    }
  }
  const bad = (entries: AclEntry[], why: string): void => { fails(encodeAcl(entries), E.EINVAL, why) }
  const base = (perm = 6): AclEntry[] => [{ tag: USER_OBJ, perm, id: NONE }, { tag: GROUP_OBJ, perm: 4, id: NONE }, { tag: OTHER, perm: 0, id: NONE }]
  t.same(parseAcl(encodeAcl(base())), base(), 'the base entries alone are valid')
  bad(base(8), 'a permission above rwx')
  bad([base()[0], { tag: USER, perm: 4, id: 5 }, ...base().slice(1)], 'a named entry without a mask')
  bad([base()[1], base()[0], base()[2]], 'out of order')
  bad([base()[0], ...base()], 'the owner twice')
  bad(base().slice(0, 2), 'no other entry')
  bad([base()[0], { tag: USER, perm: 4, id: 5 }, { tag: USER, perm: 4, id: 5 }, base()[1], { tag: MASK, perm: 4, id: NONE }, base()[2]], 'a user named twice')
  bad([...base().slice(0, 2), { tag: 0x40, perm: 4, id: NONE }, base()[2]], 'an unknown tag')
  fails(hex(FILE_ACL).subarray(0, 10), E.EINVAL, 'a torn entry')
  fails(hex('01000000' + FILE_ACL.slice(8)), E.EOPNOTSUPP, 'another version')
})
