// The nodeid table: issue on first reference, count the kernel's lookups,
// drop at zero (unless pinned or dirty), free unlinked objects exactly once.
import t, { type Test } from 'tap'
import { FsError, errno as E } from '../../src/errors.ts'
import { InodeTable, ROOT_NODEID } from '../../src/inode/table.ts'
import type { DirtyFile } from '../../src/blocks/coalesce.ts'
import type { ObjectAttr, ObjectId } from '../../src/store/types.ts'

const T0 = { sec: 1_700_000_000, nsec: 0 }
let nextIno = 100

function attrOf (id: string, over: Partial<ObjectAttr> = {}): ObjectAttr {
  return { id: id as ObjectId, ino: nextIno++, mode: 0o100644, nlink: 1, uid: 0, gid: 0, size: 0, rdev: 0, atime: T0, mtime: T0, ctime: T0, ...over }
}

function table (): { table: InodeTable, reclaimed: ObjectId[] } {
  const reclaimed: ObjectId[] = []
  const root = attrOf('root', { mode: 0o40755, ino: 1 })
  return { table: new InodeTable(root, { reclaim: id => { reclaimed.push(id) } }), reclaimed }
}

/** get() of a forgotten nodeid must be ESTALE, the kernel's "that handle is gone". */
function stale (t: Test, tab: InodeTable, nodeid: number, what: string): void {
  try {
    tab.get(nodeid)
    t.fail(`${what}: get(${nodeid}) returned`)
  } catch (err) {
    t.ok(err instanceof FsError, `${what}: an FsError`)
    t.equal((err as FsError).errno, E.ESTALE, `${what}: ESTALE`)
  }
}

t.test('root is there from the start and is never dropped', async t => {
  const { table: tab, reclaimed } = table()
  t.equal(tab.size, 1)
  t.equal(tab.get(ROOT_NODEID).id, 'root')
  tab.forget(ROOT_NODEID, 1_000_000)
  tab.unpin(tab.get(ROOT_NODEID))
  t.equal(tab.size, 1, 'forget on the root is ignored')
  t.equal(tab.get(ROOT_NODEID).nodeid, ROOT_NODEID)
  t.same(reclaimed, [])
})

t.test('nodeid issued on first reference; the same object keeps it', async t => {
  const { table: tab } = table()
  const a = attrOf('a')
  const b = attrOf('b')
  const ia = tab.ref(a)
  t.not(ia.nodeid, ROOT_NODEID, 'not the root nodeid')
  t.equal(ia.lookups, 1)
  const ib = tab.ref(b)
  t.not(ib.nodeid, ia.nodeid, 'a different object gets a different nodeid')
  const again = tab.ref({ ...a, size: 42 })
  t.equal(again, ia, 'the same object: the same inode')
  t.equal(again.nodeid, ia.nodeid)
  t.equal(again.lookups, 2, 'lookups add up')
  t.equal(again.attr.size, 42, 'a later reference refreshes the attributes')
  t.equal(tab.byId(a.id), ia)
  t.equal(tab.find(ia.nodeid), ia)
  t.equal(tab.size, 3)
})

t.test('forget to zero drops the mapping', async t => {
  const { table: tab, reclaimed } = table()
  const a = attrOf('a')
  const ia = tab.ref(a)
  tab.ref(a)
  tab.ref(a)
  tab.forget(ia.nodeid, 2)
  t.equal(tab.get(ia.nodeid), ia, 'one lookup left: still mapped')
  t.equal(ia.lookups, 1)
  tab.forget(ia.nodeid, 1)
  stale(t, tab, ia.nodeid, 'after the last forget')
  t.equal(tab.byId(a.id), undefined, 'the id mapping went too')
  t.equal(tab.size, 1)
  t.same(reclaimed, [], 'a linked object is not reclaimed')
  tab.forget(ia.nodeid, 1)
  t.equal(tab.size, 1, 'a forget for an unknown nodeid is ignored')
  const fresh = tab.ref(a)
  t.not(fresh.nodeid, ia.nodeid, 'nodeids are not reused')
  stale(t, tab, 9999, 'never issued')
})

