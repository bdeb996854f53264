// LocalStore: the conformance suite, then what only the embedded store promises
// (its directory, its files, its database).
import { spawnSync } from 'node:child_process'
import { closeSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { Worker } from 'node:worker_threads'
import t from 'tap'
import { errno as E } from '../../src/errors.ts'
import { fsck } from '../../src/store/local/fsck.ts'
import { LocalStore } from '../../src/store/local/store.ts'
import type { ObjectStore } from '../../src/store/types.ts'
import { conformance, type StoreFixture } from './conformance.ts'
import { LONG_AGO, S_IFDIR, S_IFREG, file, mkdir, pattern, rejectsErrno } from './conformance/helpers.ts'
import { BS, blockFiles, configFor, dataPathIn, legacyPathIn, storeAltered, storeDirs, toLegacyBlockFiles, tree } from './local-fixture.ts'

const { freshDir } = storeDirs(t, 'local')

async function makeLocal (): Promise<StoreFixture> {
  const dir = freshDir()
  const open: ObjectStore[] = []
  const store = await LocalStore.open(configFor(dir))
  open.push(store)
  return {
    store,
    openAgain: async () => {
      const s = await LocalStore.open(configFor(dir, { create: false }))
      open.push(s)
      return s
    },
    cleanup: async () => {
      for (const s of open) await s.close()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

conformance(t, 'LocalStore', makeLocal)

t.test('root directory', async t => {
  const s = await LocalStore.open(configFor(freshDir()))
  t.match(await s.root(), { ino: 1, mode: S_IFDIR | 0o755, uid: 0, gid: 0, nlink: 2 }, 'ino 1, 040755, root-owned')
  await s.close()
})

t.test('creates a private directory and private files', async t => {
  const dir = join(freshDir(), 'nested', 'store')
  const s = await LocalStore.open(configFor(dir))
  const f = await file(s, (await s.root()).id, 'f')
  await s.writeBlocks(f.id, [{ index: 0, data: pattern(BS, 1) }], BS, LONG_AGO)
  await s.close()
  t.equal(statSync(dir).mode & 0o777, 0o700, 'store directory is 0700')
  t.equal(statSync(join(dir, '..')).mode & 0o777, 0o700, 'created parents are 0700')
  t.equal(statSync(join(dir, 'objfs.db')).mode & 0o777, 0o600, 'database is 0600')
  t.equal(statSync(join(dir, 'blocks', blockFiles(dir)[0])).mode & 0o777, 0o600, 'block file is 0600')
})

t.test('opens an existing empty directory', async t => {
  const dir = freshDir()
  mkdirSync(dir, { mode: 0o755 })
  const s = await LocalStore.open(configFor(dir))
  t.equal((await s.root()).ino, 1, 'initialised')
  await s.close()
})

t.test('refuses what is not a store', async t => {
  const dir = freshDir()
  mkdirSync(dir)
  writeFileSync(join(dir, 'keep.txt'), 'precious')
  await t.rejects(LocalStore.open(configFor(dir)), { code: 'OBJFS_ERR_CONFIG' }, 'a non-empty directory without a store')
  await t.rejects(LocalStore.open(configFor(dir)), { message: new RegExp(`^${dir}.*refusing`) }, 'the message names the path')
  t.same(tree(dir), ['keep.txt'], 'nothing was added')
  t.equal(readFileSync(join(dir, 'keep.txt'), 'utf8'), 'precious', 'nothing was changed')

  const foreign = freshDir()
  mkdirSync(foreign)
  const db = new DatabaseSync(join(foreign, 'objfs.db'))
  db.exec('CREATE TABLE mine (x); INSERT INTO mine VALUES (42)')
  db.close()
  await t.rejects(LocalStore.open(configFor(foreign)), { code: 'OBJFS_ERR_CONFIG' }, 'a foreign database named objfs.db')
  const again = new DatabaseSync(join(foreign, 'objfs.db'))
  t.same(again.prepare('SELECT name FROM sqlite_master').all().map(r => r.name), ['mine'], 'the foreign database is untouched')
  again.close()

  await t.rejects(LocalStore.open(configFor(freshDir(), { create: false })), { code: 'OBJFS_ERR_CONFIG' }, 'an absent store without create')
  await t.rejects(LocalStore.open(configFor(freshDir(), { readOnly: true })), { code: 'OBJFS_ERR_CONFIG' }, 'an absent store read-only')
  await t.rejects(LocalStore.open(configFor('relative/path')), { code: 'OBJFS_ERR_CONFIG' }, 'a relative path')
})

t.test('refuses a newer format', async t => {
  const dir = freshDir()
  await storeAltered(dir, "UPDATE meta SET value = '7' WHERE key = 'format_version'")
  await t.rejects(LocalStore.open(configFor(dir)), {
    code: 'OBJFS_ERR_CONFIG',
    message: 'store format 7 is newer than this objfs supports (6); upgrade objfs',
  })
})

t.test('an existing store keeps its block size', async t => {
  const dir = freshDir()
  await (await LocalStore.open(configFor(dir, { blockSize: 8192 }))).close()
  const s = await LocalStore.open(configFor(dir, { blockSize: 65536 }))
  t.equal(s.blockSize, 8192, 'block size read from the store')
  await s.close()
})

t.test('data files are named by uuid only, a file per object', async t => {
  const dir = freshDir()
  const s = await LocalStore.open(configFor(dir))
  const f = await file(s, (await s.root()).id, 'secret-name')
  await s.writeBlocks(f.id, [{ index: 0, data: pattern(BS, 1) }, { index: 1, data: pattern(BS / 2, 2) }], BS + BS / 2, LONG_AGO)
  await s.rename((await s.root()).id, 'secret-name', (await s.root()).id, 'other', 0)
  await s.close()
  const prefix = f.id.slice(0, 2)
  t.same(blockFiles(dir), [join(prefix, f.id)], '<blocks>/<2 hex>/<uuid>, unchanged by rename')
  t.equal(statSync(join(dir, 'blocks', prefix, f.id)).size, BS + BS / 2, 'block i at i * block size, the file ends where the last block does')
})

t.test('small blocks live in their row, and move between row and file', async t => {
  const dir = freshDir()
  const s = await LocalStore.open(configFor(dir))
  const f = await file(s, (await s.root()).id, 'small')
  await s.writeBlocks(f.id, [{ index: 0, data: pattern(100, 1) }], 100, LONG_AGO)
  t.same(blockFiles(dir), [], 'a 100-byte block makes no file')
  t.same(await s.readBlock(f.id, 0, 10, 20), pattern(100, 1).subarray(10, 30), 'and reads back by range')
  t.same(await s.readBlock(f.id, 0, 90, 50), pattern(100, 1).subarray(90), 'short at its end')
  await s.writeBlocks(f.id, [{ index: 0, data: pattern(BS, 2) }], BS, LONG_AGO)
  t.equal(blockFiles(dir).length, 1, 'rewritten full, it moves to a file')
  t.same(await s.readBlock(f.id, 0, 0, BS), pattern(BS, 2), 'with the new content')
  await s.writeBlocks(f.id, [{ index: 0, data: pattern(50, 3) }], BS, LONG_AGO)
  t.same(await s.readBlock(f.id, 0, 0, 50), pattern(50, 3), 'rewritten small, back in the row with the newest content')
  await s.setattr(f.id, { size: 20 })
  t.same(await s.readBlock(f.id, 0, 0, 50), pattern(50, 3).subarray(0, 20), 'truncation cuts the row too')
  t.same(blockFiles(dir), [], 'and the file, which no block is in any more, goes')
  await s.setattr(f.id, { size: 50 })
  const back = await s.readBlock(f.id, 0, 0, 50)
  t.same(back?.subarray(0, 20), pattern(50, 3).subarray(0, 20), 'extending keeps the kept bytes')
  t.ok(back === null || back.subarray(20).every(b => b === 0), 'and reads zeros past them')
  await s.close()
})

/** Turn a store of this format into what format 5 looked like: no count of stored bytes, no triggers keeping it. */
function toFormat5 (db: DatabaseSync): void {
  db.exec(`DROP TRIGGER blocks_stored_insert; DROP TRIGGER blocks_stored_delete; DROP TRIGGER blocks_stored_update;
    ALTER TABLE objects DROP COLUMN stored;
    UPDATE meta SET value = '5' WHERE key = 'format_version'`)
}

/** Turn a store of this format into what format 3 looked like: no parent column, entries indexed by child. */
function toFormat3 (db: DatabaseSync): void {
  toFormat5(db)
  db.exec(`ALTER TABLE objects DROP COLUMN parent;
    ALTER TABLE entries RENAME TO e4;
    CREATE TABLE entries (parent TEXT NOT NULL REFERENCES objects (id), name TEXT NOT NULL, child TEXT NOT NULL REFERENCES objects (id), PRIMARY KEY (parent, name)) WITHOUT ROWID;
    CREATE INDEX entries_child ON entries (child);
    INSERT INTO entries SELECT parent, name, child FROM e4; DROP TABLE e4;
    UPDATE meta SET value = '3' WHERE key = 'format_version'`)
}

t.test('a format 3 store is upgraded in place: directories learn their parent, entries lose the child index', async t => {
  const dir = freshDir()
  const s = await LocalStore.open(configFor(dir))
  const root = await s.root()
  const a = await mkdir(s, root.id, 'a')
  const b = await mkdir(s, a.id, 'b')
  const f = await file(s, b.id, 'f')
  await s.close()
  const db = new DatabaseSync(join(dir, 'objfs.db'))
  toFormat3(db)
  db.close()
  toLegacyBlockFiles(dir, BS)
  await t.rejects(LocalStore.open(configFor(dir, { readOnly: true })), { code: 'OBJFS_ERR_CONFIG', message: /store format 3 must be upgraded by one read-write mount first/ }, 'not upgraded read-only')
  const again = await LocalStore.open(configFor(dir))
  t.equal((await again.lookup(b.id, 'f'))?.id, f.id, 'names are kept')
  await rejectsErrno(t, again.rename(root.id, 'a', b.id, 'a', 0), E.EINVAL, 'the subtree check finds the parents recorded by the upgrade')
  await again.rename(a.id, 'b', root.id, 'b', 0)
  await again.rename(root.id, 'a', b.id, 'a', 0)
  t.equal((await again.lookup(b.id, 'a'))?.id, a.id, 'and the tree changes as before')
  await again.close()
  const check = new DatabaseSync(join(dir, 'objfs.db'))
  t.equal((check.prepare("SELECT value FROM meta WHERE key = 'format_version'").get() as { value: string }).value, '6', 'recorded as format 6')
  t.same(check.prepare("SELECT name FROM sqlite_master WHERE tbl_name = 'entries' AND type = 'index' AND name NOT LIKE 'sqlite_%'").all(), [], 'no index of entries by child')
  t.notMatch((check.prepare("SELECT sql FROM sqlite_master WHERE name = 'entries'").get() as { sql: string }).sql, /child\s+TEXT NOT NULL REFERENCES/, 'and no foreign key on child')
  t.same(check.prepare('SELECT id, parent FROM objects WHERE parent IS NOT NULL ORDER BY id').all().map(r => [r.id, r.parent]).sort(), [[a.id, b.id], [b.id, root.id]].sort(), 'each directory records its parent')
  check.close()
  t.same(fsck(dir, { repair: false, force: false }).findings, [], 'fsck finds nothing')
})

t.test('a format 1 store is upgraded in place', async t => {
  const dir = freshDir()
  const s = await LocalStore.open(configFor(dir))
  const f = await file(s, (await s.root()).id, 'kept')
  await s.writeBlocks(f.id, [{ index: 0, data: pattern(BS, 4) }], BS, LONG_AGO)
  await s.close()
  toLegacyBlockFiles(dir, BS)
  const db = new DatabaseSync(join(dir, 'objfs.db'))
  // What format 1 looked like: no data column.
  toFormat3(db)
  db.exec("ALTER TABLE blocks DROP COLUMN data; UPDATE meta SET value = '1' WHERE key = 'format_version'")
  db.close()
  const again = await LocalStore.open(configFor(dir))
  t.same(await again.readBlock(f.id, 0, 0, BS), pattern(BS, 4), 'the old block is read')
  await again.writeBlocks(f.id, [{ index: 1, data: pattern(10, 5) }], BS + 10, LONG_AGO)
  t.same(await again.readBlock(f.id, 1, 0, 10), pattern(10, 5), 'and a small block written after the upgrade')
  await again.close()
  const check = new DatabaseSync(join(dir, 'objfs.db'))
  t.equal((check.prepare("SELECT value FROM meta WHERE key = 'format_version'").get() as { value: string }).value, '6', 'recorded as format 6')
  check.close()
})

t.test('a format 2 store is upgraded in place: its blocks table becomes a rowid table', async t => {
  const dir = freshDir()
  const s = await LocalStore.open(configFor(dir))
  const f = await file(s, (await s.root()).id, 'kept')
  await s.writeBlocks(f.id, [{ index: 0, data: pattern(BS, 4) }, { index: 1, data: pattern(100, 5) }], BS + 100, LONG_AGO)
  await s.close()
  const db = new DatabaseSync(join(dir, 'objfs.db'))
  // What format 2 looked like: the same columns, WITHOUT ROWID.
  toFormat3(db)
  db.exec(`ALTER TABLE blocks RENAME TO b3; DROP INDEX blocks_dirty;
    CREATE TABLE blocks (id TEXT NOT NULL REFERENCES objects (id), idx INTEGER NOT NULL, dirty INTEGER NOT NULL DEFAULT 1, data BLOB, PRIMARY KEY (id, idx)) WITHOUT ROWID;
    CREATE INDEX blocks_dirty ON blocks (id, idx) WHERE dirty = 1;
    INSERT INTO blocks SELECT id, idx, dirty, data FROM b3; DROP TABLE b3;
    UPDATE meta SET value = '2' WHERE key = 'format_version'`)
  db.close()
  toLegacyBlockFiles(dir, BS)
  await t.rejects(LocalStore.open(configFor(dir, { readOnly: true })), { code: 'OBJFS_ERR_CONFIG', message: /store format 2 must be upgraded by one read-write mount first/ }, 'not upgraded read-only')
  const again = await LocalStore.open(configFor(dir))
  t.same(await again.readBlock(f.id, 0, 0, BS), pattern(BS, 4), 'the block in a file is read')
  t.same(await again.readBlock(f.id, 1, 0, 100), pattern(100, 5), 'and the block in its row')
  await again.writeBlocks(f.id, [{ index: 1, data: pattern(50, 6) }], BS + 100, LONG_AGO)
  t.same(await again.readBlock(f.id, 1, 0, 50), pattern(50, 6), 'a block rewritten after the upgrade')
  await again.close()
  const check = new DatabaseSync(join(dir, 'objfs.db'))
  t.equal((check.prepare("SELECT value FROM meta WHERE key = 'format_version'").get() as { value: string }).value, '6', 'recorded as format 6')
  const ddl = (check.prepare("SELECT sql FROM sqlite_master WHERE name = 'blocks'").get() as { sql: string }).sql
  t.notMatch(ddl, /WITHOUT ROWID/, 'blocks is a rowid table')
  t.same(check.prepare("SELECT name FROM sqlite_master WHERE tbl_name = 'blocks' AND type = 'index' AND name NOT LIKE 'sqlite_%'").all().map(r => r.name), ['blocks_dirty'], 'with its dirty index')
  t.same(check.prepare('SELECT idx, data IS NULL AS infile FROM blocks ORDER BY idx').all().map(r => [r.idx, r.infile]), [[0, 1], [1, 0]], 'every row kept, in a file or inline')
  check.close()
})

t.test('truncate to 1.5 blocks cuts the data file at the new end', async t => {
  const dir = freshDir()
  const s = await LocalStore.open(configFor(dir))
  const f = await file(s, (await s.root()).id, 'f')
  await s.writeBlocks(f.id, [0, 1, 2].map(index => ({ index, data: pattern(BS, index) })), 3 * BS, LONG_AGO)
  t.equal(blockFiles(dir).length, 1, 'three blocks, one file')
  await s.setattr(f.id, { size: BS + BS / 2 })
  const files = blockFiles(dir)
  t.equal(statSync(join(dir, 'blocks', files[0])).size, BS + BS / 2, 'the file is cut to the new end')
  await s.setattr(f.id, { size: 2 * BS })
  const back = await s.readBlock(f.id, 1, 0, BS)
  t.same(back?.subarray(0, BS / 2), pattern(BS, 1).subarray(0, BS / 2), 'extended again, the kept bytes are kept')
  t.ok(back?.subarray(BS / 2).every(b => b === 0), 'and the cut ones read as zeros')
  await s.setattr(f.id, { size: 0 })
  t.same(blockFiles(dir), [], 'at size 0 the file goes')
  await s.close()
})

t.test('a short block zeroes the rest of its place, so bytes no row names never reappear', async t => {
  const dir = freshDir()
  const s = await LocalStore.open(configFor(dir))
  const f = await file(s, (await s.root()).id, 'f')
  await s.writeBlocks(f.id, [0, 1, 2].map(index => ({ index, data: pattern(BS, index + 7) })), 3 * BS, LONG_AGO)
  await s.dropBlocks(f.id, 1, 1)
  t.equal(await s.readBlock(f.id, 1, 0, BS), null, 'a dropped block is a hole, whatever its bytes in the file')
  await s.writeBlocks(f.id, [{ index: 1, data: pattern(BS / 2, 9) }], 3 * BS, LONG_AGO)
  t.same(await s.readBlock(f.id, 1, 0, BS), Buffer.concat([pattern(BS / 2, 9), new Uint8Array(BS / 2)]), 'written short, the rest of the block reads as zeros, not the dropped bytes')
  t.same(await s.readBlock(f.id, 2, 0, BS), pattern(BS, 9), 'and the next block is untouched')
  await s.close()
})

t.test('a file counts the bytes its blocks hold, holes left out (st_blocks)', async t => {
  const dir = freshDir()
  const s = await LocalStore.open(configFor(dir))
  const root = await s.root()
  const f = await file(s, root.id, 'f')
  t.equal((await s.getattr(f.id)).stored, 0, 'a new file holds nothing')
  // Block 0 whole in the data file, block 3 small in its row, 1 and 2 holes.
  let a = await s.writeBlocks(f.id, [{ index: 0, data: pattern(BS, 1) }, { index: 3, data: pattern(100, 2) }], 3 * BS + 100, LONG_AGO)
  t.equal(a.stored, BS + 100, 'a block in the data file counts whole, one in its row its length')
  t.equal((await s.getattr(f.id)).stored, BS + 100, 'getattr reads the same')
  t.equal((await s.lookup(root.id, 'f'))?.stored, BS + 100, 'so does lookup')
  t.equal((await s.list(root.id, null, 10)).entries[0].attr.stored, BS + 100, 'and the listing')
  a = await s.writeBlocks(f.id, [{ index: 3, data: pattern(300, 3) }], 3 * BS + 300, LONG_AGO)
  t.equal(a.stored, BS + 300, 'a row rewritten longer')
  a = await s.writeBlocks(f.id, [{ index: 3, data: pattern(BS, 4) }], 4 * BS, LONG_AGO)
  t.equal(a.stored, 2 * BS, 'a row moved into the data file')
  await s.dropBlocks(f.id, 0, 0)
  t.equal((await s.getattr(f.id)).stored, BS, 'a punched block takes its bytes along')
  t.equal((await s.setattr(f.id, { size: 2 * BS })).stored, 0, 'so does truncation, in the attributes it answers')
  t.equal((await s.getattr(f.id)).stored, 0, 'and in the row')
  const g = await file(s, root.id, 'g')
  await s.writeBlocks(g.id, [{ index: 0, data: pattern(50, 5) }], 50, LONG_AGO)
  await s.remove(root.id, 'g', false)
  // Its rows go before its object: the triggers count them off a row that still exists.
  await s.reclaim(g.id)
  await s.close()
  t.same(fsck(dir, { repair: false, force: false }).findings, [], 'fsck agrees with every count')
})

t.test('fsck finds a wrong count of stored bytes and makes it again', async t => {
  const dir = freshDir()
  const s = await LocalStore.open(configFor(dir))
  const f = await file(s, (await s.root()).id, 'f')
  await s.writeBlocks(f.id, [{ index: 1, data: pattern(BS, 1) }, { index: 2, data: pattern(10, 2) }], 2 * BS + 10, LONG_AGO)
  await s.close()
  const db = new DatabaseSync(join(dir, 'objfs.db'))
  db.prepare('UPDATE objects SET stored = 7 WHERE id = ?').run(f.id)
  db.close()
  t.same(fsck(dir, { repair: false, force: false }).findings.map(x => [x.kind, x.detail]), [['stored-bytes', `${f.id} counts 7 bytes of data, its blocks hold ${BS + 10}`]], 'found')
  t.same(fsck(dir, { repair: true, force: false }).findings.map(x => [x.kind, x.repaired]), [['stored-bytes', true]], 'repaired')
  t.same(fsck(dir, { repair: false, force: false }).findings, [], 'then nothing is found')
  const again = await LocalStore.open(configFor(dir))
  t.equal((await again.getattr(f.id)).stored, BS + 10, 'the store reads the count made again')
  await again.close()
})

t.test('a format 5 store is upgraded: every file counts the bytes its blocks hold', async t => {
  const dir = freshDir()
  const s = await LocalStore.open(configFor(dir))
  const root = await s.root()
  const sparse = await file(s, root.id, 'sparse')
  const small = await file(s, root.id, 'small')
  await mkdir(s, root.id, 'd')
  await s.writeBlocks(sparse.id, [{ index: 2, data: pattern(BS, 1) }, { index: 5, data: pattern(100, 2) }], 5 * BS + 100, LONG_AGO)
  await s.writeBlocks(small.id, [{ index: 0, data: pattern(700, 3) }], 700, LONG_AGO)
  await s.close()
  const db = new DatabaseSync(join(dir, 'objfs.db'))
  toFormat5(db)
  db.close()
  await t.rejects(LocalStore.open(configFor(dir, { readOnly: true })), { code: 'OBJFS_ERR_CONFIG', message: /store format 5 must be upgraded by one read-write mount first/ }, 'not upgraded read-only')
  const again = await LocalStore.open(configFor(dir))
  t.equal((await again.getattr(sparse.id)).stored, BS + 100, 'a sparse file counts its blocks only')
  t.equal((await again.getattr(small.id)).stored, 700, 'a small file its row')
  t.equal((await again.lookup(root.id, 'd'))?.stored, 0, 'a directory nothing')
  const after = await again.writeBlocks(small.id, [{ index: 1, data: pattern(BS, 4) }], BS + BS, LONG_AGO)
  t.equal(after.stored, 700 + BS, 'and the triggers keep counting after the upgrade')
  await again.close()
  t.same(fsck(dir, { repair: false, force: false }).findings, [], 'fsck finds nothing')
})

t.test('a format 4 store is upgraded: its block files move into one data file per object', async t => {
  const dir = freshDir()
  const s = await LocalStore.open(configFor(dir))
  const root = await s.root()
  const one = await file(s, root.id, 'one')
  const many = await file(s, root.id, 'many')
  const sparse = await file(s, root.id, 'sparse')
  await s.writeBlocks(one.id, [{ index: 0, data: pattern(BS, 1) }], BS, LONG_AGO)
  await s.writeBlocks(many.id, [{ index: 0, data: pattern(BS, 2) }, { index: 1, data: pattern(BS, 3) }, { index: 2, data: pattern(BS / 2, 4) }], 2 * BS + BS / 2, LONG_AGO)
  await s.writeBlocks(sparse.id, [{ index: 3, data: pattern(BS, 5) }, { index: 5, data: pattern(100, 6) }], 5 * BS + 100, LONG_AGO)
  await s.close()
  const db = new DatabaseSync(join(dir, 'objfs.db'))
  toFormat5(db)
  db.exec("UPDATE meta SET value = '4' WHERE key = 'format_version'")
  db.close()
  toLegacyBlockFiles(dir, BS)
  t.equal(blockFiles(dir).length, 5, 'a file per block before')
  // An upgrade cut short: many's block 0 already renamed into place, block 1 copied but not yet deleted.
  renameSync(legacyPathIn(dir, many.id, 0), dataPathIn(dir, many.id))
  const fd = openSync(dataPathIn(dir, many.id), 'r+')
  writeSync(fd, readFileSync(legacyPathIn(dir, many.id, 1)), 0, BS, BS)
  closeSync(fd)
  const again = await LocalStore.open(configFor(dir))
  t.same(await again.readBlock(one.id, 0, 0, BS), pattern(BS, 1), 'a file of one block')
  for (const [i, n, seed] of [[0, BS, 2], [1, BS, 3], [2, BS / 2, 4]]) {
    t.same((await again.readBlock(many.id, i, 0, BS))?.subarray(0, n), pattern(n, seed), `block ${i} of a file of three, after an interrupted upgrade`)
  }
  t.equal(await again.readBlock(sparse.id, 4, 0, BS), null, 'a hole stays a hole')
  t.same(await again.readBlock(sparse.id, 3, 0, BS), pattern(BS, 5), 'the blocks around it keep their places')
  t.same(await again.readBlock(sparse.id, 5, 0, 100), pattern(100, 6), 'the inline block stays in its row')
  await again.close()
  t.same(blockFiles(dir).sort(), [one.id, many.id, sparse.id].map(id => join(id.slice(0, 2), id)).sort(), 'one data file per object, no block file left')
  const check = new DatabaseSync(join(dir, 'objfs.db'))
  t.equal((check.prepare("SELECT value FROM meta WHERE key = 'format_version'").get() as { value: string }).value, '6', 'recorded as format 6')
  check.close()
  t.same(fsck(dir, { repair: false, force: false }).findings, [], 'fsck finds nothing')
})

t.test('orphans', async t => {
  const dir = freshDir()
  const a = await LocalStore.open(configFor(dir))
  const root = await a.root()
  const f = await file(a, root.id, 'f')
  await a.writeBlocks(f.id, [{ index: 0, data: pattern(BS, 1) }], BS, LONG_AGO)
  await a.remove(root.id, 'f', false)
  // O_TMPFILE's file, never named: an orphan from the start.
  const u = await a.createUnnamed(root.id, { mode: S_IFREG | 0o600, uid: 0, gid: 0 })
  await a.writeBlocks(u.id, [{ index: 0, data: pattern(BS, 2) }], BS, LONG_AGO)
  const b = await LocalStore.open(configFor(dir, { create: false }))
  t.equal((await b.getattr(f.id)).nlink, 0, 'not reclaimed while another instance is open')
  t.equal((await b.getattr(u.id)).nlink, 0, 'nor the unnamed file')
  await b.close()
  await a.close()
  // A crashed daemon leaves its instance row behind with a dead pid.
  const dead = spawnSync(process.execPath, ['-e', '']).pid as number
  const db = new DatabaseSync(join(dir, 'objfs.db'))
  db.prepare('INSERT INTO instances (token, pid, opened) VALUES (?, ?, 0)').run('crashed', dead)
  db.close()
  const c = await LocalStore.open(configFor(dir, { create: false }))
  await rejectsErrno(t, c.getattr(f.id), E.ENOENT, 'reclaimed on reopen once its holders are gone')
  await rejectsErrno(t, c.getattr(u.id), E.ENOENT, 'the unnamed file too')
  t.same(blockFiles(dir), [], 'its block files are deleted')
  await c.close()
})

t.test('inos are never reused', async t => {
  const s = await LocalStore.open(configFor(freshDir()))
  const root = await s.root()
  const a = await file(s, root.id, 'a')
  await s.remove(root.id, 'a', false)
  await s.reclaim(a.id)
  const b = await file(s, root.id, 'b')
  t.ok(b.ino > a.ino, 'a later object gets a larger ino')
  await s.close()
})

t.test('remove tells a missing name from a parent that is no directory', async t => {
  const s = await LocalStore.open(configFor(freshDir()))
  const root = await s.root()
  const f = await file(s, root.id, 'f')
  await rejectsErrno(t, s.remove(f.id, 'x', false), E.ENOTDIR, 'unlink under a file')
  await rejectsErrno(t, s.remove(f.id, 'x', true), E.ENOTDIR, 'rmdir under a file')
  await s.remove(root.id, 'f', false)
  await s.reclaim(f.id)
  await rejectsErrno(t, s.remove(f.id, 'x', false), E.ENOENT, 'unlink under an object that is gone')
  await s.close()
})

t.test('read-only rejects every change with EROFS', async t => {
  const dir = freshDir()
  const w = await LocalStore.open(configFor(dir))
  const root = await w.root()
  const f = await file(w, root.id, 'f')
  await w.writeBlocks(f.id, [{ index: 0, data: pattern(BS, 1) }], BS, LONG_AGO)
  await w.setxattr(f.id, 'user.x', pattern(1, 1), 0)
  await w.close()
  const r = await LocalStore.open(configFor(dir, { readOnly: true, create: false }))
  const refusals: Array<[string, () => Promise<unknown>]> = [
    ['create', () => file(r, root.id, 'g')],
    ['mkdir', () => mkdir(r, root.id, 'd')],
    ['link', () => r.link(f.id, root.id, 'l')],
    ['remove', () => r.remove(root.id, 'f', false)],
    ['reclaim', () => r.reclaim(f.id)],
    ['rename', () => r.rename(root.id, 'f', root.id, 'g', 0)],
    ['setattr', () => r.setattr(f.id, { mode: 0o600 })],
    ['writeBlocks', () => r.writeBlocks(f.id, [{ index: 0, data: pattern(1, 1) }], 1, LONG_AGO)],
    ['dropBlocks', () => r.dropBlocks(f.id, 0, 0)],
    ['setxattr', () => r.setxattr(f.id, 'user.y', pattern(1, 1), 0)],
    ['removexattr', () => r.removexattr(f.id, 'user.x')],
  ]
  for (const [name, call] of refusals) await rejectsErrno(t, call(), E.EROFS, name)
  t.same(await r.readBlock(f.id, 0, 0, 10), pattern(10, 1), 'reads work')
  t.equal((await r.list(root.id, null, 10)).entries.length, 1, 'listing works')
  await r.sync(f.id)
  await r.close()
})

t.test('fsync covers blocks written by another instance', async t => {
  const dir = freshDir()
  const a = await LocalStore.open(configFor(dir))
  const b = await LocalStore.open(configFor(dir, { create: false }))
  const f = await file(a, (await a.root()).id, 'f')
  await a.writeBlocks(f.id, [0, 1].map(index => ({ index, data: pattern(BS, index) })), 2 * BS, LONG_AGO)
  const dirty = (): number => {
    const db = new DatabaseSync(join(dir, 'objfs.db'), { readOnly: true })
    const n = (db.prepare('SELECT count(*) AS n FROM blocks WHERE dirty = 1').get() as { n: number }).n
    db.close()
    return n
  }
  t.equal(dirty(), 2, 'written blocks await a sync')
  await b.sync(f.id)
  t.equal(dirty(), 0, 'a sync through another instance takes them')
  await a.close()
  await b.close()
})

t.test('worker threads writing at once lose nothing', async t => {
  const dir = freshDir()
  const s = await LocalStore.open(configFor(dir))
  const root = await s.root()
  const f = await file(s, root.id, 'f')
  const d = await mkdir(s, root.id, 'd')
  const workers = 3
  const count = 30
  await Promise.all(Array.from({ length: workers }, async (_, worker) => {
    const w = new Worker(new URL('./local-worker.ts', import.meta.url), {
      workerData: { url: `local:${dir}`, dirId: d.id, fileId: f.id, worker, workers, count },
    })
    await new Promise<void>((resolve, reject) => {
      w.once('error', reject)
      w.once('exit', code => { code === 0 ? resolve() : reject(new Error(`worker exited ${code}`)) })
    })
  }))
  const total = workers * count
  t.equal((await s.getattr(f.id)).size, total * BS, 'size of the furthest block')
  let intact = 0
  for (let i = 0; i < total; i++) {
    const got = await s.readBlock(f.id, i, 0, BS)
    if (got !== null && got.length === BS && got.every(x => x === i % 251 + 1)) intact++
  }
  t.equal(intact, total, 'every block landed intact')
  t.equal((await s.getattr(d.id)).nlink, 2 + total, 'every mkdir counted in the parent nlink')
  t.equal((await s.list(d.id, null, 1000)).entries.length, total, 'every entry listed')
  await s.close()
})
