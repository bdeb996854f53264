// rename(2) / renameat2(2) in one transaction, with Linux's refusals.
import { FsError, errno as E } from '../../errors.ts'
import { RENAME_EXCHANGE, RENAME_NOREPLACE, type ObjectId, type RenameResult } from '../types.ts'
import { checkLiveDir, getKind, lookupRow, transaction, type Ctx } from './context.ts'
import { unlinkChild } from './namespace.ts'
import { checkName, isDir, type ObjectRow } from './rows.ts'
import { nowTimespec as now } from '../../time.ts'
import type { Statements } from './statements.ts'

// Deeper than any real tree; stops a walk on a corrupt (cyclic) table.
const MAX_DEPTH = 1 << 16

/** EINVAL when `dir` is `dest` or one of its ancestors: a directory cannot move into itself. */
function checkNotAncestor (st: Statements, dir: string, dest: string): void {
  let cur: string | undefined = dest
  for (let depth = 0; cur !== undefined && depth < MAX_DEPTH; depth++) {
    if (cur === dir) throw new FsError(E.EINVAL, 'cannot move a directory into its own subtree')
    cur = (st.parentOf.get(cur) as { parent: string | null } | undefined)?.parent ?? undefined
  }
}

export function rename (ctx: Ctx, parent: string, name: string, newParent: string, newName: string, flags: number): RenameResult {
  checkName(name)
  checkName(newName)
  if ((flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE)) !== 0 || flags === (RENAME_NOREPLACE | RENAME_EXCHANGE)) {
    throw new FsError(E.EINVAL, `invalid rename flags ${flags}`)
  }
  const { st } = ctx
  return transaction(ctx, () => {
    if (!isDir(getKind(st, parent).mode)) throw new FsError(E.ENOTDIR)
    checkLiveDir(st, newParent)
    const src = lookupRow(st, parent, name)
    if (src === undefined) throw new FsError(E.ENOENT)
    const dst = lookupRow(st, newParent, newName)
    if ((flags & RENAME_EXCHANGE) !== 0) {
      if (dst === undefined) throw new FsError(E.ENOENT)
      exchange(ctx, parent, name, src, newParent, newName, dst)
      return {}
    }
    if (dst !== undefined && (flags & RENAME_NOREPLACE) !== 0) throw new FsError(E.EEXIST)
    // The same name, or two hard links of one object: POSIX says do nothing.
    if (dst !== undefined && dst.id === src.id) return {}
    return move(ctx, parent, name, src, newParent, newName, dst)
  })
}

function checkReplace (st: Statements, src: ObjectRow, dst: ObjectRow): void {
  if (isDir(src.mode) && !isDir(dst.mode)) throw new FsError(E.ENOTDIR)
  if (!isDir(src.mode) && isDir(dst.mode)) throw new FsError(E.EISDIR)
  if (isDir(dst.mode) && st.hasChildren.get(dst.id) !== undefined) throw new FsError(E.ENOTEMPTY)
}

function move (ctx: Ctx, parent: string, name: string, src: ObjectRow, newParent: string, newName: string, dst: ObjectRow | undefined): RenameResult {
  const { st } = ctx
  if (isDir(src.mode)) checkNotAncestor(st, src.id, newParent)
  if (dst !== undefined) checkReplace(st, src, dst)
  const t = now()
  let result: RenameResult = {}
  if (dst !== undefined) {
    st.deleteEntry.run(newParent, newName)
    const nlink = unlinkChild(ctx, dst, t)
    if (isDir(dst.mode)) st.addNlink.run(-1, newParent)
    result = { replaced: { id: dst.id as ObjectId, nlink } }
  }
  st.moveEntry.run(newParent, newName, parent, name)
  if (isDir(src.mode) && parent !== newParent) {
    st.addNlink.run(-1, parent)
    st.addNlink.run(1, newParent)
    st.setParent.run(newParent, src.id)
  }
  touchAll(st, t, [src.id], [parent, newParent])
  return result
}

/** RENAME_EXCHANGE: both names stay, each now names the other object. */
function exchange (ctx: Ctx, parent: string, name: string, src: ObjectRow, newParent: string, newName: string, dst: ObjectRow): void {
  const { st } = ctx
  if (dst.id === src.id) return
  if (parent !== newParent) {
    if (isDir(src.mode)) checkNotAncestor(st, src.id, newParent)
    if (isDir(dst.mode)) checkNotAncestor(st, dst.id, parent)
  }
  st.pointEntry.run(dst.id, parent, name)
  st.pointEntry.run(src.id, newParent, newName)
  if (parent !== newParent) {
    // Each parent's ".." count follows the directories it gains and loses.
    const delta = (isDir(dst.mode) ? 1 : 0) - (isDir(src.mode) ? 1 : 0)
    if (delta !== 0) {
      st.addNlink.run(delta, parent)
      st.addNlink.run(-delta, newParent)
    }
    if (isDir(src.mode)) st.setParent.run(newParent, src.id)
    if (isDir(dst.mode)) st.setParent.run(parent, dst.id)
  }
  touchAll(st, now(), [src.id, dst.id], [parent, newParent])
}

function touchAll (st: Statements, t: { sec: number, nsec: number }, moved: string[], parents: string[]): void {
  for (const id of moved) st.touchCtime.run(t.sec, t.nsec, id)
  for (const id of new Set(parents)) st.touchMtime.run(t.sec, t.nsec, t.sec, t.nsec, id)
}
