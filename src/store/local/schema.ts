// The metadata schema, its initialisation and the checks made on open.
import { randomUUID } from 'node:crypto'
import type { DatabaseSync } from 'node:sqlite'
import { ConfigError } from '../../errors.ts'
import { moveBlocksIntoDataFiles } from './data-upgrade.ts'
import type { Layout } from './layout.ts'
import { S_IFDIR, S_IFMT } from './rows.ts'
import { nowTimespec as now } from '../../time.ts'

/** The on-disk format this code writes and understands. */
export const FORMAT_VERSION = 6
const MAGIC = 'objfs'

// Which blocks exist. A row is inserted only after its file is complete.
// dirty: written since the last sync() of the object by ANY instance; kept
// here rather than per instance because the pool sends an fsync to whichever
// worker is free, not to the one that wrote.
// data: the content of a small block, kept in the row (format 2); NULL:
// the content is in the object's data file (one per object since format 5).
// A rowid table (format 3), unlike the others: WITHOUT ROWID keeps a row in
// an index b-tree, whose small cell limit sends a row of a few KiB to
// overflow pages; committing an 8 KiB block cost 100 us there, 35 here.
const BLOCKS_DDL = `
CREATE TABLE blocks (
  id    TEXT NOT NULL REFERENCES objects (id),
  idx   INTEGER NOT NULL,
  dirty INTEGER NOT NULL DEFAULT 1,
  data  BLOB,
  PRIMARY KEY (id, idx)
);
-- close() syncs every dirty block: find them without scanning all blocks.
CREATE INDEX blocks_dirty ON blocks (id, idx) WHERE dirty = 1;
`

/** The bytes block row `row` holds: its length in the row, or a whole block in the data file. */
const blockBytes = (row: string, blockSize: number): string => `coalesce(length(CAST(${row}.data AS BLOB)), ${blockSize})`

// What st_blocks reports (format 6): the bytes a file's block rows hold,
// a whole block for one in the data file, its length for one in its row.
// Reporting the size instead made a sparse file look dense, and cp and tar
// decide from st_blocks whether to look for holes at all: they copied a
// sparse file's holes as zeros. Kept by triggers, so every statement that
// adds, drops or changes a row keeps it, the redo log's replays included
// (group.ts); the block size is fixed per store and written into them.
const storedDdl = (blockSize: number): string => {
  const bytes = (row: string): string => blockBytes(row, blockSize)
  return `
CREATE TRIGGER blocks_stored_insert AFTER INSERT ON blocks BEGIN
  UPDATE objects SET stored = stored + ${bytes('NEW')} WHERE id = NEW.id;
END;
CREATE TRIGGER blocks_stored_delete AFTER DELETE ON blocks BEGIN
  UPDATE objects SET stored = stored - ${bytes('OLD')} WHERE id = OLD.id;
END;
CREATE TRIGGER blocks_stored_update AFTER UPDATE OF data ON blocks BEGIN
  UPDATE objects SET stored = stored - ${bytes('OLD')} + ${bytes('NEW')} WHERE id = NEW.id;
END;
`
}

/** The bytes an object's block rows hold, counted afresh (what the triggers keep in objects.stored; fsck). */
export const storedOf = (blockSize: number, id: string): string =>
  `(SELECT coalesce(sum(${blockBytes('b', blockSize)}), 0) FROM blocks b WHERE b.id = ${id})`

// No foreign key on child (format 4): enforcing one needs an index on
// child, a b-tree of random keys that every create, unlink and rename
// changed; without it a create and an unlink write 9.0 WAL pwrites between
// them instead of 12.4. What it also served, a directory's one parent for
// the subtree check of rename, is objects.parent. fsck checks both.
const ENTRIES_DDL = `
CREATE TABLE entries (
  parent TEXT NOT NULL REFERENCES objects (id),
  name   TEXT NOT NULL,
  child  TEXT NOT NULL,
  PRIMARY KEY (parent, name)
) WITHOUT ROWID;
`