t.test('forget of more than was counted clamps at zero', async t => {
  const { table: tab } = table()
  const ia = tab.ref(attrOf('a'))
  tab.forget(ia.nodeid, 50)
  t.equal(ia.lookups, 0)
  stale(t, tab, ia.nodeid, 'over-forgotten')
})

t.test('unref takes back one reference', async t => {
  const { table: tab } = table()
  const a = attrOf('a')
  const ia = tab.ref(a)
  tab.ref(a)
  tab.unref(ia)
  t.equal(ia.lookups, 1)
  tab.unref(ia)
  stale(t, tab, ia.nodeid, 'after unref to zero')
})

t.test('pins keep an inode past its last forget', async t => {
  const { table: tab } = table()
  const ia = tab.ref(attrOf('a'))
  tab.pin(ia)
  tab.pin(ia)
  tab.forget(ia.nodeid, 1)
  t.equal(tab.get(ia.nodeid), ia, 'pinned: kept')
  tab.unpin(ia)
  t.equal(tab.get(ia.nodeid), ia, 'one pin left: kept')
  tab.unpin(ia)
  stale(t, tab, ia.nodeid, 'unpinned and forgotten')
})

t.test('an unlinked inode is reclaimed exactly once, when dropped', async t => {
  const { table: tab, reclaimed } = table()
  const a = attrOf('a')
  const ia = tab.ref(a)
  tab.pin(ia)
  ia.unlinked = true
  tab.forget(ia.nodeid, 1)
  t.same(reclaimed, [], 'still open: not reclaimed')
  tab.unpin(ia)
  t.same(reclaimed, [a.id], 'reclaimed on the drop')
  // Nothing that comes after may free it a second time.
  tab.forget(ia.nodeid, 1)
  tab.settle(ia)
  t.same(reclaimed, [a.id], 'exactly once')
})

t.test('a dirty inode stays until settle()', async t => {
  const { table: tab, reclaimed } = table()
  const a = attrOf('a', { size: 10 })
  const ia = tab.ref(a)
  ia.unlinked = true
  ia.dirty = { size: 5000 } as DirtyFile
  t.equal(ia.size, 5000, 'the buffered size is what readers see')
  tab.updateAttr(ia, { ...a, size: 20 })
  t.equal(ia.size, 5000, 'new store attributes do not override the buffered size')
  tab.forget(ia.nodeid, 1)
  t.equal(tab.get(ia.nodeid), ia, 'dirty: kept after the last forget')
  tab.settle(ia)
  t.equal(tab.get(ia.nodeid), ia, 'settle while still dirty: kept')
  t.same(reclaimed, [])
  ia.dirty = undefined
  t.equal(ia.size, 20)
  tab.settle(ia)
  stale(t, tab, ia.nodeid, 'settled')
  t.same(reclaimed, [a.id], 'reclaimed once settled')
  tab.settle(ia)
  t.same(reclaimed, [a.id], 'a second settle does nothing')
})

t.test('settle of a referenced inode keeps it', async t => {
  const { table: tab } = table()
  const ia = tab.ref(attrOf('a'))
  tab.settle(ia)
  t.equal(tab.get(ia.nodeid), ia)
})

