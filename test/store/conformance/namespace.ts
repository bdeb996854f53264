// Conformance: create, lookup, getattr, list, link counts, remove, reclaim.
import type { Test } from 'tap'
import { errno as E } from '../../../src/errors.ts'
import {
  LONG_AGO, S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG, S_IFSOCK,
  file, mkdir, must, nlinkOf, pattern, rejectsErrno, skip, storeTest, type StoreFactory,
} from './helpers.ts'

export function namespaceTests (t: Test, make: StoreFactory): void {
  storeTest(t, make, 'create, lookup, getattr', async (s, _fx, t) => {
    const root = await s.root()
    t.equal(root.mode & S_IFMT, S_IFDIR, 'root is a directory')
    await s.setattr(root.id, { mtime: LONG_AGO })
    const f = await s.create(root.id, 'a', { mode: S_IFREG | 0o640, uid: 12, gid: 34 })
    t.match(f, { mode: S_IFREG | 0o640, uid: 12, gid: 34, nlink: 1, size: 0 }, 'attributes as created')
    const found = await must(s, root.id, 'a')
    t.equal(found.id, f.id, 'lookup finds the created object')
    t.equal(found.ino, f.ino, 'same ino by lookup')
    t.same(await s.getattr(f.id), found, 'getattr agrees with lookup')
    t.equal(await s.lookup(root.id, 'missing'), null, 'a missing name is null, not an error')
    t.ok((await s.root()).mtime.sec > LONG_AGO.sec, 'create moves the parent mtime')
    const g = await file(s, root.id, 'b')
    t.not(g.ino, f.ino, 'distinct objects, distinct inos')
    t.not(g.id, f.id, 'distinct objects, distinct ids')
    await rejectsErrno(t, file(s, root.id, 'a'), E.EEXIST, 'create over an existing name')
    await rejectsErrno(t, mkdir(s, root.id, 'a'), E.EEXIST, 'mkdir over an existing name')
    await rejectsErrno(t, file(s, f.id, 'x'), E.ENOTDIR, 'create under a file')
  })

  storeTest(t, make, 'name length limits count bytes', async (s, _fx, t) => {
    const root = await s.root()
    const longest = 'é'.repeat(127) + 'a'  // 255 bytes
    await file(s, root.id, longest)
    t.ok(await s.lookup(root.id, longest), 'a 255-byte name works')
    await rejectsErrno(t, file(s, root.id, 'é'.repeat(128)), E.ENAMETOOLONG, 'a 256-byte name')
    await rejectsErrno(t, file(s, root.id, 'x'.repeat(256)), E.ENAMETOOLONG, 'a 256-char name')
  })

  storeTest(t, make, 'special files, symlinks and readlink', async (s, _fx, t) => {
    const root = await s.root()
    const target = '../tärget/ü'
    const l = await s.create(root.id, 'l', { mode: S_IFLNK | 0o777, uid: 0, gid: 0, target })
    t.equal(l.mode & S_IFMT, S_IFLNK, 'symlink type kept')
    t.equal(l.size, Buffer.byteLength(target), 'symlink size is the byte length of its target')
    t.equal(await s.readlink(l.id), target, 'readlink returns the target')
    t.equal(await s.readlink((await must(s, root.id, 'l')).id), target, 'readlink after lookup')
    for (const [name, type, rdev] of [['fifo', S_IFIFO, 0], ['sock', S_IFSOCK, 0], ['chr', S_IFCHR, 0x0103], ['blk', S_IFBLK, 0x0801]] as const) {
      const a = await s.create(root.id, name, { mode: type | 0o600, uid: 0, gid: 0, rdev })
      t.equal(a.mode & S_IFMT, type, `${name}: type kept`)
      t.equal((await must(s, root.id, name)).rdev, rdev, `${name}: rdev kept`)
    }
    const f = await file(s, root.id, 'plain')
    await rejectsErrno(t, s.readlink(f.id), E.EINVAL, 'readlink of a regular file')
  })

  storeTest(t, make, 'list: order, paging, cursor', async (s, _fx, t) => {
    const root = await s.root()
    const d = await mkdir(s, root.id, 'd')
    t.same(await s.list(d.id, null, 10), { entries: [], next: null }, 'an empty directory lists nothing')
    const names = Array.from({ length: 25 }, (_, i) => `f${String(i).padStart(2, '0')}`)
    // Created out of order: the listing order must not be creation order.
    for (const name of [...names].reverse()) await file(s, d.id, name)
    const seen: string[] = []
    const sizes: number[] = []
    const listed = []
    let after: string | null = null
    do {
      const page = await s.list(d.id, after, 7)
      sizes.push(page.entries.length)
      for (const e of page.entries) {
        seen.push(e.name)
        listed.push(e.attr)
      }
      after = page.next
    } while (after !== null && sizes.length < 10)
    t.same(sizes, [7, 7, 7, 4], '25 entries in pages of 7')
    t.same(seen, names, 'every name once, in order')
    const current = await Promise.all(listed.map(async a => await s.getattr(a.id)))
    t.same(listed, current, 'listed attributes are current')
    const rest = await s.list(d.id, 'f12', 100)
    t.same(rest.entries.map(e => e.name), names.slice(13), 'the cursor resumes strictly after its name')
    t.equal(rest.next, null, 'the last page says so')
    const all = await s.list(d.id, null, 25)
    t.equal(all.entries.length, 25, 'limit equal to the count returns all')
    t.equal(all.next, null, 'and says the listing is complete')
    const dirs = await s.list(root.id, null, 10)
    t.same(dirs.entries.map(e => e.name), ['d'], 'the root lists its one child')
    await rejectsErrno(t, s.list((await must(s, d.id, 'f00')).id, null, 10), E.ENOTDIR, 'list of a file')
  })

  storeTest(t, make, 'directory link counts', async (s, _fx, t) => {
    const root = await s.root()
    const base = root.nlink
    const d = await mkdir(s, root.id, 'd')
    t.equal(d.nlink, 2, 'a new directory has 2 links')
    t.equal(await nlinkOf(s, root.id), base + 1, 'the parent gains a link per subdirectory')
    await file(s, d.id, 'f')
    t.equal(await nlinkOf(s, d.id), 2, 'a file does not add a link to its directory')
    await mkdir(s, d.id, 'e1')
    await mkdir(s, d.id, 'e2')
    t.equal(await nlinkOf(s, d.id), 4, 'two subdirectories: 2 + 2')
    const r = await s.remove(d.id, 'e1', true)
    t.equal(r.nlink, 0, 'a removed directory has no links left')
    t.equal(await nlinkOf(s, d.id), 3, 'rmdir gives the parent its link back')
  })

  storeTest(t, make, 'hard links', async (s, _fx, t) => {
    if (!s.capabilities.hardLinks) return skip(t, 'the store has no hard links')
    const root = await s.root()
    const f = await file(s, root.id, 'a')
    await s.writeBlocks(f.id, [{ index: 0, data: pattern(100, 1) }], 100, LONG_AGO)
    await s.setattr(f.id, { ctime: LONG_AGO })
    const l = await s.link(f.id, root.id, 'b')
    t.equal(l.nlink, 2, 'link returns nlink 2')
    t.ok(l.ctime.sec > LONG_AGO.sec, 'link moves ctime')
    const b = await must(s, root.id, 'b')
    t.equal(b.id, f.id, 'both names, one object')
    t.equal(b.ino, f.ino, 'both names, one ino')
    t.equal((await must(s, root.id, 'a')).nlink, 2, 'the first name sees nlink 2')
    const d = await mkdir(s, root.id, 'd')
    await rejectsErrno(t, s.link(d.id, root.id, 'd2'), E.EPERM, 'hard link to a directory')
    await rejectsErrno(t, s.link(f.id, root.id, 'd'), E.EEXIST, 'link over an existing name')
    const r = await s.remove(root.id, 'a', false)
    t.same(r, { id: f.id, nlink: 1 }, 'unlinking one name leaves one link')
    t.equal((await must(s, root.id, 'b')).size, 100, 'the other name still reaches the data')
  })

  storeTest(t, make, 'unnamed files (O_TMPFILE)', async (s, _fx, t) => {
    if (s.capabilities.unnamedFiles !== true || s.createUnnamed === undefined) return skip(t, 'the store has no unnamed files')
    const root = await s.root()
    const d = await mkdir(s, root.id, 'd')
    await s.setattr(d.id, { mtime: LONG_AGO })
    const u = await s.createUnnamed(d.id, { mode: S_IFREG | 0o600, uid: 5, gid: 6 })
    t.match(u, { mode: S_IFREG | 0o600, uid: 5, gid: 6, nlink: 0, size: 0 }, 'a regular file with no link')
    t.same(await s.list(d.id, null, 10), { entries: [], next: null }, 'not listed')
    t.equal((await s.getattr(d.id)).mtime.sec, LONG_AGO.sec, 'the directory does not change')
    await s.writeBlocks(u.id, [{ index: 0, data: pattern(70, 3) }], 70, LONG_AGO)
    t.same(await s.readBlock(u.id, 0, 0, 70), pattern(70, 3), 'it holds data')
    t.match(await s.getattr(u.id), { size: 70, nlink: 0 }, 'and says so')
    if (s.capabilities.hardLinks) {
      const l = await s.link(u.id, d.id, 'named')
      t.equal(l.nlink, 1, 'link gives it its first name')
      t.equal((await must(s, d.id, 'named')).id, u.id, 'found by that name')
      t.equal((await must(s, d.id, 'named')).size, 70, 'with its data')
      await s.reclaim(u.id)
      t.equal((await s.getattr(u.id)).nlink, 1, 'reclaim leaves it alone once named')
    }
    const v = await s.createUnnamed(d.id, { mode: S_IFREG | 0o600, uid: 0, gid: 0 })
    await s.writeBlocks(v.id, [{ index: 0, data: pattern(70, 4) }], 70, LONG_AGO)
    t.same(await s.readBlock(u.id, 0, 0, 70), pattern(70, 3), 'two unnamed files are two files')
    await s.reclaim(v.id)
    await rejectsErrno(t, s.getattr(v.id), E.ENOENT, 'never named: reclaim frees it')
    t.same((await s.list(d.id, null, 10)).entries.map(e => e.name), s.capabilities.hardLinks ? ['named'] : [], 'nothing unnamed is listed')
    await rejectsErrno(t, s.createUnnamed(d.id, { mode: S_IFDIR | 0o700, uid: 0, gid: 0 }), E.EINVAL, 'only regular files')
    const plain = await file(s, d.id, 'plain')
    await rejectsErrno(t, s.createUnnamed(plain.id, { mode: S_IFREG | 0o600, uid: 0, gid: 0 }), E.ENOTDIR, 'under a file')
    const e = await mkdir(s, root.id, 'e')
    await s.remove(root.id, 'e', true)
    await rejectsErrno(t, s.createUnnamed(e.id, { mode: S_IFREG | 0o600, uid: 0, gid: 0 }), E.ENOENT, 'in a removed directory')
  })

  storeTest(t, make, 'remove refusals', async (s, _fx, t) => {
    const root = await s.root()
    const d = await mkdir(s, root.id, 'd')
    await file(s, d.id, 'f')
    await rejectsErrno(t, s.remove(root.id, 'd', false), E.EISDIR, 'unlink of a directory')
    await rejectsErrno(t, s.remove(d.id, 'f', true), E.ENOTDIR, 'rmdir of a file')
    await rejectsErrno(t, s.remove(root.id, 'd', true), E.ENOTEMPTY, 'rmdir of a non-empty directory')
    await rejectsErrno(t, s.remove(root.id, 'nope', false), E.ENOENT, 'unlink of a missing name')
    await rejectsErrno(t, s.remove(root.id, 'nope', true), E.ENOENT, 'rmdir of a missing name')
    t.ok(await s.lookup(root.id, 'd'), 'refusals change nothing')
  })

  storeTest(t, make, 'remove, orphans and reclaim', async (s, _fx, t) => {
    const root = await s.root()
    const f = await file(s, root.id, 'f')
    await s.writeBlocks(f.id, [{ index: 0, data: pattern(50, 7) }], 50, LONG_AGO)
    const r = await s.remove(root.id, 'f', false)
    t.match(r, { id: f.id, nlink: 0 }, 'unlink reports the last link gone')
    t.equal(await s.lookup(root.id, 'f'), null, 'the name is gone')
    t.same(await s.list(root.id, null, 10), { entries: [], next: null }, 'and not listed')
    // Where ids are keys the orphan takes another id: its key is free for a new object.
    const o = r.orphan ?? f.id
    t.equal(r.orphan !== undefined, !s.capabilities.stableIds, 'a new id exactly where ids are keys')
    t.equal((await s.getattr(o)).nlink, 0, 'the orphan keeps its attributes')
    t.same(await s.readBlock(o, 0, 0, 50), pattern(50, 7), 'and its data, for open handles')
    await s.writeBlocks(o, [{ index: 1, data: pattern(10, 9) }], s.blockSize + 10, LONG_AGO)
    t.equal((await s.getattr(o)).size, s.blockSize + 10, 'which may still write to it')
    const again = await file(s, root.id, 'f')
    await s.writeBlocks(again.id, [{ index: 0, data: pattern(20, 8) }], 20, LONG_AGO)
    t.same(await s.readBlock(o, 0, 0, 50), pattern(50, 7), 'a new file of the same name is another file')
    await s.reclaim(o)
    await rejectsErrno(t, s.getattr(o), E.ENOENT, 'getattr after reclaim')
    await s.reclaim(o)
    t.pass('reclaim is idempotent')
    t.same(await s.readBlock(again.id, 0, 0, 20), pattern(20, 8), 'and leaves the new file alone')
    await s.remove(root.id, 'f', false)
    const g = await file(s, root.id, 'g')
    await s.reclaim(g.id)
    t.equal((await s.getattr(g.id)).nlink, 1, 'reclaim leaves a linked object alone')
    const d = await mkdir(s, root.id, 'd')
    const rd = await s.remove(root.id, 'd', true)
    t.same(rd, { id: d.id, nlink: 0 }, 'rmdir reports nlink 0')
    await s.reclaim(d.id)
    await rejectsErrno(t, file(s, d.id, 'x'), E.ENOENT, 'create in a reclaimed directory')
  })
}
