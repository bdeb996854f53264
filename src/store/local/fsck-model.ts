// What fsck works on: the store's tables copied into memory (one row per
// object, entry and block: an fsck may use memory, as e2fsck does), the
// findings, and the plan of repairs derived from them.
import { randomUUID } from 'node:crypto'
import type { DatabaseSync } from 'node:sqlite'
import { S_IFDIR, isDir } from './rows.ts'

export type FindingKind =
  | 'integrity'            // SQLite's own check failed: not repairable here
  | 'dangling-entry'       // an entry whose parent or child is missing or wrong
  | 'orphan-object'        // no name, nlink 0, no live daemon holding it
  | 'detached-object'      // no path from the root reaches it, but it has data or links
  | 'link-count'           // nlink differs from the names (directories: 2 + subdirectories)
  | 'dir-parent'           // a directory's recorded parent is not the directory its name is in
  | 'orphan-block-row'     // a block row of an object that does not exist
  | 'block-not-file'       // a block row of something other than a regular file
  | 'block-past-size'      // a block wholly past the file's size
  | 'block-tail-past-size' // the last block (its row, or the data file) holds bytes past the size
  | 'missing-block-file'   // a block row whose bytes the data file lacks (reads as zeros)
  | 'orphan-block-file'    // a data file of no regular file, or its bytes past the size no row names; a block file of formats 1-4
  | 'stored-bytes'         // a file's count of stored bytes (st_blocks) differs from its block rows
  | 'stray-file'           // a file in the blocks directory that objfs did not name
  | 'orphan-xattr'         // an xattr of an object that does not exist
  | 'next-ino'             // the inode counter is behind an inode in use
  | 'redo-log'             // changes a stopped daemon answered but had not committed (group.ts): checked as applied

export interface Finding {
  kind: FindingKind
  detail: string
  /** Set when --repair was given and this finding was fixed. */
  repaired?: boolean
  /** Why it was left alone, when --repair could not or would not fix it. */
  notRepaired?: string
}

export interface FsckObject {
  id: string
  ino: number
  mode: number
  nlink: number
  size: number
  /** A directory's recorded parent (objects.parent). */
  parent: string | null
}

export interface FsckEntry {
  parent: string
  name: string
  child: string
}

export interface Plan {
  deleteEntries: Array<{ parent: string, name: string }>
  addEntries: FsckEntry[]
  /** lost+found, when it has to be made. */
  createDir: { id: string, parent: string, name: string } | undefined
  reclaim: string[]
  /** Orphans a live daemon may still have open: left alone. */
  held: string[]
  setNlink: Map<string, number>
  setParent: Map<string, string | null>
  deleteBlockRows: Array<{ id: string, idx: number }>
  deleteXattrsOf: string[]
  /** Data files (and old block files) to delete once the rows are gone. */
  removeFiles: string[]
  truncateFiles: Array<{ path: string, length: number }>
  /** Blocks kept in their row that hold bytes past the size. */
  cutInline: Array<{ id: string, idx: number, length: number }>
  nextIno: number | undefined
  /** Objects whose count of stored bytes is to be made again from their block rows. */
  recount: string[]
}

export const emptyPlan = (): Plan => ({
  deleteEntries: [], addEntries: [], createDir: undefined, reclaim: [], held: [], setNlink: new Map(), setParent: new Map(),
  deleteBlockRows: [], deleteXattrsOf: [], removeFiles: [], truncateFiles: [], cutInline: [], nextIno: undefined, recount: [],
})

const push = <K, V>(m: Map<K, V[]>, k: K, v: V): void => {
  const list = m.get(k)
  if (list === undefined) m.set(k, [v])
  else list.push(v)
}

export class FsckModel {
  readonly objects = new Map<string, FsckObject>()
  readonly rootId: string
  #entries: FsckEntry[] = []
  #byParent = new Map<string, FsckEntry[]>()
  #byChild = new Map<string, FsckEntry[]>()