t.test('rekey moves one id, or a whole subtree', async t => {
  const { table: tab } = table()
  const ids = ['a', 'a/b', 'a/b/c', 'a/b/c/d', 'a/bc', 'z']
  const inodes = new Map(ids.map(id => [id, tab.ref(attrOf(id))]))
  const nodeids = new Map([...inodes].map(([id, i]) => [id, i.nodeid]))

  tab.rekey('a/b' as ObjectId, 'x/b' as ObjectId, true)
  const expect: Record<string, string> = { a: 'a', 'a/b': 'x/b', 'a/b/c': 'x/b/c', 'a/b/c/d': 'x/b/c/d', 'a/bc': 'a/bc', z: 'z' }
  for (const [old, now] of Object.entries(expect)) {
    const inode = inodes.get(old)!
    t.equal(inode.id, now, `${old} -> ${now}`)
    t.equal(inode.attr.id, now, `${old}: attr.id follows`)
    t.equal(inode.nodeid, nodeids.get(old), `${old}: nodeid unchanged`)
    t.equal(tab.byId(now as ObjectId), inode, `${now} found by id`)
  }
  for (const gone of ['a/b', 'a/b/c', 'a/b/c/d']) t.equal(tab.byId(gone as ObjectId), undefined, `${gone} no longer an id`)

  tab.rekey('z' as ObjectId, 'y' as ObjectId, false)
  t.equal(inodes.get('z')!.id, 'y', 'a single object')
  tab.rekey('x/b' as ObjectId, 'w' as ObjectId, false)
  t.equal(inodes.get('a/b')!.id, 'w', 'without subtree: only the object itself')
  t.equal(inodes.get('a/b/c')!.id, 'x/b/c', 'without subtree: children keep their ids')

  tab.rekey('x/' as ObjectId, 'v/' as ObjectId, true)
  t.equal(inodes.get('a/b/c')!.id, 'v/b/c', 'trailing slashes are not doubled')
  tab.rekey('nothing' as ObjectId, 'else' as ObjectId, true)
  t.equal(tab.size, 1 + ids.length, 'no inode lost or added')
})

t.test('rekey over an id still held by a replaced inode', async t => {
  const { table: tab } = table()
  const moving = tab.ref(attrOf('a'))
  const replaced = tab.ref(attrOf('b'))
  tab.rekey('a' as ObjectId, 'b' as ObjectId, false)
  t.equal(tab.byId('b' as ObjectId), moving, 'the id names the moved object')
  // The replaced inode is forgotten later: it must not take the id with it.
  tab.forget(replaced.nodeid, 1)
  t.equal(tab.byId('b' as ObjectId), moving, 'dropping the replaced inode leaves the id mapping')
  t.equal(tab.get(moving.nodeid), moving)
})

t.test('a walk of 100,000 entries, each forgotten, leaves only the root', async t => {
  const { table: tab } = table()
  for (let i = 0; i < 100_000; i++) {
    const inode = tab.ref(attrOf(`f${i}`))
    tab.forget(inode.nodeid, 1)
  }
  t.equal(tab.size, 1)
  // Batched the way BATCH_FORGET arrives: many references, then forgets.
  const held = []
  for (let i = 0; i < 100_000; i++) held.push(tab.ref(attrOf(`g${i}`)))
  t.equal(tab.size, 100_001)
  for (const inode of held) tab.forget(inode.nodeid, 1)
  t.equal(tab.size, 1)
})

t.test('takeover: inos as nodeids, adopted inodes, fresh nodeids past a predecessor\'s', async t => {
  const reclaimed: ObjectId[] = []
  const root = attrOf('root', { mode: 0o40755, ino: 1 })
  const tab = new InodeTable(root, { reclaim: id => { reclaimed.push(id) } }, { inoNodeids: true, resumed: true })
  const a = attrOf('a')
  t.equal(tab.ref(a).nodeid, a.ino, 'the nodeid is the ino')
  const b = attrOf('b')
  const adopted = tab.adopt(b)
  t.equal(adopted.nodeid, b.ino, 'an adopted nodeid is its ino too')
  t.equal(adopted.lookups, 0, 'with no lookups counted: the kernel\'s count is unknown')
  t.equal(tab.adopt(b), adopted, 'adopting twice gives the same inode')
  adopted.unlinked = true
  tab.forget(adopted.nodeid, 7)
  stale(t, tab, b.ino, 'an adopted inode forgotten')
  t.same(reclaimed, [], 'but an adopted unlinked object is never reclaimed: the kernel may still hold it open')

  const seq = new InodeTable(root, { reclaim: () => {} }, { generation: 3 })
  t.equal(seq.ref(attrOf('c')).nodeid, 3 * 2 ** 32 + 2, 'sequential nodeids of generation 3 start past those of generations 0 to 2')
})