// WITHOUT ROWID: every table is looked up by its primary key, so the key is
// the row and no second b-tree is kept (blocks aside, see above).
// Names compare with BINARY collation, i.e. by UTF-8 bytes: the listing
// order and the `name > ?` cursor agree with each other for any name.
const DDL = `
CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE objects (
  id       TEXT PRIMARY KEY,            -- uuid: names the data file, never changes
  ino      INTEGER NOT NULL UNIQUE,     -- st_ino, from meta.next_ino, never reused
  mode     INTEGER NOT NULL,            -- with S_IFMT type bits
  nlink    INTEGER NOT NULL,            -- 0: orphan, kept until reclaim
  uid      INTEGER NOT NULL,
  gid      INTEGER NOT NULL,
  size     INTEGER NOT NULL,
  rdev     INTEGER NOT NULL,
  atime_s  INTEGER NOT NULL, atime_ns INTEGER NOT NULL,
  mtime_s  INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
  ctime_s  INTEGER NOT NULL, ctime_ns INTEGER NOT NULL,
  target   TEXT,                        -- symlink target
  parent   TEXT,                        -- a directory's one parent (format 4); NULL: the root, not a directory
  stored   INTEGER NOT NULL DEFAULT 0   -- bytes its block rows hold (format 6, storedDdl)
) WITHOUT ROWID;
CREATE INDEX objects_orphans ON objects (nlink) WHERE nlink = 0;

${ENTRIES_DDL}

${BLOCKS_DDL}

CREATE TABLE xattrs (
  id    TEXT NOT NULL REFERENCES objects (id),
  name  TEXT NOT NULL,
  value BLOB NOT NULL,
  PRIMARY KEY (id, name)
) WITHOUT ROWID;

-- Open read-write instances, so that orphans are reclaimed only when no
-- live process can still hold one open (see instances.ts).
CREATE TABLE instances (
  token  TEXT PRIMARY KEY,
  pid    INTEGER NOT NULL,
  opened INTEGER NOT NULL
) WITHOUT ROWID;
`

/** The writer's own autocheckpoint, in pages (of 4 KiB, ~40 MiB): the backstop of the checkpoint thread. */
export const WAL_BACKSTOP_PAGES = 10_000

export interface StoreMeta {
  blockSize: number
  rootId: string
  /** At most FORMAT_VERSION: readMeta refuses newer ones. */
  formatVersion: number
}

/** Connection settings; every instance sets them, they are per connection. */
export function configure (db: DatabaseSync, readOnly: boolean): void {
  // Several instances (one per worker thread) share the file: wait for the
  // writer lock rather than fail. Transactions are short, 10 s is a stuck peer.
  db.exec('PRAGMA busy_timeout = 10000')
  if (!readOnly) {
    // WAL: readers never block the writer. NORMAL: a commit survives a crash
    // of this process; sync() upgrades to power-loss durability on demand.
    db.exec('PRAGMA journal_mode = WAL')
    db.exec('PRAGMA synchronous = NORMAL')
    // Checkpoints run in a thread of their own (checkpoint.ts); this one is
    // the backstop that lets the WAL start over (at 40 MiB).
    db.exec(`PRAGMA wal_autocheckpoint = ${WAL_BACKSTOP_PAGES}`)
    // When it does, the file is cut to nothing, so new frames are appended.
    // Frames (a 24-byte header and a page) are not aligned to the host's
    // pages: rewritten in place, each one read the old page back from disk
    // once the page cache had let the file go (drop_caches before a cold
    // step: unlink took 200 us a file instead of 70).
    db.exec('PRAGMA journal_size_limit = 0')
  }
  db.exec('PRAGMA foreign_keys = ON')
  // A statement inside a transaction journals the pages it changes so that
  // it alone can be undone; past 64 KiB that journal moves to a temporary
  // file in /var/tmp, for the rest of the transaction. A group (group.ts)
  // is a long transaction: after a batch of orphans was freed, every
  // change wrote its pages there too (~8 us of pwrite(2)s an unlink).
  db.exec('PRAGMA temp_store = MEMORY')
}

const hasTable = (db: DatabaseSync, name: string): boolean =>
  db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(name) !== undefined

const tableCount = (db: DatabaseSync): number =>
  (db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table'").get() as { n: number }).n

/**
 * Create the schema and the root directory (ino 1, mode 040755, owned by
 * root) unless another instance got there first. Runs in one IMMEDIATE
 * transaction so concurrent creators serialise and exactly one initialises.
 */
export function initialise (db: DatabaseSync, path: string, blockSize: number): void {
  db.exec('BEGIN IMMEDIATE')
  try {
    if (!hasTable(db, 'meta')) {
      if (tableCount(db) > 0) throw new ConfigError(`${path} holds a database that is not an objfs store; refusing to initialise over it`)
      db.exec(DDL)
      db.exec(storedDdl(blockSize))
      const t = now()
      const rootId = randomUUID()
      const put = db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)')
      put.run('magic', MAGIC)
      put.run('format_version', String(FORMAT_VERSION))
      put.run('block_size', String(blockSize))
      put.run('created', new Date(t.sec * 1000).toISOString())
      put.run('root', rootId)
      put.run('next_ino', '2')
      put.run('sync_seq', '0')
      db.prepare(`INSERT INTO objects (id, ino, mode, nlink, uid, gid, size, rdev,
        atime_s, atime_ns, mtime_s, mtime_ns, ctime_s, ctime_ns, target)
        VALUES (?, 1, ?, 2, 0, 0, 0, 0, ?, ?, ?, ?, ?, ?, NULL)`)
        .run(rootId, S_IFDIR | 0o755, t.sec, t.nsec, t.sec, t.nsec, t.sec, t.nsec)
    }
    db.exec('COMMIT')
  } catch (err) {
    if (db.isTransaction) db.exec('ROLLBACK')
    throw err
  }
}

