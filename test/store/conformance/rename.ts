// Conformance: rename and renameat2 flags, with the errno of every refusal.
// Ids are refetched by name after a rename: in a store without stable ids
// (S3) the rename changes them.
import type { Test } from 'tap'
import { errno as E } from '../../../src/errors.ts'
import { RENAME_EXCHANGE, RENAME_NOREPLACE } from '../../../src/store/types.ts'
import {
  LONG_AGO, S_IFDIR, S_IFMT, S_IFREG, file, mkdir, must, nlinkOf, pattern, rejectsErrno, skip, storeTest, type StoreFactory,
} from './helpers.ts'

export function renameTests (t: Test, make: StoreFactory): void {
  storeTest(t, make, 'rename within and across directories', async (s, _fx, t) => {
    const root = await s.root()
    const a = await mkdir(s, root.id, 'a')
    const b = await mkdir(s, root.id, 'b')
    const f = await file(s, a.id, 'f')
    await s.writeBlocks(f.id, [{ index: 0, data: pattern(10, 3) }], 10, LONG_AGO)
    await s.setattr(f.id, { ctime: LONG_AGO })
    t.equal((await s.rename(a.id, 'f', a.id, 'g', 0)).replaced, undefined, 'nothing replaced')
    t.equal(await s.lookup(a.id, 'f'), null, 'the old name is gone')
    const g = await must(s, a.id, 'g')
    if (s.capabilities.stableIds) t.equal(g.id, f.id, 'same object under the new name')
    t.ok(g.ctime.sec > LONG_AGO.sec, 'rename moves the ctime of the moved object')
    await s.setattr(a.id, { mtime: LONG_AGO })
    await s.setattr(b.id, { mtime: LONG_AGO })
    await s.rename(a.id, 'g', b.id, 'h', 0)
    t.equal(await s.lookup(a.id, 'g'), null, 'moved out of a')
    t.same(await s.readBlock((await must(s, b.id, 'h')).id, 0, 0, 10), pattern(10, 3), 'the data moved along')
    t.ok((await s.getattr(a.id)).mtime.sec > LONG_AGO.sec, 'the old parent mtime moves')
    t.ok((await s.getattr(b.id)).mtime.sec > LONG_AGO.sec, 'the new parent mtime moves')
    await rejectsErrno(t, s.rename(a.id, 'nope', b.id, 'x', 0), E.ENOENT, 'rename of a missing name')
  })

  storeTest(t, make, 'rename a directory: link counts and its subtree', async (s, _fx, t) => {
    const root = await s.root()
    const a = await mkdir(s, root.id, 'a')
    const b = await mkdir(s, root.id, 'b')
    const x = await mkdir(s, a.id, 'x')
    await file(s, x.id, 'inner')
    await s.rename(a.id, 'x', b.id, 'y', 0)
    t.equal(await nlinkOf(s, a.id), 2, 'the old parent loses the ".." link')
    t.equal(await nlinkOf(s, b.id), 3, 'the new parent gains it')
    const y = await must(s, b.id, 'y')
    t.ok(await s.lookup(y.id, 'inner'), 'the subtree moved along')
    await rejectsErrno(t, s.rename(b.id, 'y', y.id, 'z', 0), E.EINVAL, 'a directory into itself')
    const deep = await mkdir(s, y.id, 'deep')
    await rejectsErrno(t, s.rename(root.id, 'b', deep.id, 'b', 0), E.EINVAL, 'a directory into its own subtree')
    t.ok(await s.lookup(root.id, 'b'), 'a refused rename changes nothing')
    await s.rename(root.id, 'b', root.id, 'b', 0)
    t.equal(await nlinkOf(s, root.id), 4, 'same-name rename is a no-op')
  })

  storeTest(t, make, 'rename over an existing destination', async (s, _fx, t) => {
    const root = await s.root()
    const src = await file(s, root.id, 'src')
    await s.writeBlocks(src.id, [{ index: 0, data: pattern(20, 9) }], 20, LONG_AGO)
    const victim = await file(s, root.id, 'victim')
    const r = await s.rename(root.id, 'src', root.id, 'victim', 0)
    t.equal(r.replaced?.nlink, 0, 'the replaced file has no links left')
    if (s.capabilities.stableIds) {
      t.equal(r.replaced?.id, victim.id, 'the replaced object is reported')
      t.equal((await s.getattr(victim.id)).nlink, 0, 'it waits for reclaim like an unlinked file')
      await s.reclaim(victim.id)
      await rejectsErrno(t, s.getattr(victim.id), E.ENOENT, 'reclaimed after the replace')
    }
    t.equal(await s.lookup(root.id, 'src'), null, 'the source name is gone')
    t.equal((await must(s, root.id, 'victim')).size, 20, 'the destination name reaches the source')

    const d1 = await mkdir(s, root.id, 'd1')
    await mkdir(s, root.id, 'd2')
    const full = await mkdir(s, root.id, 'full')
    await file(s, full.id, 'x')
    const links = await nlinkOf(s, root.id)
    const rd = await s.rename(root.id, 'd1', root.id, 'd2', 0)
    t.equal(rd.replaced?.nlink, 0, 'a directory over an empty directory')
    t.equal(await nlinkOf(s, root.id), links - 1, 'the parent lost one subdirectory')
    if (s.capabilities.stableIds) t.equal((await must(s, root.id, 'd2')).id, d1.id, 'd2 is now d1')
    await rejectsErrno(t, s.rename(root.id, 'd2', root.id, 'full', 0), E.ENOTEMPTY, 'a directory over a non-empty directory')
    await rejectsErrno(t, s.rename(root.id, 'victim', root.id, 'd2', 0), E.EISDIR, 'a file over a directory')
    await rejectsErrno(t, s.rename(root.id, 'd2', root.id, 'victim', 0), E.ENOTDIR, 'a directory over a file')
    await rejectsErrno(t, s.rename(full.id, 'x', root.id, 'victim', RENAME_NOREPLACE), E.EEXIST, 'RENAME_NOREPLACE onto an existing name')
    await s.rename(full.id, 'x', root.id, 'fresh', RENAME_NOREPLACE)
    t.ok(await s.lookup(root.id, 'fresh'), 'RENAME_NOREPLACE onto a free name works')
  })

  storeTest(t, make, 'rename over a hard link', async (s, _fx, t) => {
    if (!s.capabilities.hardLinks) return skip(t, 'the store has no hard links')
    const root = await s.root()
    const a = await file(s, root.id, 'a')
    await s.link(a.id, root.id, 'a2')
    await file(s, root.id, 'b')
    const r = await s.rename(root.id, 'b', root.id, 'a', 0)
    t.same(r.replaced, { id: a.id, nlink: 1 }, 'the replaced object keeps its other name')
    t.equal((await must(s, root.id, 'a2')).nlink, 1, 'seen through the other name')
    await s.rename(root.id, 'a2', root.id, 'a2', 0)
    t.ok(await s.lookup(root.id, 'a2'), 'same-name rename keeps the name')
  })

  storeTest(t, make, 'RENAME_EXCHANGE', async (s, _fx, t) => {
    const root = await s.root()
    const p = await mkdir(s, root.id, 'p')
    const q = await mkdir(s, root.id, 'q')
    await file(s, p.id, 'f')
    const d = await mkdir(s, q.id, 'd')
    await file(s, d.id, 'inside')
    await s.rename(p.id, 'f', q.id, 'd', RENAME_EXCHANGE)
    t.equal((await must(s, p.id, 'f')).mode & S_IFMT, S_IFDIR, 'p/f is now the directory')
    t.equal((await must(s, q.id, 'd')).mode & S_IFMT, S_IFREG, 'q/d is now the file')
    t.ok(await s.lookup((await must(s, p.id, 'f')).id, 'inside'), 'the directory kept its children')
    t.equal(await nlinkOf(s, p.id), 3, 'p gained a subdirectory')
    t.equal(await nlinkOf(s, q.id), 2, 'q lost one')
    await rejectsErrno(t, s.rename(p.id, 'f', q.id, 'none', RENAME_EXCHANGE), E.ENOENT, 'RENAME_EXCHANGE with no target')
    const inner = await mkdir(s, (await must(s, p.id, 'f')).id, 'inner')
    await rejectsErrno(t, s.rename(root.id, 'p', inner.id, 'x', RENAME_EXCHANGE), E.ENOENT, 'exchange needs both names')
    await file(s, inner.id, 'x')
    await rejectsErrno(t, s.rename(root.id, 'p', inner.id, 'x', RENAME_EXCHANGE), E.EINVAL, 'exchange moving a directory into its subtree')
  })
}
