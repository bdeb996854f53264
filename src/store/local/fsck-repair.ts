// Applying an fsck plan. Rows change inside the caller's IMMEDIATE
// transaction; files are deleted and cut only after it commits, the order
// the store itself keeps (data.ts): a crash in between leaves files no row
// names, which the next fsck finds, never a row naming a file that is gone.
import { truncateSync, unlinkSync } from 'node:fs'
import type { DatabaseSync } from 'node:sqlite'
import type { Plan } from './fsck-model.ts'
import { S_IFDIR, type ObjectRow } from './rows.ts'
import { nowTimespec as now } from '../../time.ts'
import { storedOf } from './schema.ts'
import { OBJECT_COLUMN_NAMES, prepare } from './statements.ts'

/** The metadata half, inside the caller's transaction. Order keeps every foreign key valid. */
export function applyRows (db: DatabaseSync, plan: Plan, blockSize: number): void {
  const st = prepare(db)
  const run = (sql: string, ...args: Array<string | number>): void => { db.prepare(sql).run(...args) }
  // Before the lost+found directory takes an inode number from it.
  if (plan.nextIno !== undefined) run("UPDATE meta SET value = ? WHERE key = 'next_ino'", String(plan.nextIno))
  for (const e of plan.deleteEntries) st.deleteEntry.run(e.parent, e.name)
  if (plan.createDir !== undefined) {
    const { ino } = st.takeInos.get(1) as { ino: number }
    const t = now()
    const row: ObjectRow = {
      id: plan.createDir.id, ino, mode: S_IFDIR | 0o700, nlink: plan.setNlink.get(plan.createDir.id) ?? 2, uid: 0, gid: 0, size: 0, rdev: 0,
      atime_s: t.sec, atime_ns: t.nsec, mtime_s: t.sec, mtime_ns: t.nsec, ctime_s: t.sec, ctime_ns: t.nsec, target: null, stored: 0,
    }
    st.insertObject.run(...OBJECT_COLUMN_NAMES.map(c => row[c as keyof ObjectRow]))
  }
  for (const e of plan.addEntries) st.insertEntry.run(e.parent, e.name, e.child)
  for (const id of plan.reclaim) {
    run('DELETE FROM blocks WHERE id = ?', id)
    st.deleteXattrs.run(id)
    st.deleteObject.run(id)
  }
  for (const [id, nlink] of plan.setNlink) run('UPDATE objects SET nlink = ? WHERE id = ?', nlink, id)
  for (const [id, parent] of plan.setParent) st.setParent.run(parent, id)
  for (const b of plan.deleteBlockRows) run('DELETE FROM blocks WHERE id = ? AND idx = ?', b.id, b.idx)
  for (const id of plan.deleteXattrsOf) st.deleteXattrs.run(id)
  for (const b of plan.cutInline) run('UPDATE blocks SET data = substr(CAST(data AS BLOB), 1, ?) WHERE id = ? AND idx = ?', b.length, b.id, b.idx)
  // Last: from the rows as the steps above left them.
  for (const id of plan.recount) run(`UPDATE objects SET stored = ${storedOf(blockSize, 'objects.id')} WHERE id = ?`, id)
}

/** The file half, after the commit. Already gone is fine: fsck may have raced a reclaim. */
export function applyFiles (plan: Plan): void {
  for (const path of plan.removeFiles) {
    try {
      unlinkSync(path)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    }
  }
  for (const { path, length } of plan.truncateFiles) truncateSync(path, length)
}
