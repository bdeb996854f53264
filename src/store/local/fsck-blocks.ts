// fsck of file data: block rows against their objects and sizes, the data
// files on the host against the rows, and the counters in `meta`.
//
// Since format 5 a regular file's blocks are in one data file,
// blocks/<ab>/<uuid>, block i at i * blockSize, and a row with data NULL
// names its block there (layout.ts, blocks.ts). Bytes no row names read as
// a hole: within the size they are harmless leftovers (a punched block, a
// block moved into its row, a failed write) and not reported, since telling
// them from data would mean reading every file. That holds where no row
// names any of the file too: punching every block a file keeps there, or a
// truncate and a rewrite moving its one block into its row, leaves just
// that in ordinary use. What is reported is a file of no regular file,
// bytes past the size, and rows whose bytes the file lacks.
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import type { DatabaseSync } from 'node:sqlite'
import type { Finding, FsckModel, Plan } from './fsck-model.ts'
import type { Layout } from './layout.ts'
import { isReg } from './rows.ts'
import { storedOf } from './schema.ts'

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}'
/** `<uuid>`: an object's data file, the only name objfs gives files since format 5 (layout.ts). */
const DATA_FILE = new RegExp(`^(${UUID})$`)
/** `<uuid>.<index>`: one block's file in formats 1-4; the upgrade moves or deletes each one a row names. */
const LEGACY_FILE = new RegExp(`^(${UUID})\\.(?:0|[1-9]\\d*)$`)
const FAN_OUT = /^[0-9a-f]{2}$/

const IN_USE = 'the store is in use (--force): a daemon may be writing this file right now'
const LEFT_WHILE_LIVE = 'the store is in use (--force): files are removed only while no daemon has it open'
const NOT_OURS = 'not named by objfs; left alone (remove it by hand if nothing needs it)'

interface HostFile { path: string, size: number }

interface Scan {
  /** Data files by object id. */
  data: Map<string, HostFile>
  /** Block files of the old layout. */
  legacy: HostFile[]
}

/** Every file under blocks/; what objfs did not name is reported as stray. */
function scanFiles (layout: Layout, found: Finding[]): Scan {
  const scan: Scan = { data: new Map(), legacy: [] }
  let dirs
  try {
    dirs = readdirSync(layout.blocks, { withFileTypes: true })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return scan  // no block written yet
    throw err
  }
  for (const d of dirs) {
    const dir = join(layout.blocks, d.name)
    if (!d.isDirectory() || !FAN_OUT.test(d.name)) {
      found.push({ kind: 'stray-file', detail: `${dir}`, notRepaired: NOT_OURS })
      continue
    }
    for (const f of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, f.name)
      const data = DATA_FILE.exec(f.name)
      const legacy = LEGACY_FILE.exec(f.name)
      const id = (data ?? legacy)?.[1]
      if (!f.isFile() || id === undefined || !id.startsWith(d.name)) {
        found.push({ kind: 'stray-file', detail: path, notRepaired: NOT_OURS })
        continue
      }
      const file = { path, size: statSync(path).size }
      if (data !== null) scan.data.set(id, file)
      else scan.legacy.push(file)
    }
  }
  return scan
}

/**
 * Rows must belong to an existing regular file and lie below its size, and
 * a row naming a block in the data file needs a file that reaches it. A
 * data file must belong to a regular file and end at its size. Offline,
 * what fails is deleted or cut; with a daemon running (--force) files are
 * only reported: it writes a block to the file before it commits the row.
 */
export function checkBlocks (db: DatabaseSync, m: FsckModel, layout: Layout, blockSize: number, plan: Plan, found: Finding[], live: boolean): { rows: number, files: number } {
  const { data, legacy } = scanFiles(layout, found)
  const reclaimed = new Set(plan.reclaim)
  // A live daemon's orphan is its own to free, and it removes the file before the rows (namespace.ts reclaim).
  const held = new Set(plan.held)
  // fsck refuses formats before 5 (fsck.ts), so the data column exists.
  const rows = db.prepare('SELECT id, idx, length(data) AS inline FROM blocks ORDER BY id, idx').all() as Array<{ id: string, idx: number, inline: number | null }>
  // Per object, the last block that names its data file and outlives the repair (rows come in idx order).
  const lastInFile = new Map<string, number>()
  const drop = (id: string, idx: number): void => { plan.deleteBlockRows.push({ id, idx }) }
  for (const { id, idx, inline } of rows) {
    const o = m.objects.get(id)
    if (reclaimed.has(id) || held.has(id)) {
      // The orphan's rows go with it, or stay for its daemon; its file is seen to below.
      continue
    } else if (o === undefined) {
      found.push({ kind: 'orphan-block-row', detail: `block ${idx} of object ${id}, which does not exist` })
      drop(id, idx)
    } else if (!isReg(o.mode)) {
      found.push({ kind: 'block-not-file', detail: `block ${idx} of ${m.describe(id)}, which is not a regular file` })
      drop(id, idx)
    } else if (idx * blockSize >= o.size) {
      found.push({ kind: 'block-past-size', detail: `block ${idx} of ${m.describe(id)} lies past its size ${o.size}` })
      drop(id, idx)
    } else if (inline !== null) {
      checkInline(m, id, idx, inline, o.size - idx * blockSize, plan, found)
    } else {
      const file = data.get(id)
      if (file === undefined || file.size <= idx * blockSize) {
        const why = file === undefined ? 'its data file is missing' : `its data file ${file.path} ends at ${file.size}, before it`
        found.push({ kind: 'missing-block-file', detail: `block ${idx} of ${m.describe(id)}: ${why} (the block reads as zeros)`, notRepaired: live ? IN_USE : undefined })
        if (!live) drop(id, idx)
        else lastInFile.set(id, idx)
      } else {
        lastInFile.set(id, idx)
      }
    }
  }
  // Sorted: the same store gives the same report.
  for (const id of [...data.keys()].sort()) {
    checkDataFile(m, id, data.get(id) as HostFile, lastInFile.get(id), blockSize, reclaimed, held, plan, found, live)
  }
  for (const file of legacy.sort((a, b) => a.path < b.path ? -1 : 1)) {
    // Left by an upgrade cut short, or no row named it before the upgrade (which moves only named blocks).
    found.push({ kind: 'orphan-block-file', detail: `${file.path} (${file.size} bytes): a block file of the layout before format 5, which nothing reads`, notRepaired: live ? LEFT_WHILE_LIVE : undefined })
    if (!live) plan.removeFiles.push(file.path)
  }
  return { rows: rows.length, files: data.size }
}

