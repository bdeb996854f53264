// Changes a daemon answered but never committed (its group, group.ts),
// applied from its redo log by the next open of the store: the next
// daemon's, a takeover's, or fsck's.
import { unlinkSync } from 'node:fs'
import { ConfigError } from '../../errors.ts'
import { redoSeqKey, replaySteps } from './group.ts'
import { isENOENT } from './fd.ts'
import { liveTokens } from './instances.ts'
import { readRedo, redoPath, redoTokens } from './redo.ts'
import type { Statements } from './statements.ts'

export interface Pending {
  path: string
  /** Changes that were not yet in the database. */
  changes: number
}

/**
 * Inside a write transaction: run the uncommitted records of every redo
 * log whose instance is gone, and forget its committed mark. Returns what
 * was applied; the caller commits, then deletes the files (removeLogs).
 */
export function applyDeadLogs (st: Statements, dir: string): Pending[] {
  const live = liveTokens(st)
  const out: Pending[] = []
  for (const token of redoTokens(dir)) {
    if (live.has(token)) continue
    const path = redoPath(dir, token)
    const key = redoSeqKey(token)
    const committed = Number((st.getMeta.get(key) as { value: string } | undefined)?.value ?? 0)
    let changes = 0
    try {
      for (const r of readRedo(path)) {
        if (r.seq <= committed) continue
        replaySteps(st, r.steps)
        changes++
      }
    } catch (err) {
      throw new ConfigError(`cannot apply ${path}, changes a stopped daemon answered: ${(err as Error).message} (moving the file aside opens the store without them)`, { cause: err })
    }
    st.deleteMeta.run(key)
    out.push({ path, changes })
  }
  return out
}

/** How many changes applyDeadLogs applied, over all logs. */
export const changesIn = (applied: Pending[]): number => applied.reduce((n, p) => n + p.changes, 0)

/** After the commit of applyDeadLogs: the logs are spent. */
export function removeLogs (applied: Pending[]): void {
  for (const p of applied) {
    try {
      unlinkSync(p.path)
    } catch (err) {
      if (!isENOENT(err)) throw err
    }
  }
}
