// The serving instance's group commit (src/store/local/group.ts): it still
// conforms, another instance sees its changes once it holds, and what it
// answered survives kill -9 through the redo log, applied exactly once by
// the next open or by fsck.
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { basename, join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import t from 'tap'
import { errno as E, toErrno } from '../../src/errors.ts'
import { fsck } from '../../src/store/local/fsck.ts'
import { GROUP_MS } from '../../src/store/local/group.ts'
import { RedoLog } from '../../src/store/local/redo.ts'
import { LocalStore } from '../../src/store/local/store.ts'
import type { ObjectId, ObjectStore } from '../../src/store/types.ts'
import { conformance, type StoreFixture } from './conformance.ts'
import { S_IFDIR, file, mkdir, must, pattern, rejectsErrno } from './conformance/helpers.ts'
import { configFor, storeAltered, storeDirs } from './local-fixture.ts'

const { freshDir } = storeDirs(t, 'group')
const child = join(import.meta.dirname, 'local-group-child.ts')
const redoLogs = (dir: string): string[] => readdirSync(dir).filter(n => n.startsWith('redo-'))

/**
 * `other` reached the way the pool reaches a worker's instance: `serving`
 * holds its group committed around each call (pool.ts).
 */
function viaWorker (serving: ObjectStore, other: ObjectStore): ObjectStore {
  return new Proxy(other, {
    get (target, prop) {
      const value = Reflect.get(target, prop, target) as unknown
      if (typeof value !== 'function') return value
      return async (...args: unknown[]) => {
        const release = serving.hold?.()
        try {
          return await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args)
        } finally {
          release?.()
        }
      }
    },
  })
}

