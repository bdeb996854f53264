// Every SQL statement the store runs, prepared once per instance.
import type { DatabaseSync, StatementSync } from 'node:sqlite'

const OBJECT_COLUMNS = 'id, ino, mode, nlink, uid, gid, size, rdev, atime_s, atime_ns, mtime_s, mtime_ns, ctime_s, ctime_ns, target'
// Read, never written by a statement of the store's: the triggers on blocks keep `stored` (schema.ts).
const READ_COLUMNS = `${OBJECT_COLUMNS}, stored`
const O = READ_COLUMNS.split(', ').map(c => `o.${c}`).join(', ')

const sql = {
  // transactions (context.ts); IMMEDIATE takes the write lock up front
  begin: 'BEGIN IMMEDIATE',
  commit: 'COMMIT',
  rollback: 'ROLLBACK',

  // objects
  getObject: `SELECT ${READ_COLUMNS} FROM objects WHERE id = ?`,
  getObjectByIno: `SELECT ${READ_COLUMNS} FROM objects WHERE ino = ?`,
  hasObject: 'SELECT 1 AS x FROM objects WHERE id = ?',
  // [mode, nlink]: what a directory check needs, without the rest of the row
  objectKind: 'SELECT mode, nlink FROM objects WHERE id = ?',
  insertObject: `INSERT INTO objects (${OBJECT_COLUMNS}) VALUES (${OBJECT_COLUMNS.split(', ').map(() => '?').join(', ')})`,
  deleteObject: 'DELETE FROM objects WHERE id = ?',
  addNlink: 'UPDATE objects SET nlink = nlink + ? WHERE id = ?',
  // a name more or less: link count and ctime in one statement
  addLinks: 'UPDATE objects SET nlink = nlink + ?, ctime_s = ?, ctime_ns = ? WHERE id = ?',
  // a directory whose entries changed: ".." links, mtime and ctime in one statement
  touchDir: 'UPDATE objects SET nlink = nlink + ?, mtime_s = ?, mtime_ns = ?, ctime_s = ?, ctime_ns = ? WHERE id = ?',
  touchCtime: 'UPDATE objects SET ctime_s = ?, ctime_ns = ? WHERE id = ?',
  touchMtime: 'UPDATE objects SET mtime_s = ?, mtime_ns = ?, ctime_s = ?, ctime_ns = ? WHERE id = ?',
  updateAttrs: `UPDATE objects SET mode = ?, uid = ?, gid = ?, size = ?,
    atime_s = ?, atime_ns = ?, mtime_s = ?, mtime_ns = ?, ctime_s = ?, ctime_ns = ? WHERE id = ?`,
  growSize: `UPDATE objects SET size = max(size, ?), mtime_s = ?, mtime_ns = ?, ctime_s = ?, ctime_ns = ?
    WHERE id = ?`,
  orphans: 'SELECT id FROM objects WHERE nlink = 0',
  // a directory's one parent (rename's subtree check); NULL for the root
  parentOf: 'SELECT parent FROM objects WHERE id = ?',
  setParent: 'UPDATE objects SET parent = ? WHERE id = ?',
  countObjects: 'SELECT count(*) AS n FROM objects',

  // meta counters; the text value is bumped in place, never reused
  // a range of ?1 inos, from the returned one on (inos.ts)
  takeInos: `UPDATE meta SET value = CAST(CAST(value AS INTEGER) + ?1 AS TEXT) WHERE key = 'next_ino'
    RETURNING CAST(value AS INTEGER) - ?1 AS ino`,
  bumpSyncSeq: "UPDATE meta SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) WHERE key = 'sync_seq'",
  getMeta: 'SELECT value FROM meta WHERE key = ?',
  putMeta: 'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
  deleteMeta: 'DELETE FROM meta WHERE key = ?',

  // entries
  lookup: `SELECT ${O} FROM entries e JOIN objects o ON o.id = e.child WHERE e.parent = ? AND e.name = ?`,
  hasEntry: 'SELECT 1 AS x FROM entries WHERE parent = ? AND name = ?',
  // [id, mode, nlink] of the object a name leads to
  lookupKind: 'SELECT o.id, o.mode, o.nlink FROM entries e JOIN objects o ON o.id = e.child WHERE e.parent = ? AND e.name = ?',
  list: `SELECT e.name AS name, ${O} FROM entries e JOIN objects o ON o.id = e.child
    WHERE e.parent = ? AND e.name > ? ORDER BY e.name LIMIT ?`,
  hasChildren: 'SELECT 1 AS x FROM entries WHERE parent = ? LIMIT 1',
  insertEntry: 'INSERT INTO entries (parent, name, child) VALUES (?, ?, ?)',
  deleteEntry: 'DELETE FROM entries WHERE parent = ? AND name = ?',
  moveEntry: 'UPDATE entries SET parent = ?, name = ? WHERE parent = ? AND name = ?',
  pointEntry: 'UPDATE entries SET child = ? WHERE parent = ? AND name = ?',

  // blocks
  hasBlock: 'SELECT 1 AS x FROM blocks WHERE id = ? AND idx = ?',
  // inline: 1 when the block's content is in the row; part: the byte range asked for (substr is 1-based).
  blockRange: 'SELECT data IS NOT NULL AS inline, substr(data, ? + 1, ?) AS part FROM blocks WHERE id = ? AND idx = ?',
  insertBlock: `INSERT INTO blocks (id, idx, dirty, data) VALUES (?, ?, 1, ?)
    ON CONFLICT (id, idx) DO UPDATE SET dirty = 1, data = excluded.data`,
  cutInline: 'UPDATE blocks SET data = substr(data, 1, ?) WHERE id = ? AND idx = ? AND data IS NOT NULL',
  markDirty: 'UPDATE blocks SET dirty = 1 WHERE id = ? AND idx = ?',
  // Claimed before the fsync: a write committed after the claim marks its
  // block dirty again and the next sync takes it.
  claimDirty: 'UPDATE blocks SET dirty = 0 WHERE id = ? AND dirty = 1 RETURNING id, idx',
  claimAllDirty: 'UPDATE blocks SET dirty = 0 WHERE dirty = 1 RETURNING id, idx',
  anyInFile: 'SELECT 1 AS x FROM blocks WHERE id = ? AND data IS NULL LIMIT 1',
  blocksIn: 'SELECT idx FROM blocks WHERE id = ? AND idx BETWEEN ? AND ? ORDER BY idx',
  deleteBlocksIn: 'DELETE FROM blocks WHERE id = ? AND idx BETWEEN ? AND ?',
  firstData: 'SELECT min(idx) AS idx FROM blocks WHERE id = ? AND idx >= ? AND idx < ?',
  // The first missing index after a present one: with `from` itself present,
  // that is the first hole at or after `from`.
  firstGap: `SELECT min(b.idx) + 1 AS idx FROM blocks b WHERE b.id = ? AND b.idx >= ?
    AND NOT EXISTS (SELECT 1 FROM blocks c WHERE c.id = b.id AND c.idx = b.idx + 1)`,

  // xattrs
  getXattr: 'SELECT value FROM xattrs WHERE id = ? AND name = ?',
  putXattr: `INSERT INTO xattrs (id, name, value) VALUES (?, ?, ?)
    ON CONFLICT (id, name) DO UPDATE SET value = excluded.value`,
  listXattr: 'SELECT name FROM xattrs WHERE id = ? ORDER BY name',
  deleteXattr: 'DELETE FROM xattrs WHERE id = ? AND name = ?',
  deleteXattrs: 'DELETE FROM xattrs WHERE id = ?',

  // instances
  instances: 'SELECT token, pid FROM instances',
  insertInstance: 'INSERT INTO instances (token, pid, opened) VALUES (?, ?, ?)',
  deleteInstance: 'DELETE FROM instances WHERE token = ?',
} as const