/**
 * One data file. Bytes past the size within the last block a row names in
 * the file would come back if the file grew (a truncate up reads them as
 * the block's); bytes past every named block read as a hole but waste room
 * (a write of a new block that never committed). Both are cut off, and a
 * file no row names any of goes whole: nothing reads it.
 */
function checkDataFile (m: FsckModel, id: string, file: HostFile, last: number | undefined, blockSize: number, reclaimed: Set<string>, held: Set<string>, plan: Plan, found: Finding[], live: boolean): void {
  if (held.has(id)) return
  if (reclaimed.has(id)) {
    // Freed with its orphan (orphan-object), which only an offline fsck does.
    if (!live) plan.removeFiles.push(file.path)
    return
  }
  const o = m.objects.get(id)
  if (o === undefined || !isReg(o.mode)) {
    const why = o === undefined ? `object ${id} does not exist` : `${m.describe(id)} is not a regular file`
    found.push({ kind: 'orphan-block-file', detail: `${file.path} (${file.size} bytes): ${why}`, notRepaired: live ? IN_USE : undefined })
    if (!live) plan.removeFiles.push(file.path)
    return
  }
  if (file.size <= o.size) return
  // Rows past the size were dropped above, so block `last` starts below it.
  const namedEnd = last === undefined ? 0 : Math.min(file.size, (last + 1) * blockSize)
  if (namedEnd > o.size) {
    found.push({ kind: 'block-tail-past-size', detail: `block ${last} of ${m.describe(id)} holds ${namedEnd - o.size} bytes past its size ${o.size} in ${file.path}`, notRepaired: live ? IN_USE : undefined })
  }
  const unnamedFrom = Math.max(o.size, namedEnd)
  if (file.size > unnamedFrom) {
    const named = last === undefined ? '; no block row names any of the file' : ', which no block row names'
    found.push({ kind: 'orphan-block-file', detail: `${file.path}: ${file.size - unnamedFrom} bytes past the size ${o.size} of ${m.describe(id)}${named}`, notRepaired: live ? IN_USE : undefined })
  }
  if (live) return
  if (last === undefined) plan.removeFiles.push(file.path)
  else plan.truncateFiles.push({ path: file.path, length: o.size })
}

/** A block kept in its row: its length must fit the size. */
function checkInline (m: FsckModel, id: string, idx: number, length: number, room: number, plan: Plan, found: Finding[]): void {
  if (length <= room) return
  found.push({ kind: 'block-tail-past-size', detail: `block ${idx} of ${m.describe(id)} holds ${length} bytes in its row, ${room} at most belong to the file` })
  plan.cutInline.push({ id, idx, length: room })
}

/** xattrs of objects that do not exist. */
export function checkXattrs (db: DatabaseSync, m: FsckModel, plan: Plan, found: Finding[]): void {
  for (const { id } of db.prepare('SELECT DISTINCT id FROM xattrs').all() as Array<{ id: string }>) {
    if (m.objects.has(id)) continue
    found.push({ kind: 'orphan-xattr', detail: `extended attributes of object ${id}, which does not exist` })
    plan.deleteXattrsOf.push(id)
  }
}

/** The next inode number must be above every one in use, or creating a file fails. */
export function checkNextIno (db: DatabaseSync, plan: Plan, found: Finding[]): void {
  const next = Number((db.prepare("SELECT value FROM meta WHERE key = 'next_ino'").get() as { value: string } | undefined)?.value)
  const max = (db.prepare('SELECT max(ino) AS ino FROM objects').get() as { ino: number | null }).ino ?? 0
  if (Number.isSafeInteger(next) && next > max) return
  found.push({ kind: 'next-ino', detail: `the next inode number is ${Number.isNaN(next) ? 'unreadable' : next}, but inode ${max} is in use` })
  plan.nextIno = max + 1
}

/**
 * A file's count of stored bytes (st_blocks) against its block rows. The
 * store's triggers keep it; a row changed by hand, or a repair of rows
 * (the plan), does not. Made again from the rows after the repair.
 */
export function checkStored (db: DatabaseSync, blockSize: number, plan: Plan, found: Finding[]): void {
  const wrong = db.prepare(`SELECT id, stored, actual FROM (SELECT id, stored, ${storedOf(blockSize, 'o.id')} AS actual FROM objects o)
    WHERE stored != actual`).all() as Array<{ id: string, stored: number, actual: number }>
  for (const w of wrong) {
    found.push({ kind: 'stored-bytes', detail: `${w.id} counts ${w.stored} bytes of data, its blocks hold ${w.actual}` })
    plan.recount.push(w.id)
  }
}
