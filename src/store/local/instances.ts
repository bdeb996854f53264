// Which read-write instances have the store open, so that orphans are
// reclaimed at open only when nobody can still be using them.
//
// An orphan (nlink 0) is kept because a process may still have it open. If
// the daemon that held it is gone (crash, kill -9), nobody ever will again
// and its space must come back. But a daemon opens one instance per worker
// thread, and may start a worker late: that open must not reclaim the
// orphans its own daemon still holds. Hence a row per open instance with
// its pid; rows of dead pids are stale and removed.
import { randomUUID } from 'node:crypto'
import { alive } from '../../liveness.ts'
import type { Statements } from './statements.ts'

// A zombie (a daemon killed with -9, not yet reaped) counts as dead: src/liveness.ts.

export const newToken = (): string => randomUUID()

/**
 * Inside a transaction: drop stale instance rows, record ours. Returns the
 * orphans to reclaim: all of them when no other live instance is open,
 * none otherwise. A recycled pid only errs on the safe side (keeps them).
 */
export function register (st: Statements, token: string): string[] {
  let others = 0
  for (const row of st.instances.all() as Array<{ token: string, pid: number }>) {
    if (alive(row.pid)) others++
    else st.deleteInstance.run(row.token)
  }
  st.insertInstance.run(token, process.pid, Date.now())
  if (others > 0) return []
  return (st.orphans.all() as Array<{ id: string }>).map(r => r.id)
}

/** Tokens of instances whose process still runs (a live instance's redo log is its own, recover.ts). */
export function liveTokens (st: Statements): Set<string> {
  const rows = st.instances.all() as Array<{ token: string, pid: number }>
  return new Set(rows.filter(r => alive(r.pid)).map(r => r.token))
}

export function unregister (st: Statements, token: string): void {
  st.deleteInstance.run(token)
}
