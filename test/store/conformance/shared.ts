// Conformance: xattrs, statfs, and several instances on one store (reopen,
// visibility between instances, concurrent writers).
import type { Test } from 'tap'
import { errno as E } from '../../../src/errors.ts'
import { XATTR_CREATE, XATTR_REPLACE } from '../../../src/store/types.ts'
import { LONG_AGO, file, mkdir, must, pattern, rejectsErrno, storeTest, type StoreFactory } from './helpers.ts'

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text)

export function sharedTests (t: Test, make: StoreFactory): void {
  storeTest(t, make, 'xattrs', async (s, _fx, t) => {
    const root = await s.root()
    const f = await file(s, root.id, 'f')
    t.same(await s.listxattr(f.id), [], 'none at first')
    await rejectsErrno(t, s.getxattr(f.id, 'user.a'), E.ENODATA, 'getxattr of an absent name')
    const binary = new Uint8Array([0, 1, 0, 255])
    await s.setxattr(f.id, 'user.a', binary, 0)
    t.same(await s.getxattr(f.id, 'user.a'), binary, 'binary value round-trips')
    await s.setxattr(f.id, 'user.empty', new Uint8Array(0), 0)
    t.same(await s.getxattr(f.id, 'user.empty'), new Uint8Array(0), 'an empty value is a value')
    t.same((await s.listxattr(f.id)).sort(), ['user.a', 'user.empty'], 'listxattr names both')
    await rejectsErrno(t, s.setxattr(f.id, 'user.a', bytes('x'), XATTR_CREATE), E.EEXIST, 'XATTR_CREATE on an existing name')
    await rejectsErrno(t, s.setxattr(f.id, 'user.b', bytes('x'), XATTR_REPLACE), E.ENODATA, 'XATTR_REPLACE on an absent name')
    await s.setxattr(f.id, 'user.a', bytes('new'), XATTR_REPLACE)
    t.same(await s.getxattr(f.id, 'user.a'), bytes('new'), 'XATTR_REPLACE replaces')
    await s.setxattr(f.id, 'user.b', bytes('b'), XATTR_CREATE)
    t.same(await s.getxattr(f.id, 'user.b'), bytes('b'), 'XATTR_CREATE creates')
    await s.removexattr(f.id, 'user.a')
    await rejectsErrno(t, s.getxattr(f.id, 'user.a'), E.ENODATA, 'gone after removexattr')
    await rejectsErrno(t, s.removexattr(f.id, 'user.a'), E.ENODATA, 'removexattr of an absent name')
    const d = await mkdir(s, root.id, 'd')
    await s.setxattr(d.id, 'user.dir', bytes('yes'), 0)
    t.same(await s.listxattr(d.id), ['user.dir'], 'directories carry xattrs of their own')
  })

  storeTest(t, make, 'statfs', async (s, _fx, t) => {
    const st = await s.statfs()
    for (const [k, v] of Object.entries(st)) t.ok(Number.isSafeInteger(v) && v >= 0, `${k} is a count`)
    t.ok(st.bsize > 0, 'bsize positive')
    t.ok(st.bfree <= st.blocks && st.bavail <= st.bfree, 'free <= total')
    t.ok(st.ffree <= st.files, 'free inodes <= inodes')
    t.equal(st.namelen, 255, 'namelen is NAME_MAX')
  })

  storeTest(t, make, 'reopen keeps names, inos and data', async (s, fx, t) => {
    const root = await s.root()
    const d = await mkdir(s, root.id, 'd')
    const f = await file(s, d.id, 'f')
    await s.writeBlocks(f.id, [{ index: 0, data: pattern(300, 5) }], 300, LONG_AGO)
    await s.setxattr(f.id, 'user.k', bytes('v'), 0)
    await s.close()
    const again = await fx.openAgain()
    t.equal(again.blockSize, s.blockSize, 'same block size')
    const root2 = await again.root()
    t.equal(root2.ino, root.ino, 'root ino stable')
    const d2 = await must(again, root2.id, 'd')
    const f2 = await must(again, d2.id, 'f')
    t.equal(d2.ino, d.ino, 'directory ino stable across reopen')
    t.equal(f2.ino, f.ino, 'file ino stable across reopen')
    if (again.capabilities.stableIds) t.equal(f2.id, f.id, 'ids stable across reopen')
    t.same(await again.readBlock(f2.id, 0, 0, 300), pattern(300, 5), 'data survives')
    t.same(await again.getxattr(f2.id, 'user.k'), bytes('v'), 'xattrs survive')
    const g = await file(again, root2.id, 'g')
    t.notOk([root.ino, d.ino, f.ino].includes(g.ino), 'a new object gets a new ino')
  })

  storeTest(t, make, 'two instances see each other', async (a, fx, t) => {
    const b = await fx.openAgain()
    const root = await a.root()
    const f = await file(a, root.id, 'f')
    const seen = await must(b, root.id, 'f')
    t.equal(seen.ino, f.ino, 'b finds what a created')
    await b.writeBlocks(seen.id, [{ index: 0, data: pattern(64, 3) }], 64, LONG_AGO)
    t.same(await a.readBlock(f.id, 0, 0, 64), pattern(64, 3), 'a reads what b wrote')
    await b.setattr(seen.id, { mode: 0o600 })
    t.equal((await a.getattr(f.id)).mode & 0o7777, 0o600, 'a sees b\'s chmod')
    await b.remove(root.id, 'f', false)
    t.equal(await a.lookup(root.id, 'f'), null, 'a sees b\'s unlink')
    await b.close()
  })

  storeTest(t, make, 'concurrent writers on two instances', async (a, fx, t) => {
    const b = await fx.openAgain()
    const bs = a.blockSize
    const root = await a.root()
    const f = await file(a, root.id, 'f')
    const d = await mkdir(a, root.id, 'd')
    const n = 16
    // a writes the even blocks and b the odd ones, interleaved; each raises
    // the size from its own view. A lost update shows as a short file or a
    // missing block.
    const writes = Array.from({ length: 2 * n }, async (_, i) => {
      const store = i % 2 === 0 ? a : b
      await store.writeBlocks(f.id, [{ index: i, data: pattern(bs, i) }], (i + 1) * bs, LONG_AGO)
      await mkdir(store, d.id, `sub${i}`)
    })
    await Promise.all(writes)
    t.equal((await a.getattr(f.id)).size, 2 * n * bs, 'the size of the furthest write')
    for (let i = 0; i < 2 * n; i++) {
      t.same(await b.readBlock(f.id, i, 0, bs), pattern(bs, i), `block ${i} landed`)
    }
    t.equal((await b.getattr(d.id)).nlink, 2 + 2 * n, 'every mkdir counted in the parent')
    await b.close()
  })
}