async function makeServing (): Promise<StoreFixture> {
  const dir = freshDir()
  const open: ObjectStore[] = []
  const store = await LocalStore.open(configFor(dir, { serving: true }))
  open.push(store)
  return {
    store,
    openAgain: async () => {
      // Its open writes too: in this one thread it must not wait for the group's lock.
      const release = store.hold()
      const s = await LocalStore.open(configFor(dir, { create: false })).finally(release)
      open.push(s)
      return viaWorker(store, s)
    },
    cleanup: async () => {
      for (const s of open) await s.close()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

conformance(t, 'LocalStore serving (group commit)', makeServing)

/** What another connection (another process) finds under the root. */
function namesSeenOutside (dir: string): string[] {
  const db = new DatabaseSync(join(dir, 'objfs.db'), { readOnly: true })
  try {
    const root = (db.prepare("SELECT value FROM meta WHERE key = 'root'").get() as { value: string }).value
    return (db.prepare('SELECT name FROM entries WHERE parent = ? ORDER BY name').all(root) as Array<{ name: string }>).map(r => r.name)
  } finally {
    db.close()
  }
}

t.test('a group commits on its timer, at hold() and at close, and not before', async t => {
  const dir = freshDir()
  const s = await LocalStore.open(configFor(dir, { serving: true }))
  const root = (await s.root()).id
  await file(s, root, 'a')
  t.same(namesSeenOutside(dir), [], 'not committed yet')
  await new Promise(resolve => setTimeout(resolve, GROUP_MS * 5))
  t.same(namesSeenOutside(dir), ['a'], 'committed by its timer')
  await file(s, root, 'b')
  const release = s.hold()
  t.same(namesSeenOutside(dir), ['a', 'b'], 'committed by hold()')
  await file(s, root, 'c')
  t.same(namesSeenOutside(dir), ['a', 'b', 'c'], 'while held, each change commits alone')
  release()
  await file(s, root, 'd')
  t.same(namesSeenOutside(dir), ['a', 'b', 'c'], 'released: grouped again')
  t.equal(redoLogs(dir).length, 1, 'a redo log while open')
  await s.close()
  t.same(namesSeenOutside(dir), ['a', 'b', 'c', 'd'], 'committed at close')
  t.same(redoLogs(dir), [], 'and its log removed')
})

t.test('a change that fails leaves the rest of its group', async t => {
  const dir = freshDir()
  const s = await LocalStore.open(configFor(dir, { serving: true }))
  const root = (await s.root()).id
  const d = await mkdir(s, root, 'd')
  await file(s, d.id, 'x')
  await rejectsErrno(t, file(s, d.id, 'x'), E.EEXIST, 'a second x')
  await rejectsErrno(t, s.remove(root, 'd', true), E.ENOTEMPTY, 'rmdir of a full directory')
  await file(s, d.id, 'y')
  t.equal((await s.getattr(d.id)).nlink, 2, 'd')
  await s.close()
  const again = await LocalStore.open(configFor(dir, { create: false }))
  const d2 = await must(again, (await again.root()).id, 'd')
  t.same((await again.list(d2.id, null, 10)).entries.map(e => e.name), ['x', 'y'], 'both files, once each')
  await again.close()
})

/** Files this process holds open that SQLite made for itself (statement journals and other temporary files, unlinked at once). */
const sqliteTempFiles = (): string[] =>
  readdirSync('/proc/self/fd').flatMap(fd => {
    try {
      return [readlinkSync(join('/proc/self/fd', fd))]
    } catch {
      return [] // the directory's own fd, closed by now
    }
  }).filter(target => basename(target).startsWith('etilqs_'))

t.test('statements inside an open group keep their journals in memory', async t => {
  // A statement inside a transaction journals the pages it changes, so that
  // it alone can be undone. Past 64 KiB SQLite moves that journal into a
  // temporary file (in /var/tmp) unless told otherwise, and the rest of the
  // group then writes it there: freeing a batch of orphans did, and every
  // unlink after it paid ~8 us of pwrite(2)s.
  const dir = freshDir()
  const s = await LocalStore.open(configFor(dir, { serving: true }))
  const root = (await s.root()).id
  const d = await mkdir(s, root, 'd')
  const ids: ObjectId[] = []
  for (let i = 0; i < 100; i++) ids.push((await file(s, d.id, `f${i}`)).id)
  for (let i = 0; i < 100; i++) await s.remove(d.id, `f${i}`, false)
  // One batch, freed in one macrotask: the group it wrote into is still open below.
  await Promise.all(ids.map(async id => { await s.reclaim(id) }))
  await file(s, root, 'after')
  t.notOk(namesSeenOutside(dir).includes('after'), 'the group is still open')
  t.same(sqliteTempFiles(), [], 'no temporary file open')
  await s.close()
})

t.test('a group keeps the pages it changed in memory until its commit', async t => {
  // SQLite's default page cache (2 MiB) is less than the pages a group of
  // metadata changes touches on a store of some size (an object's row is
  // found by a random uuid), and past it SQLite spills them into the WAL
  // before the commit, writing them twice.
  const dir = freshDir()
  let s = await LocalStore.open(configFor(dir, { serving: true }))
  const root = (await s.root()).id
  const ids: ObjectId[] = []
  for (let i = 0; i < 20_000; i++) ids.push((await file(s, root, `f${i}`)).id)
  await s.close()
  s = await LocalStore.open(configFor(dir, { create: false, serving: true }))
  const wal = join(dir, 'objfs.db-wal')
  const before = statSync(wal).size
  // Every fifth object: ~3 MiB of the objects' pages, in one group (no macrotask, no timer).
  for (let i = 0; i < ids.length; i += 5) await s.setattr(ids[i], { mode: 0o600 })
  await file(s, root, 'after')
  t.notOk(namesSeenOutside(dir).includes('after'), 'the group is still open')
  t.equal(statSync(wal).size, before, 'nothing written into the WAL before the commit')
  await s.close()
  t.same(namesSeenOutside(dir).includes('after'), true, 'committed at close')
})

t.test('a change that fails after writing part of itself leaves none of itself and the rest of its group', async t => {
  const dir = freshDir()
  // Checks come before writes, so only a fault fails a change halfway: here
  // the entry's insert, after the object's row was written.
  await storeAltered(dir, "CREATE TRIGGER boom BEFORE INSERT ON entries WHEN NEW.name = 'boom' BEGIN SELECT RAISE(ABORT, 'injected'); END")
  const s = await LocalStore.open(configFor(dir, { create: false, serving: true }))
  const root = (await s.root()).id
  await file(s, root, 'a')
  await t.rejects(file(s, root, 'boom'), 'the change fails')
  t.same(namesSeenOutside(dir), [], 'a was in the open group when it was undone')
  t.ok(await s.lookup(root, 'a'), 'a is still there')
  t.equal(await s.lookup(root, 'boom'), null, 'boom is not')
  await file(s, root, 'b')
  await s.close()
  t.same(namesSeenOutside(dir), ['a', 'b'], 'committed: a and b')
  const after = new DatabaseSync(join(dir, 'objfs.db'), { readOnly: true })
  t.equal((after.prepare('SELECT count(*) AS n FROM objects').get() as { n: number }).n, 3, 'no row of boom\'s object: root, a and b only')
  after.close()
})

t.test('an orphan freed in a group that is then undone and made again is freed again in the same mount', async t => {
  const dir = freshDir()
  await storeAltered(dir, "CREATE TRIGGER boom BEFORE INSERT ON entries WHEN NEW.name = 'boom' BEGIN SELECT RAISE(ABORT, 'injected'); END")
  const s = await LocalStore.open(configFor(dir, { create: false, serving: true }))
  const root = (await s.root()).id
  const x = await file(s, root, 'x')
  await s.writeBlocks(x.id, [{ index: 0, data: pattern(100, 1) }], 100, x.mtime)
  await s.remove(root, 'x', false)
  await s.reclaim(x.id)
  // Freeing is not in the redo log: the rebuild after boom brings x's rows back.
  await t.rejects(file(s, root, 'boom'), 'a change fails halfway and takes its group with it')
  await file(s, root, 'y')
  // close() frees what is queued: x only if the rebuild queued it again.
  await s.close()
  const after = new DatabaseSync(join(dir, 'objfs.db'), { readOnly: true })
  t.same((after.prepare('SELECT id FROM objects WHERE id = ?').all(x.id)), [], 'x\'s row is gone at close, not left for the next open')
  t.equal((after.prepare('SELECT count(*) AS n FROM blocks WHERE id = ?').get(x.id) as { n: number }).n, 0, 'and its blocks')
  after.close()
  t.same(namesSeenOutside(dir), ['y'], 'y, made after the rebuild, is kept')
  t.same(fsck(dir, { repair: false, force: false }).findings, [], 'fsck: clean')
})

t.test('what a killed daemon answered is applied once by the next open', async t => {
  const dir = freshDir()
  const run = spawnSync(process.execPath, [child, dir], { encoding: 'utf8', timeout: 60_000 })
  t.equal(run.signal, 'SIGKILL', 'the child was killed')
  const made = JSON.parse(run.stdout.split('\n')[0]) as { d: string, f: string, fIno: number, gone: string }
  t.equal(redoLogs(dir).length, 1, 'its redo log is left')
  t.same(namesSeenOutside(dir), ['d'], 'the database alone has only what was committed')

  const s = await LocalStore.open(configFor(dir, { create: false }))
  const root = (await s.root()).id
  t.same((await s.list(root, null, 10)).entries.map(e => e.name), ['d'], 'f renamed away, gone removed')
  const d = await must(s, root, 'd')
  t.same((await s.list(d.id, null, 10)).entries.map(e => e.name), ['early0', 'early1', 'early2', 'g', 'late0', 'late1'])
  t.equal(d.nlink, 2 + 5, 'each subdirectory counted once: committed records are not run again')
  const g = await must(s, d.id, 'g')
  t.equal(g.id, made.f, 'the same object')
  t.equal(g.ino, made.fIno, 'with the ino it was answered with')
  t.equal(g.mode, 0o100600, 'chmod')
  t.equal(g.size, 100, 'size')
  t.same(await s.readBlock(g.id, 0, 0, 100), new Uint8Array(100).fill(7), 'data written inline')
  t.same(await s.getxattr(g.id, 'user.k'), new Uint8Array([1, 2, 3]), 'xattr')
  await rejectsErrno(t, s.getattr(made.gone as never), E.ENOENT, 'the removed file was freed at open, as a dead daemon\'s orphan')
  t.same(redoLogs(dir), [], 'the dead daemon\'s log is spent')
  await s.close()
  t.same(redoLogs(dir), [])
  const report = fsck(dir, { repair: false, force: false })
  t.same(report.findings, [], 'fsck finds the store consistent')
})

t.test('fsck applies a dead daemon\'s redo log in its check, and keeps it only with --repair', async t => {
  const dir = freshDir()
  const run = spawnSync(process.execPath, [child, dir], { encoding: 'utf8', timeout: 60_000 })
  t.equal(run.signal, 'SIGKILL')
  const check = fsck(dir, { repair: false, force: false })
  t.match(check.findings.find(f => f.kind === 'redo-log'), { detail: /^9 changes a stopped daemon answered/ }, 'reported')
  t.same(check.findings.map(f => f.kind).sort(), ['orphan-object', 'redo-log'], 'and checked as applied: the removed file is the dead daemon\'s orphan')
  t.equal(redoLogs(dir).length, 1, 'a check changes nothing')
  t.same(namesSeenOutside(dir), ['d'])
  const repair = fsck(dir, { repair: true, force: false })
  t.ok(repair.findings.every(f => f.repaired === true), 'applied, and the orphan freed')
  t.same(redoLogs(dir), [], 'applied and removed')
  t.same(fsck(dir, { repair: false, force: false }).findings, [], 'clean after')
  const s = await LocalStore.open(configFor(dir, { create: false }))
  const d = await must(s, (await s.root()).id, 'd')
  t.equal(d.nlink, 7, 'applied once')
  t.equal((await must(s, d.id, 'g')).mode & S_IFDIR, 0, 'g is the file')
  await s.close()
})

t.test('a redo log of a live instance is left to it', async t => {
  const dir = freshDir()
  const a = await LocalStore.open(configFor(dir, { serving: true }))
  await file(a, (await a.root()).id, 'mine')
  const release = a.hold()
  const b = await LocalStore.open(configFor(dir, { create: false }))
  release()
  await file(a, (await a.root()).id, 'mine too')
  t.equal(redoLogs(dir).length, 1, 'a\'s log is still there')
  await viaWorker(a, b).close()
  await a.close()
  t.same(namesSeenOutside(dir), ['mine', 'mine too'], 'a committed its own changes')
  t.ok(!existsSync(join(dir, redoLogs(dir)[0] ?? 'none')))
})

t.test('a full disk: what a group answered is committed once there is room', { skip: process.getuid?.() !== 0 ? 'needs root to mount a tmpfs' : false }, async t => {
  const BIG = 64 * 1024
  const disk = join(freshDir(), 'disk')
  mkdirSync(disk, { recursive: true })
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'objfs-test-group-full', disk])
  t.teardown(() => { execFileSync('umount', ['-l', disk]) })
  const dir = join(disk, 'store')
  const s = await LocalStore.open(configFor(dir, { blockSize: BIG, serving: true }))
  t.teardown(async () => { await s.close().catch(() => {}) })
  const root = (await s.root()).id
  const f = await file(s, root, 'f')
  let stop: unknown
  for (let index = 0; stop === undefined; index++) {
    await s.writeBlocks(f.id, [{ index, data: pattern(BIG, index) }], (index + 1) * BIG, f.mtime).catch((err: unknown) => { stop = err })
  }
  t.equal(toErrno(stop), E.ENOSPC, 'writing stops with ENOSPC')
  for (let n = 0; ; n++) {
    try {
      writeFileSync(join(disk, `filler-${n}`), Buffer.alloc(512, 1))
    } catch {
      break
    }
  }
  // Answered or refused with ENOSPC, never lost: an answered one may wait for room to be committed.
  const answered: string[] = []
  for (let i = 0; i < 20; i++) {
    const got = await file(s, root, `g${i}`).then(() => 0, toErrno)
    if (got === 0) answered.push(`g${i}`)
    else t.equal(got, E.ENOSPC, `g${i} refused with ENOSPC`)
  }
  await s.remove(root, 'f', false)
  await s.reclaim(f.id)
  t.doesNotThrow(() => { s.hold()() }, 'with the room f held, the group commits')
  t.same(namesSeenOutside(dir), answered, 'every answered create, and f gone')
  await s.close()
  t.same(redoLogs(dir), [])
})

t.test('a redo log that cannot be applied stops the open, naming the file', async t => {
  const dir = freshDir()
  await (await LocalStore.open(configFor(dir))).close()
  const log = new RedoLog(dir, 'dead-instance')
  log.append({ seq: 1, steps: [['noSuchStatement', [1]]] })
  await t.rejects(LocalStore.open(configFor(dir, { create: false, serving: true })), { name: 'ConfigError', message: /cannot apply .*redo-dead-instance\.log.*unknown statement 'noSuchStatement'.*moving the file aside/ })
  t.throws(() => fsck(dir, { repair: false, force: false }), { name: 'ConfigError' }, 'fsck too')
  rmSync(log.path)
  await (await LocalStore.open(configFor(dir, { create: false, serving: true }))).close()
  t.pass('opens once it is moved aside')
})
