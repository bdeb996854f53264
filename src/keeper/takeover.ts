// What a serving process under a keeper keeps on local disk for a successor,
// and takes over from a predecessor: the write journal (data acknowledged
// and not yet stored) and, for stores whose nodeids are not inos, the
// nodeid log. Also the request path of a process that took over: nodeids
// and handles of the predecessor resolved first, and, on kernels that
// cannot resend, the uniques held reported for the keeper's EIO sweep.
import { existsSync, readdirSync, renameSync, rmdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { Journal } from '../blocks/journal.ts'
import { replayJournal } from '../blocks/journal-replay.ts'
import type { Config } from '../config.ts'
import { NodeidLog, loadNodeids } from '../inode/nodeid-log.ts'
import { logger } from '../log.ts'
import { Adopter } from '../ops/adopt.ts'
import type { Fs } from '../ops/context.ts'
import { alive } from '../liveness.ts'
import type { ObjectId, ObjectStore } from '../store/types.ts'
import { dropKeeperDir, journalDirOf, journalIn, keeperDirOf, keepersIn, nodeidLogIn, nodeidLogOf, stateDirOf } from './state.ts'
import { UniqueSpan } from './unanswered.ts'

const log = logger('takeover')

export interface TakeoverState {
  journal: Journal | undefined
  nodeidLog: NodeidLog | undefined
  /** The nodeids of the predecessor and their objects (stores whose nodeids are not inos). */
  previousNodeids: ReadonlyMap<number, ObjectId>
}

/**
 * Before serving: replay a predecessor's journal into `store` (the
 * instance the daemon opened first) and start this process's journal and
 * nodeid log, in the directory of `keeper`, the process that serves the
 * connection through us. `resumed`: a predecessor served this connection.
 */
export async function openTakeoverState (config: Config, store: ObjectStore, resumed: boolean, keeper: number): Promise<TakeoverState> {
  const journalDir = journalDirOf(config, keeper)
  const journaled = config.journal && !config.readOnly
  // A journal of a keeper that died too: the store may have changed since
  // (mounted elsewhere), so replaying could write old data over new. It is
  // set aside, not replayed. A live keeper's is its own business.
  if (journaled && !resumed) setAsideDead(config, keeper)
  // A predecessor running an objfs from before keepers had directories of
  // their own (`objfs upgrade`) left its journal and nodeid log in the old place.
  const own = keeperDirOf(config, keeper)
  const from = resumed && !existsSync(own) ? stateDirOf(config) : own
  if (journaled) {
    const r = await replayJournal(journalIn(from), store)
    if (r.segments > 0) log.info({ segments: r.segments, records: r.records, bytes: r.bytes, skipped: r.skipped, repaired: r.repaired }, 'replayed the write journal')
    if (r.torn !== undefined) log.warn(r.torn, 'the last journal record was cut short by the crash (never acknowledged)')
  }
  const logsNodeids = store.capabilities.inoNodeids !== true
  const previousNodeids = logsNodeids && resumed ? loadNodeids(nodeidLogIn(from)) : new Map<number, ObjectId>()
  if (from !== own) {
    rmSync(nodeidLogIn(from), { force: true })
    try { rmdirSync(journalIn(from)) } catch {}
  }
  const nodeidLogPath = nodeidLogOf(config, keeper)
  return {
    journal: journaled ? new Journal(journalDir) : undefined,
    nodeidLog: logsNodeids ? new NodeidLog(nodeidLogPath, previousNodeids) : undefined,
    previousNodeids,
  }
}

export function closeTakeoverState (s: TakeoverState | undefined): void {
  s?.journal?.close()
  s?.nodeidLog?.close()
}

/**
 * Set aside the journals of keepers no longer alive, this one's too should
 * its pid have been a dead keeper's, and the one of the old layout.
 */
function setAsideDead (config: Config, keeper: number): void {
  const dir = stateDirOf(config)
  for (const pid of keepersIn(config)) {
    if (pid !== keeper && alive(pid)) continue
    setAside(journalDirOf(config, pid), dir, `${pid}`)
    dropKeeperDir(config, pid)
  }
  setAside(journalIn(dir), dir, 'old-layout')
}

function setAside (journal: string, stateDir: string, whose: string): void {
  if (!existsSync(journal) || readdirSync(journal).length === 0) {
    try { rmdirSync(journal) } catch {}
    return
  }
  const aside = join(stateDir, `journal.abandoned-${Date.now()}-${whose}`)
  renameSync(journal, aside)
  log.warn({ dir: aside }, 'a write journal left by a daemon that died with its keeper was set aside, not replayed (its writes were acknowledged but may not be stored)')
}

export type Sink = (bytes: Uint8Array, release: () => void) => void

export interface TakeoverPath {
  handle: Sink
  /** See Daemon.unanswered. */
  unanswered: (() => { low: number, high: number }) | undefined
  adopter: Adopter | undefined
}

/**
 * The request path in front of `dispatch`: for a process that took over,
 * resolve what the predecessor issued first; where the kernel cannot
 * resend, keep the uniques held.
 */
export function takeoverPath (fs: Fs, state: TakeoverState, dispatch: Sink, o: { resumed: boolean, resends: boolean }): TakeoverPath {
  const { table, store } = fs
  const adopter = o.resumed && (table.inoNodeids || state.previousNodeids.size > 0)
    ? new Adopter(fs, table.inoNodeids
      ? async n => await (store.byIno?.(n) ?? null)
      : async n => {
        const id = state.previousNodeids.get(n)
        return id === undefined ? null : await store.getattr(id).catch(() => null)
      })
    : undefined
  const adopting: Sink = adopter === undefined
    ? dispatch
    : (bytes, release) => {
        const refs = adopter.unknown(bytes)
        if (refs === null) {
          dispatch(bytes, release)
          return
        }
        adopter.resolve(refs).then(() => dispatch(bytes, release), () => dispatch(bytes, release))
      }
  const held = o.resends ? undefined : new UniqueSpan()
  return {
    handle: held === undefined ? adopting : (bytes, release) => adopting(bytes, held.hold(bytes, release)),
    unanswered: held === undefined ? undefined : () => held.span(),
    adopter,
  }
}
