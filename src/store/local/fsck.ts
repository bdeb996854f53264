// fsck for the embedded store: is the metadata consistent with itself and
// with the data files, and if asked, make it so without touching good data.
//
// Checked: SQLite's own integrity; entries naming missing objects or hanging
// off missing parents; objects no path reaches (orphans are freed, anything
// with data or links is named in lost+found); link counts; block rows of
// missing objects, of non-files, past the size; data files no object keeps
// a block in, and rows whose bytes their data file lacks; bytes past the
// size, in a row or a data file; block files of the layout before format 5;
// xattrs of missing objects; the inode counter.
//
// A daemon with the store open (a live row in `instances`) may hold orphans
// open and be halfway through writing blocks, so fsck refuses such a store
// unless forced, and even then leaves those alone.
//
// The store is checked as it is, never upgraded: only a mount changes its
// format, so fsck reads the current one alone. What a stopped daemon
// answered but had not committed (its redo log, group.ts) is part of the
// store: it is applied first, inside the check's transaction, and kept
// only with --repair (else the next mount applies it).
import { DatabaseSync } from 'node:sqlite'
import { ConfigError } from '../../errors.ts'
import { checkBlocks, checkNextIno, checkStored, checkXattrs } from './fsck-blocks.ts'
import { checkDirParents, checkEntries, checkLinkCounts, checkReachable } from './fsck-graph.ts'
import { FsckModel, emptyPlan, type Finding, type Plan } from './fsck-model.ts'
import { applyFiles, applyRows } from './fsck-repair.ts'
import { Layout, inspect } from './layout.ts'
import { alive } from '../../liveness.ts'
import { applyDeadLogs, changesIn, removeLogs, type Pending } from './recover.ts'
import { redoTokens } from './redo.ts'
import { isDir } from './rows.ts'
import { FORMAT_VERSION, readMeta } from './schema.ts'
import { prepare } from './statements.ts'

export type { Finding, FindingKind } from './fsck-model.ts'

export interface FsckOptions {
  repair: boolean
  /** Check (and repair what is safe) even while a daemon has the store open. */
  force: boolean
}

export interface FsckReport {
  dir: string
  blockSize: number
  objects: number
  entries: number
  blocks: number
  blockFiles: number
  findings: Finding[]
  /** Orphans left alone because a live daemon may still have them open. */
  held: number
  /** Processes that had the store open (only with force). */
  live: number[]
}

function livePids (db: DatabaseSync): number[] {
  const rows = db.prepare('SELECT pid FROM instances').all() as Array<{ pid: number }>
  return [...new Set(rows.map(r => r.pid))].filter(alive).sort((a, b) => a - b)
}

function open (layout: Layout, repair: boolean, write: boolean): DatabaseSync {
  try {
    const db = new DatabaseSync(layout.db, { readOnly: !write })
    db.exec('PRAGMA busy_timeout = 10000')
    // A repair is committed durably, and can never leave a row naming nothing.
    if (repair) db.exec('PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL')
    return db
  } catch (err) {
    throw new ConfigError(`cannot open the store database ${layout.db}: ${(err as Error).message}`)
  }
}

function integrity (db: DatabaseSync): Finding[] {
  const rows = db.prepare('PRAGMA quick_check').all() as Array<Record<string, string>>
  const lines = rows.map(r => Object.values(r)[0])
  if (lines.length === 1 && lines[0] === 'ok') return []
  return lines.map(line => ({ kind: 'integrity', detail: `SQLite: ${line}`, notRepaired: 'restore the database from a backup, or dump and reload it with the sqlite3 tool' }))
}

/** Check the store in `dir`; with `repair`, fix what was found. Throws ConfigError for what is not a usable store. */
export function fsck (dir: string, opts: FsckOptions): FsckReport {
  const layout = new Layout(dir)
  if (inspect(layout.dir) !== 'store') throw new ConfigError(`no objfs store at ${layout.dir}`)
  // Redo logs are applied in the check's transaction, which then needs the write lock.
  const logs = redoTokens(dir).length > 0
  const db = open(layout, opts.repair, opts.repair || logs)
  let plan: Plan | undefined
  try {
    const meta = readMeta(db, dir)
    // readMeta refuses a newer format; an older one lays out data differently (data-upgrade.ts).
    if (meta.formatVersion < FORMAT_VERSION) throw new ConfigError(`store format ${meta.formatVersion} is older than this fsck checks (${FORMAT_VERSION}); mount it read-write once to upgrade it, then run fsck`)
    // One snapshot for every check, and with repair the writer lock too:
    // no daemon can commit between what was read and what is changed.
    db.exec(opts.repair || logs ? 'BEGIN IMMEDIATE' : 'BEGIN')
    let applied: Pending[] = []
    try {
      const live = livePids(db)
      if (live.length > 0 && !opts.force) {
        throw new ConfigError(`the store at ${dir} is in use by process ${live.join(', ')} (mounted?); unmount it first, or pass --force`)
      }
      const findings = integrity(db)
      if (logs) applied = applyDeadLogs(prepare(db), dir)
      const redone = changesIn(applied)
      if (redone > 0) findings.push({ kind: 'redo-log', detail: `${redone} changes a stopped daemon answered but had not committed; checked as applied` })
      const m = new FsckModel(db, meta.rootId)
      const root = m.objects.get(meta.rootId)
      if (root === undefined || !isDir(root.mode)) throw new Error(`${dir}: the root directory ${meta.rootId} is missing or not a directory; fsck cannot rebuild it`)
      const entries = m.entries.length
      plan = emptyPlan()
      checkEntries(m, plan, findings)
      checkReachable(m, plan, findings, live.length > 0)
      checkLinkCounts(m, plan, findings)
      checkDirParents(m, plan, findings)
      const counts = checkBlocks(db, m, layout, meta.blockSize, plan, findings, live.length > 0)
      checkXattrs(db, m, plan, findings)
      checkNextIno(db, plan, findings)
      checkStored(db, meta.blockSize, plan, findings)
      if (opts.repair) {
        applyRows(db, plan, meta.blockSize)
        for (const f of findings) if (f.notRepaired === undefined) f.repaired = true
      }
      db.exec(opts.repair ? 'COMMIT' : 'ROLLBACK')
      if (opts.repair) removeLogs(applied)
      const report = { dir, blockSize: meta.blockSize, objects: m.objects.size - (plan.createDir === undefined ? 0 : 1), entries, blocks: counts.rows, blockFiles: counts.files, findings, held: plan.held.length, live }
      if (opts.repair) applyFiles(plan)
      return report
    } catch (err) {
      if (db.isTransaction) db.exec('ROLLBACK')
      throw err
    }
  } finally {
    db.close()
  }
}