  constructor (db: DatabaseSync, rootId: string) {
    this.rootId = rootId
    for (const o of db.prepare('SELECT id, ino, mode, nlink, size, parent FROM objects').all() as unknown as FsckObject[]) this.objects.set(o.id, o)
    this.setEntries(db.prepare('SELECT parent, name, child FROM entries ORDER BY parent, name').all() as unknown as FsckEntry[])
  }

  get entries (): readonly FsckEntry[] {
    return this.#entries
  }

  setEntries (entries: FsckEntry[]): void {
    this.#entries = entries
    this.#byParent = new Map()
    this.#byChild = new Map()
    for (const e of entries) {
      push(this.#byParent, e.parent, e)
      push(this.#byChild, e.child, e)
    }
  }

  children (id: string): FsckEntry[] {
    return this.#byParent.get(id) ?? []
  }

  parents (id: string): FsckEntry[] {
    return this.#byChild.get(id) ?? []
  }

  /** A path for messages, through first names; '#ino' where no name leads to the root. */
  pathOf (id: string): string | undefined {
    const names: string[] = []
    const seen = new Set<string>()
    for (let cur = id; cur !== this.rootId;) {
      const e = this.parents(cur)[0]
      if (e === undefined || seen.has(cur)) return undefined
      seen.add(cur)
      names.unshift(e.name)
      cur = e.parent
    }
    return `/${names.join('/')}`
  }

  describe (id: string): string {
    const o = this.objects.get(id)
    if (o === undefined) return `object ${id}`
    const kind = isDir(o.mode) ? 'directory' : 'object'
    const path = this.pathOf(id)
    return path === undefined ? `${kind} #${o.ino} (${id})` : `${kind} ${path} (#${o.ino})`
  }

  /** The lost+found directory under the root, planned into existence if absent. */
  lostFound (plan: Plan): string {
    if (plan.createDir !== undefined) return plan.createDir.id
    const existing = this.children(this.rootId).find(e => e.name === 'lost+found' && isDir(this.objects.get(e.child)?.mode ?? 0))
    if (existing !== undefined) return existing.child
    const id = randomUUID()
    const name = this.freeName(this.rootId, 'lost+found')
    plan.createDir = { id, parent: this.rootId, name }
    // ino 0 until the repair takes one; nlink as made, the link check settles it.
    this.objects.set(id, { id, ino: 0, mode: S_IFDIR | 0o700, nlink: 2, size: 0, parent: null })
    const entry = { parent: this.rootId, name, child: id }
    this.#add(entry)
    plan.addEntries.push(entry)
    this.#adjust(this.rootId, 1, plan)
    return id
  }

  freeName (dir: string, base: string): string {
    const taken = new Set(this.children(dir).map(e => e.name))
    let name = base
    for (let i = 1; taken.has(name); i++) name = `${base}.${i}`
    return name
  }

  /** Give `id` the single name `name` in `dir`, dropping its other names; parents' counts follow. */
  relink (id: string, dir: string, name: string, plan: Plan): void {
    const child = this.objects.get(id) as FsckObject
    const old = this.parents(id)
    this.setEntries(this.#entries.filter(e => e.child !== id))
    if (isDir(child.mode)) for (const e of old) this.#adjust(e.parent, -1, plan)
    this.#add({ parent: dir, name, child: id })
    if (isDir(child.mode)) this.#adjust(dir, 1, plan)
  }

  #add (e: FsckEntry): void {
    this.#entries.push(e)
    push(this.#byParent, e.parent, e)
    push(this.#byChild, e.child, e)
  }

  /** A count change the repair itself causes: planned, not a finding. */
  #adjust (id: string, delta: number, plan: Plan): void {
    const o = this.objects.get(id)
    if (o === undefined) return
    o.nlink += delta
    plan.setNlink.set(id, o.nlink)
  }
}
