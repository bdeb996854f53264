// LocalStore: what keeps commits few and small. Orphans freed in batches,
// inode numbers taken a range at a time, WAL checkpoints in a thread of the
// store's own, and a WAL that starts over from nothing.
import { execFileSync } from 'node:child_process'
import { appendFileSync, existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import t from 'tap'
import type { Test } from 'tap'
import { errno as E, toErrno } from '../../src/errors.ts'
import { START_AFTER_COMMITS } from '../../src/store/local/checkpoint.ts'
import { INO_RANGE } from '../../src/store/local/inos.ts'
import { RECLAIM_BATCH } from '../../src/store/local/reclaims.ts'
import { LocalStore } from '../../src/store/local/store.ts'
import type { ObjectAttr, ObjectId, ObjectStore } from '../../src/store/types.ts'
import { PooledStore } from '../../src/workers/pool.ts'
import { LONG_AGO, file, pattern, rejectsErrno } from './conformance/helpers.ts'
import { BS, blockFiles, configFor, pooledStore, storeDirs } from './local-fixture.ts'

const { freshDir } = storeDirs(t, 'commits')

/** A new store in a fresh directory, and its root. */
async function openFresh (): Promise<{ dir: string, s: LocalStore, root: ObjectAttr }> {
  const dir = freshDir()
  const s = await LocalStore.open(configFor(dir))
  return { dir, s, root: await s.root() }
}

const nextIno = (dir: string): number => {
  const db = new DatabaseSync(join(dir, 'objfs.db'), { readOnly: true })
  try {
    return Number((db.prepare("SELECT value FROM meta WHERE key = 'next_ino'").get() as { value: string }).value)
  } finally {
    db.close()
  }
}

t.test('reclaims asked for at once are all freed, blocks and all', async t => {
  const { dir, s, root } = await openFresh()
  const ids = []
  for (let i = 0; i < RECLAIM_BATCH + 10; i++) {
    const f = await file(s, root.id, `f${i}`)
    // A full block is over the inline size: it has a file.
    if (i % 100 === 0) await s.writeBlocks(f.id, [{ index: 0, data: pattern(BS, i) }], BS, LONG_AGO)
    await s.remove(root.id, `f${i}`, false)
    ids.push(f.id)
  }
  t.equal(blockFiles(dir).length, 6, 'six of them have a block file')
  const kept = await file(s, root.id, 'kept')
  // Not awaited one by one: the daemon never waits for a reclaim.
  await Promise.all([...ids, kept.id].map(async id => await s.reclaim(id)))
  const left = []
  for (const id of ids) if (await s.getattr(id).then(() => true, () => false)) left.push(id)
  t.same(left, [], `all ${ids.length} orphans freed`)
  t.same(blockFiles(dir), [], 'their block files too')
  t.equal((await s.getattr(kept.id)).nlink, 1, 'an object with a name is left alone')
  await s.close()
})

t.test('a reclaim still waiting when the store closes is done by close()', async t => {
  const { dir, s, root } = await openFresh()
  const f = await file(s, root.id, 'f')
  await s.remove(root.id, 'f', false)
  const pending = s.reclaim(f.id)
  await s.close()
  await pending
  const again = await LocalStore.open(configFor(dir, { create: false, takeover: { keeper: process.pid, resumed: true } }))
  await rejectsErrno(t, again.getattr(f.id), E.ENOENT, 'gone, although orphans were kept at this open')
  await again.close()
})

t.test('inode numbers: a range per instance, never two objects with one', async t => {
  const dir = freshDir()
  const a = await LocalStore.open(configFor(dir))
  const b = await LocalStore.open(configFor(dir, { create: false }))
  const root = await a.root()
  const inos = new Set<number>()
  for (let i = 0; i < 20; i++) {
    inos.add((await file(a, root.id, `a${i}`)).ino)
    inos.add((await file(b, root.id, `b${i}`)).ino)
  }
  t.equal(inos.size, 40, 'interleaved creates of two instances: 40 objects, 40 inos')
  t.equal(nextIno(dir), 2 + 2 * INO_RANGE, 'each instance took one range')
  t.ok(Math.max(...inos) < nextIno(dir), 'the counter is past every ino in use')
  await a.close()
  await b.close()
  const c = await LocalStore.open(configFor(dir, { create: false }))
  const later = await file(c, root.id, 'later')
  t.ok(later.ino >= 2 + 2 * INO_RANGE, 'a later instance starts past every range taken')
  await c.close()
})

t.test('a refused create keeps the range of inos it did not take', async t => {
  const { dir, s, root } = await openFresh()
  const a = await file(s, root.id, 'a')
  await rejectsErrno(t, file(s, root.id, 'a'), E.EEXIST, 'a name taken')
  await rejectsErrno(t, file(s, a.id, 'x'), E.ENOTDIR, 'a parent that is a file')
  const b = await file(s, root.id, 'b')
  t.equal(b.ino, a.ino + 1, 'the next ino of the same range')
  t.equal(nextIno(dir), 2 + INO_RANGE, 'no second range taken')
  await s.close()
})

/** File 'f' made, unlinked and handed to reclaim: an orphan waiting for its batch. */
async function waitingOrphan (s: ObjectStore, root: ObjectAttr): Promise<{ id: ObjectId, freed: Promise<void> }> {
  const f = await file(s, root.id, 'f')
  await s.remove(root.id, 'f', false)
  return { id: f.id, freed: s.reclaim(f.id) }
}

t.test('freeHeld frees the orphans waiting for their batch', async t => {
  const { s, root } = await openFresh()
  t.equal(s.freeHeld(), false, 'nothing held')
  const orphan = await waitingOrphan(s, root)
  t.equal(s.freeHeld(), true, 'an orphan was held')
  await orphan.freed
  await rejectsErrno(t, s.getattr(orphan.id), E.ENOENT, 'freed at once')
  t.equal(s.freeHeld(), false, 'nothing held after')
  await s.close()
})

t.test('tidy frees the orphans waiting for their batch, in an idle moment', async t => {
  const { s, root } = await openFresh()
  t.equal(s.tidy(), false, 'nothing waits')
  const orphan = await waitingOrphan(s, root)
  t.equal(s.tidy(), true, 'an orphan waited for its batch')
  // Asked before anything is awaited: the batch timer cannot have fired yet.
  await rejectsErrno(t, s.getattr(orphan.id), E.ENOENT, 'freed by tidy, not by the batch timer')
  await orphan.freed
  t.equal(s.tidy(), false, 'nothing left to do')
  await s.close()
  t.equal(s.tidy(), false, 'a closed store does nothing')
})

t.test('the pool hands tidy to its inline instance', async t => {
  const dir = freshDir()
  const p = await pooledStore(configFor(dir), 1)
  t.teardown(async () => { await p.close() })
  const root = await p.root()
  t.equal(p.tidy(), false, 'nothing waits')
  const orphan = await waitingOrphan(p, root)
  t.equal(p.tidy(), true, 'the inline instance had an orphan waiting')
  await rejectsErrno(t, p.getattr(orphan.id), E.ENOENT, 'freed at once')
  await orphan.freed
})

t.test('WAL checkpoints run while the store is open, and the WAL goes at close', async t => {
  const { dir, s, root } = await openFresh()
  const db = join(dir, 'objfs.db')
  const before = statSync(db).size
  for (let i = 0; i < START_AFTER_COMMITS + 400; i++) await file(s, root.id, `f${i}`)
  // The writer's own autocheckpoint is far off (40 MiB of WAL): only the
  // checkpoint thread copies pages into the database file meanwhile.
  let grown = false
  for (let i = 0; i < 100 && !grown; i++) {
    await new Promise(resolve => setTimeout(resolve, 20))
    grown = statSync(db).size > before
  }
  t.ok(grown, 'the database file grew while the store was open', { before, after: statSync(db).size })
  await s.close()
  t.notOk(existsSync(`${db}-wal`), 'the last connection to close removed the WAL')
  const again = await LocalStore.open(configFor(dir, { create: false }))
  t.equal((await again.list(root.id, null, 10_000)).entries.length, START_AFTER_COMMITS + 400, 'every create is there')
  await again.close()
})

const SIZE = 256 * 1024
const needsRoot = { skip: process.getuid?.() === 0 ? false : 'mounting a tmpfs needs root' }

/**
 * An 8 MiB tmpfs, unmounted when `t` ends, after `close`; and `fill`, which
 * writes blocks to `id` until it is full and tells how many went in.
 */
function smallDisk (t: Test, close: () => Promise<void>): { disk: string, fill: (s: ObjectStore, id: ObjectId) => Promise<number> } {
  const disk = freshDir()
  mkdirSync(disk)
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'objfs-test-full', disk])
  t.teardown(async () => {
    try {
      await close()
    } finally {
      // Even when closing failed: a test must never leave a mount behind.
      execFileSync('umount', [disk])
    }
  })
  // Kept free while filling: the removes that follow need room for their commits.
  const pad = join(disk, 'pad')
  const fill = async (s: ObjectStore, id: ObjectId): Promise<number> => {
    writeFileSync(pad, new Uint8Array(64 * 1024))
    try {
      for (let i = 0; i < 1000; i++) {
        try {
          await s.writeBlocks(id, [{ index: i, data: pattern(SIZE, i) }], (i + 1) * SIZE, LONG_AGO)
        } catch (err) {
          if (toErrno(err) !== E.ENOSPC) throw err
          return i
        }
      }
      throw new Error('the disk never filled')
    } finally {
      rmSync(pad)
    }
  }
  return { disk, fill }
}