export type Statements = { readonly [K in keyof typeof sql]: StatementSync }

// Rows of these come as arrays (rows.ts rowOf): node:sqlite builds an
// object per row property by property, several microseconds for an object
// row, and these are read by nearly every request.
const ARRAYS: ReadonlySet<keyof typeof sql> = new Set(['getObject', 'getObjectByIno', 'objectKind', 'lookup', 'lookupKind', 'list'] as const)

/** Told of every writing statement that ran, with its arguments (the redo log's steps, group.ts). */
export type OnWrite = (statement: string, args: unknown[]) => void

const WRITES = /^\s*(INSERT|UPDATE|DELETE)\b/
// The group's own bookkeeping, written at its commit: never a change's step.
const UNLOGGED: ReadonlySet<keyof typeof sql> = new Set(['putMeta'] as const)

export function prepare (db: DatabaseSync, onWrite?: OnWrite): Statements {
  const out: Record<string, StatementSync> = {}
  for (const [key, text] of Object.entries(sql)) {
    const st = db.prepare(text)
    if (ARRAYS.has(key as keyof typeof sql)) st.setReturnArrays(true)
    if (onWrite !== undefined && WRITES.test(text) && !UNLOGGED.has(key as keyof typeof sql)) told(st, key, onWrite)
    out[key] = st
  }
  return out as Statements
}

/** Make `st` report each run that succeeded. */
function told (st: StatementSync, key: string, onWrite: OnWrite): void {
  for (const method of ['run', 'get', 'all'] as const) {
    const inner = st[method].bind(st) as (...args: unknown[]) => unknown
    Object.defineProperty(st, method, {
      value: (...args: unknown[]) => {
        const result = inner(...args)
        onWrite(key, args)
        return result
      },
    })
  }
}

/** Binding order of insertObject, matching OBJECT_COLUMNS. */
export const OBJECT_COLUMN_NAMES = OBJECT_COLUMNS.split(', ')
