// fsck of the namespace: entries that name nothing or hang off nothing,
// objects no path reaches, and link counts. Works on an in-memory copy of
// the tables and edits that copy as the repair would, so every later check
// (link counts, blocks) judges the store as it will be once repaired.
import type { Finding, FsckEntry, FsckModel, FsckObject, Plan } from './fsck-model.ts'
import { isDir } from './rows.ts'

/** The name a detached object gets in lost+found: its inode number, which nothing else uses. */
const lostName = (o: FsckObject): string => `#${o.ino}`

export const LOST_FOUND = 'lost+found'

/**
 * Entries whose parent is missing or not a directory, whose child is
 * missing or is the root, and second names of a directory (a directory has
 * exactly one parent; the first name in (parent, name) order is kept).
 */
export function checkEntries (m: FsckModel, plan: Plan, found: Finding[]): void {
  const named = new Set<string>()
  const kept: FsckEntry[] = []
  for (const e of m.entries) {
    const parent = m.objects.get(e.parent)
    const child = m.objects.get(e.child)
    let why: string | undefined
    if (parent === undefined) why = `its parent directory ${e.parent} does not exist`
    else if (!isDir(parent.mode)) why = `its parent ${m.describe(e.parent)} is not a directory`
    else if (child === undefined) why = `it names object ${e.child}, which does not exist`
    else if (e.child === m.rootId) why = 'it names the root directory'
    else if (isDir(child.mode) && named.has(e.child)) why = `it is a second name of directory ${m.describe(e.child)}`
    if (why === undefined) {
      if (child !== undefined && isDir(child.mode)) named.add(e.child)
      kept.push(e)
      continue
    }
    found.push({ kind: 'dangling-entry', detail: `entry '${e.name}' in ${m.describe(e.parent)}: ${why}` })
    plan.deleteEntries.push({ parent: e.parent, name: e.name })
  }
  m.setEntries(kept)
}

/**
 * Objects no path from the root reaches. With no name and nlink 0 they are
 * orphans (an unlinked file that was open when its daemon died), freed
 * unless a live daemon may still hold them. Anything else (a name lost to
 * corruption, a directory cycle) keeps its data and gets a name in
 * lost+found, as e2fsck does.
 */
export function checkReachable (m: FsckModel, plan: Plan, found: Finding[], live: boolean): void {
  const reached = new Set<string>()
  const reach = (from: string): void => {
    const stack = [from]
    while (stack.length > 0) {
      const id = stack.pop() as string
      if (reached.has(id)) continue
      reached.add(id)
      for (const e of m.children(id)) stack.push(e.child)
    }
  }
  reach(m.rootId)
  const unreached = [...m.objects.values()].filter(o => !reached.has(o.id))
  // Nameless objects first, then directories (a cycle is resolved by
  // relinking one of its members), lowest inode first for a stable order.
  unreached.sort((a, b) => (m.parents(a.id).length - m.parents(b.id).length) || (Number(isDir(b.mode)) - Number(isDir(a.mode))) || a.ino - b.ino)
  for (const o of unreached) {
    if (reached.has(o.id)) continue
    const nameless = m.parents(o.id).length === 0
    if (nameless && o.nlink === 0 && m.children(o.id).length === 0) {
      if (live) { plan.held.push(o.id); continue }
      found.push({ kind: 'orphan-object', detail: `${m.describe(o.id)} has no name and no links left (freed)` })
      plan.reclaim.push(o.id)
      continue
    }
    const lf = m.lostFound(plan)
    const name = m.freeName(lf, lostName(o))
    for (const e of m.parents(o.id)) plan.deleteEntries.push({ parent: e.parent, name: e.name })
    m.relink(o.id, lf, name, plan)
    plan.addEntries.push({ parent: lf, name, child: o.id })
    found.push({ kind: 'detached-object', detail: `${m.describe(o.id)} is not reachable from the root (${nameless ? 'it has no name' : 'a directory cycle'}); named ${LOST_FOUND}/${name}` })
    reach(o.id)
  }
}

/**
 * A directory's recorded parent, which rename's subtree check walks: the
 * directory its one name is in (none for the root and for a removed
 * directory). Judged on the tree as repaired, lost+found included.
 */
export function checkDirParents (m: FsckModel, plan: Plan, found: Finding[]): void {
  const gone = new Set([...plan.reclaim, ...plan.held])
  // Named by the repair itself (lost+found and what it takes in): planned, not a finding.
  const named = new Set(plan.addEntries.map(e => e.child))
  for (const o of m.objects.values()) {
    if (!isDir(o.mode) || gone.has(o.id)) continue
    const want = m.parents(o.id)[0]?.parent ?? null
    if (o.parent === want) continue
    if (!named.has(o.id)) found.push({ kind: 'dir-parent', detail: `${m.describe(o.id)} records parent ${o.parent ?? 'none'}, but its name is in ${want === null ? 'no directory' : m.describe(want)}` })
    plan.setParent.set(o.id, want)
  }
}

/** nlink: the number of names of a non-directory; 2 + subdirectories for a directory. */
export function checkLinkCounts (m: FsckModel, plan: Plan, found: Finding[]): void {
  const gone = new Set([...plan.reclaim, ...plan.held])
  for (const o of m.objects.values()) {
    if (gone.has(o.id)) continue
    const want = isDir(o.mode)
      ? 2 + m.children(o.id).filter(e => isDir(m.objects.get(e.child)?.mode ?? 0)).length
      : m.parents(o.id).length
    if (o.nlink === want) continue
    found.push({ kind: 'link-count', detail: `${m.describe(o.id)} has nlink ${o.nlink}, expected ${want}` })
    plan.setNlink.set(o.id, want)
  }
}