/**
 * Bring an older format up to this one, in one transaction: format 1 kept
 * every block in a file; format 2 may keep a small block in its row;
 * format 3 keeps the blocks table as a rowid table; format 4 keeps a
 * directory's parent in its row, and no index of entries by child; format
 * 5 keeps an object's blocks in one data file (data-upgrade.ts); format 6
 * counts the bytes of a file's blocks in its row.
 */
export function migrate (db: DatabaseSync, layout: Layout, blockSize: number, readOnly: boolean): void {
  const path = layout.dir
  const versionOf = (): number => Number((db.prepare("SELECT value FROM meta WHERE key = 'format_version'").get() as { value: string } | undefined)?.value)
  if (versionOf() >= FORMAT_VERSION) return
  if (readOnly) throw new ConfigError(`${path}: store format ${versionOf()} must be upgraded by one read-write mount first`)
  db.exec('BEGIN IMMEDIATE')
  try {
    // Again under the lock: another instance may have upgraded meanwhile.
    const version = versionOf()
    if (version === 1) db.exec('ALTER TABLE blocks ADD COLUMN data BLOB')
    if (version <= 2) {
      db.exec('ALTER TABLE blocks RENAME TO blocks_v2')
      db.exec('DROP INDEX blocks_dirty')
      db.exec(BLOCKS_DDL)
      db.exec('INSERT INTO blocks (id, idx, dirty, data) SELECT id, idx, dirty, data FROM blocks_v2')
      db.exec('DROP TABLE blocks_v2')
    }
    if (version <= 3) {
      db.exec('ALTER TABLE objects ADD COLUMN parent TEXT')
      // While entries_child still finds a directory's one entry.
      db.exec(`UPDATE objects SET parent = (SELECT e.parent FROM entries e WHERE e.child = objects.id LIMIT 1)
        WHERE (mode & ${S_IFMT}) = ${S_IFDIR}`)
      db.exec('ALTER TABLE entries RENAME TO entries_v3')
      db.exec('DROP INDEX entries_child')
      db.exec(ENTRIES_DDL)
      db.exec('INSERT INTO entries (parent, name, child) SELECT parent, name, child FROM entries_v3')
      db.exec('DROP TABLE entries_v3')
    }
    // Last: it reads the data column that format 1 lacked.
    if (version <= 4) moveBlocksIntoDataFiles(db, layout, blockSize)
    // After the blocks found their final rows.
    if (version <= 5) {
      db.exec('ALTER TABLE objects ADD COLUMN stored INTEGER NOT NULL DEFAULT 0')
      db.exec(`UPDATE objects SET stored = ${storedOf(blockSize, 'objects.id')}`)
      db.exec(storedDdl(blockSize))
    }
    if (version < FORMAT_VERSION) db.prepare("UPDATE meta SET value = ? WHERE key = 'format_version'").run(String(FORMAT_VERSION))
    db.exec('COMMIT')
  } catch (err) {
    if (db.isTransaction) db.exec('ROLLBACK')
    throw err
  }
}

/** Read and validate the store's own description. */
export function readMeta (db: DatabaseSync, path: string): StoreMeta {
  if (!hasTable(db, 'meta')) throw new ConfigError(`${path} holds no objfs store (an interrupted initialisation? open it with create)`)
  const rows = db.prepare('SELECT key, value FROM meta').all() as Array<{ key: string, value: string }>
  const meta = new Map(rows.map(r => [r.key, r.value]))
  if (meta.get('magic') !== MAGIC) throw new ConfigError(`${path} holds a database that is not an objfs store`)
  const version = Number(meta.get('format_version'))
  if (!Number.isInteger(version) || version < 1) throw new ConfigError(`${path}: unreadable store format version '${meta.get('format_version')}'`)
  if (version > FORMAT_VERSION) throw new ConfigError(`store format ${version} is newer than this objfs supports (${FORMAT_VERSION}); upgrade objfs`)
  const blockSize = Number(meta.get('block_size'))
  if (!Number.isSafeInteger(blockSize) || blockSize <= 0) throw new ConfigError(`${path}: invalid block size '${meta.get('block_size')}' in the store`)
  const rootId = meta.get('root')
  if (rootId === undefined) throw new ConfigError(`${path}: the store records no root directory`)
  return { blockSize, rootId, formatVersion: version }
}
