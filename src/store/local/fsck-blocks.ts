// fsck of file data: block rows against their objects and sizes, block rows
// against the block files on the host, and the counters in `meta`.
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import type { DatabaseSync } from 'node:sqlite'
import type { Finding, FsckModel, Plan } from './fsck-model.ts'
import type { Layout } from './layout.ts'
import { isReg } from './rows.ts'

/** `<uuid>.<index>`, the only names objfs gives block files (layout.ts). */
const BLOCK_FILE = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.(0|[1-9]\d*)$/
const FAN_OUT = /^[0-9a-f]{2}$/

const IN_USE = 'the store is in use (--force): a daemon may be writing this block right now'
const NOT_OURS = 'not named by objfs; left alone (remove it by hand if nothing needs it)'

interface BlockFile { path: string, size: number }

/** Every block file under blocks/, by "uuid.index"; anything else there is reported as stray. */
function scanFiles (layout: Layout, found: Finding[]): Map<string, BlockFile> {
  const files = new Map<string, BlockFile>()
  let dirs
  try {
    dirs = readdirSync(layout.blocks, { withFileTypes: true })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return files  // no block written yet
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
      const m = BLOCK_FILE.exec(f.name)
      if (!f.isFile() || m === null || !m[1].startsWith(d.name)) {
        found.push({ kind: 'stray-file', detail: path, notRepaired: NOT_OURS })
        continue
      }
      files.set(`${m[1]}.${m[2]}`, { path, size: statSync(path).size })
    }
  }
  return files
}

/**
 * Rows must belong to an existing regular file and lie below its size, and
 * name a file no longer than the size allows (bytes past the end would
 * reappear when the file grows). Files without a row are leftovers of a
 * crash between writing a block and committing it, or between deleting a
 * row and its file; they are deleted, unless a daemon is running and may be
 * about to commit one.
 */
export function checkBlocks (db: DatabaseSync, m: FsckModel, layout: Layout, blockSize: number, plan: Plan, found: Finding[], live: boolean): { rows: number, files: number } {
  const files = scanFiles(layout, found)
  const fileCount = files.size
  const reclaimed = new Set(plan.reclaim)
  // A live daemon's orphan is its own to free, and it removes the files before the rows (namespace.ts reclaim).
  const held = new Set(plan.held)
  // Format 2 keeps small blocks in their row (data.ts inlineMax); format 1 had no column for it.
  const hasData = (db.prepare('PRAGMA table_info(blocks)').all() as Array<{ name: string }>).some(c => c.name === 'data')
  const rows = db.prepare(`SELECT id, idx, ${hasData ? 'length(data)' : 'NULL'} AS inline FROM blocks ORDER BY id, idx`).all() as Array<{ id: string, idx: number, inline: number | null }>
  // With a daemon running, its files are left for the next fsck: it may be writing them.
  const remove = (file: BlockFile | undefined): void => { if (file !== undefined && !live) plan.removeFiles.push(file.path) }
  const drop = (id: string, idx: number, file: BlockFile | undefined): void => {
    plan.deleteBlockRows.push({ id, idx })
    remove(file)
  }
  for (const { id, idx, inline } of rows) {
    const key = `${id}.${idx}`
    const file = files.get(key)
    files.delete(key)
    const o = m.objects.get(id)
    if (reclaimed.has(id)) {
      // The orphan's rows go with it; its files after.
      remove(file)
    } else if (held.has(id)) {
      continue
    } else if (o === undefined) {
      found.push({ kind: 'orphan-block-row', detail: `block ${idx} of object ${id}, which does not exist` })
      drop(id, idx, file)
    } else if (!isReg(o.mode)) {
      found.push({ kind: 'block-not-file', detail: `block ${idx} of ${m.describe(id)}, which is not a regular file` })
      drop(id, idx, file)
    } else if (idx * blockSize >= o.size) {
      found.push({ kind: 'block-past-size', detail: `block ${idx} of ${m.describe(id)} lies past its size ${o.size}` })
      drop(id, idx, file)
    } else if (inline !== null) {
      checkInline(m, id, idx, inline, o.size - idx * blockSize, file, plan, found, live)
    } else if (file === undefined) {
      found.push({ kind: 'missing-block-file', detail: `block ${idx} of ${m.describe(id)}: its file is missing (the block reads as zeros)`, notRepaired: live ? IN_USE : undefined })
      if (!live) plan.deleteBlockRows.push({ id, idx })
    } else {
      const allowed = Math.min(blockSize, o.size - idx * blockSize)
      if (file.size > allowed) {
        found.push({ kind: 'block-tail-past-size', detail: `block ${idx} of ${m.describe(id)} holds ${file.size} bytes, ${allowed} at most belong to the file`, notRepaired: live ? IN_USE : undefined })
        if (!live) plan.truncateFiles.push({ path: file.path, length: allowed })
      }
    }
  }
  for (const [key, file] of files) {
    found.push({ kind: 'orphan-block-file', detail: `${file.path} (${file.size} bytes): no block row names ${key}`, notRepaired: live ? IN_USE : undefined })
    if (!live) plan.removeFiles.push(file.path)
  }
  return { rows: rows.length, files: fileCount }
}

/**
 * A block kept in its row: its length must fit the size, and a file of the
 * same block is the leftover of a crash between moving the block into its
 * row and deleting the file (data.ts writeBlocks).
 */
function checkInline (m: FsckModel, id: string, idx: number, length: number, room: number, file: BlockFile | undefined, plan: Plan, found: Finding[], live: boolean): void {
  if (length > room) {
    found.push({ kind: 'block-tail-past-size', detail: `block ${idx} of ${m.describe(id)} holds ${length} bytes in its row, ${room} at most belong to the file` })
    plan.cutInline.push({ id, idx, length: room })
  }
  if (file === undefined) return
  found.push({ kind: 'orphan-block-file', detail: `${file.path} (${file.size} bytes): block ${idx} of ${m.describe(id)} is kept in its row`, notRepaired: live ? IN_USE : undefined })
  if (!live) plan.removeFiles.push(file.path)
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
