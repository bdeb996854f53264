// Store format 5: blocks move from a file each (`<uuid>.<idx>`) into their
// object's one file (`<uuid>`, block i at i * blockSize).
//
// Runs inside migrate's IMMEDIATE transaction, before the format is bumped,
// and may be cut short by a crash at any point: each step can be taken
// again. Block 0's file becomes the object's file by a rename (the common
// case, a file of one block, costs nothing more); the others are copied in,
// made durable, and only then deleted.
import { existsSync, readFileSync, renameSync, unlinkSync } from 'node:fs'
import type { DatabaseSync } from 'node:sqlite'
import { BlockFiles, fsyncPath } from './blocks.ts'
import type { Layout } from './layout.ts'

/** How many blocks were renamed into place and how many copied. */
export interface UpgradeCounts { renamed: number, copied: number }

export function moveBlocksIntoDataFiles (db: DatabaseSync, layout: Layout, blockSize: number): UpgradeCounts {
  const files = new BlockFiles(layout, blockSize)
  const rows = db.prepare('SELECT id, idx FROM blocks WHERE data IS NULL ORDER BY id, idx').all() as Array<{ id: string, idx: number }>
  const dirs = new Set<string>()
  const copied: string[] = []
  const copiedInto = new Set<string>()
  let renamed = 0
  for (const { id, idx } of rows) {
    const from = layout.legacyBlockPath(id, idx)
    if (!existsSync(from)) continue  // moved by an interrupted run, or missing before
    const to = layout.dataPath(id)
    dirs.add(layout.dataDir(id))
    if (idx === 0 && !existsSync(to)) {
      renameSync(from, to)
      renamed++
      continue
    }
    files.write(id, idx, readFileSync(from))
    copied.push(from)
    copiedInto.add(to)
  }
  // The copies are durable before their sources go, and the renames before
  // the format says they happened.
  for (const path of copiedInto) fsyncPath(path)
  for (const dir of dirs) fsyncPath(dir)
  for (const path of copied) unlinkSync(path)
  if (copied.length > 0) for (const dir of dirs) fsyncPath(dir)
  return { renamed, copied: copied.length }
}