/**
 * Fill the disk through a file, remove it, and at once write four blocks to
 * another: the removed file's room is still held by its reclaim's batch.
 */
async function removeThenWrite (t: Test, s: ObjectStore, fill: (s: ObjectStore, id: ObjectId) => Promise<number>): Promise<void> {
  const root = await s.root()
  const [a, later] = [await file(s, root.id, 'a'), await file(s, root.id, 'later')]
  t.ok(await fill(s, a.id) > 4, 'the disk is full')
  await s.remove(root.id, 'a', false)
  // Not awaited: the daemon never waits for a reclaim, and the user's next write comes at once.
  const reclaimed = s.reclaim(a.id)
  await s.writeBlocks(later.id, [0, 1, 2, 3].map(index => ({ index, data: pattern(SIZE, index) })), 4 * SIZE, LONG_AGO)
  t.pass('a write that needs the freed room succeeds')
  await reclaimed
}

t.test('on a full disk, room a remove freed is there at once: for the next write and in statfs', needsRoot, async t => {
  let s: LocalStore | undefined
  const { disk, fill } = smallDisk(t, async () => { await s?.close() })
  s = await LocalStore.open(configFor(join(disk, 'store'), { blockSize: SIZE }))
  await removeThenWrite(t, s, fill)

  const root = await s.root()
  const b = await file(s, root.id, 'b')
  const n = await fill(s, b.id)
  const full = await s.statfs()
  await s.remove(root.id, 'b', false)
  const freed = s.reclaim(b.id)
  const after = await s.statfs()
  t.ok((after.bavail - full.bavail) * after.bsize >= (n - 1) * SIZE, 'statfs shows the room back', { n, before: full.bavail, after: after.bavail })
  await freed
})

t.test('on a full disk, a write in a worker thread finds the room freed in the serving thread', needsRoot, async t => {
  let pool: PooledStore | undefined
  const { disk, fill } = smallDisk(t, async () => { await pool?.close() })
  // Every block write goes to the worker; reclaims wait in the inline instance.
  pool = await pooledStore(configFor(join(disk, 'store'), { blockSize: SIZE }), 1)
  await removeThenWrite(t, pool, fill)
  t.ok(pool.calls.worker > 4, 'the block writes ran in the worker')
})

t.test('on a full disk, writes that fail at once in two workers all find the room freed', needsRoot, async t => {
  let pool: PooledStore | undefined
  const { disk, fill } = smallDisk(t, async () => { await pool?.close() })
  pool = await pooledStore(configFor(join(disk, 'store'), { blockSize: SIZE }), 2)
  const root = await pool.root()
  const a = await file(pool, root.id, 'a')
  const later = []
  for (const name of ['b', 'c', 'd', 'e']) later.push(await file(pool, root.id, name))
  t.ok(await fill(pool, a.id) > 8, 'the disk is full')
  await pool.remove(root.id, 'a', false)
  const reclaimed = pool.reclaim(a.id)
  // The first failure to come back frees the batch; the others must see that it was freed.
  await Promise.all(later.map(async f => await pool?.writeBlocks(f.id, [0, 1].map(index => ({ index, data: pattern(SIZE, index) })), 2 * SIZE, LONG_AGO)))
  t.pass('every write succeeds')
  await reclaimed
})

t.test('a worker thread that first opens the store on a full disk answers ENOSPC, and opens once there is room', needsRoot, async t => {
  let s: LocalStore | undefined
  let pool: PooledStore | undefined
  const { disk, fill } = smallDisk(t, async () => { await pool?.close(); await s?.close() })
  const config = configFor(join(disk, 'store'), { blockSize: SIZE })
  s = await LocalStore.open(config)
  const root = await s.root()
  const f = await file(s, root.id, 'f')
  const filler = await file(s, root.id, 'filler')
  t.ok(await fill(s, filler.id) > 4, 'the disk is nearly full')
  // The last bytes go to a host file, so nothing of the store can grow.
  const rest = join(disk, 'rest')
  try { for (;;) appendFileSync(rest, new Uint8Array(4096)) } catch (err) { if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err }
  // No inline instance: every call goes to the worker, which opens its own as it starts.
  pool = new PooledStore({ threads: 1, setup: { store: { ...config, create: false } }, blockSize: SIZE, capabilities: s.capabilities })
  await rejectsErrno(t, pool.writeBlocks(f.id, [{ index: 0, data: pattern(SIZE, 1) }], SIZE, LONG_AGO), E.ENOSPC, 'ENOSPC, not EIO, while it cannot open')
  rmSync(rest)
  await s.remove(root.id, 'filler', false)
  await s.reclaim(filler.id)
  await pool.writeBlocks(f.id, [{ index: 0, data: pattern(SIZE, 1) }], SIZE, LONG_AGO)
  t.same(await s.readBlock(f.id, 0, 0, SIZE), pattern(SIZE, 1), 'with room, the next call opens it and is stored')
})
