// Group commit: the serving thread's changes share one SQLite transaction.
//
// A commit per change was most of a change's cost: three or four WAL pages
// written twice each, six fcntl locks, ~25 us of a 35 us unlink, and in
// rsync the transactions were two thirds of the serving thread's handling.
// Here the changes share a transaction that commits every GROUP_MS, and
// before anything another connection must see (a worker's call, sync,
// close). What makes a change survive kill -9 before that is its record in
// the redo log (redo.ts), written before it is answered.
//
// A change that fails is undone without a savepoint of its own: SAVEPOINT
// and RELEASE around each change, and the pages they made SQLite journal,
// cost 2-4 us of every create, setattr and unlink (a loop of 10,000 on one
// instance: create 16 against 20 us, remove 11.6 against 13.8 us). Every
// change checks before it writes, and a statement that fails undoes itself,
// so most failures (ENOENT, EEXIST, ENOTEMPTY) leave nothing to undo. One
// that fails after writing part of itself, or whose record cannot be
// logged, takes the whole group with it, and the group is then made again
// from the redo log, as when SQLite rolls a group back on its own. Orphans
// it freed are not logged: the store frees them again (`rebuilt`).
//
// While a worker runs a call the group is held off (hold()): the worker's
// own transaction would wait for this one's write lock, and its reads must
// see every change answered so far. Changes then commit one by one, as
// before groups.
//
// A group SQLite rolled back on its own (a full disk at a spill or at the
// commit) is rebuilt from the redo log, so nothing answered is ever lost
// from what this instance reads; its commit is tried again later.
import type { DatabaseSync } from 'node:sqlite'
import type { RedoLog, Step } from './redo.ts'
import type { Statements } from './statements.ts'

/**
 * How long a group gathers changes before it commits. A commit writes
 * every page the group changed (0.45-0.67 ms for 10 ms of unlinks) and the
 * request that arrives meanwhile waits for all of it: with 10 ms, 1 unlink
 * in 100 took 0.5-0.7 ms. 50 ms commits the pages that every change
 * touches (the directory's row, the index pages) once where it wrote them
 * five times: the unlink's 99th percentile went from 584-693 to 324-329 us
 * and 10,000 unlinks from 0.59-0.66x to 0.70-0.71x of passthrough_ll
 * (session 18, two runs each). Durability does not wait for it (redo.ts).
 */
export const GROUP_MS = 50
/** After a commit failed, the next try comes this much later. */
export const RETRY_MS = 200
/**
 * A group whose records reach this size commits at once: bounds the redo
 * log and a replay, and the pages the group holds in SQLite's page cache
 * (GROUP_CACHE_KIB), past which it would spill them into the WAL before the commit.
 */
export const GROUP_BYTES = 1024 * 1024
/**
 * The page cache of the connection that groups changes, in KiB (the
 * store sets it when it starts its group). A group keeps every page it
 * changed in the cache until its commit. SQLite's default of 2 MiB is less
 * than 50 ms of metadata changes touch on a store of some size (a row is
 * found by a random uuid), and past it SQLite writes pages into the WAL
 * early and again at the commit. The cache grows only as far as pages are
 * used; other connections (workers, fsck) keep the default.
 */
export const GROUP_CACHE_KIB = 64 * 1024

export const redoSeqKey = (token: string): string => `redo_seq:${token}`

export interface GroupSetup {
  db: DatabaseSync
  st: Statements
  log: RedoLog
  token: string
  /** After every commit (the checkpoint thread). */
  committed?: () => void
  /**
   * Runs a commit, and on a full disk may make room and run it once more
   * (the group may be rolled back and rebuilt in between; either way it is
   * still open for the second try).
   */
  room?: (commit: () => void) => void
  /** A commit the timer started failed; the group stays and is tried again. */
  failed?: (err: unknown) => void
  /** The group was made again from the redo log: its changes made unlogged are undone. */
  rebuilt?: () => void
  delayMs?: number
}

export class Group {
  readonly #s: GroupSetup
  readonly #key: string
  /** A transaction of ours is open. */
  #open = false
  /** The last change written to the redo log, and the last one committed. */
  #seq = 0
  #committedSeq = 0
  /** The statements of the change being made; undefined between changes. */
  #steps: Step[] | undefined
  #holds = 0
  #timer: NodeJS.Timeout | undefined
  /** Statements run by a rebuild are the log's own, not a change's. */
  #replaying = false
  /** A rebuild failed: what this instance reads is no longer what it answered. */
  #broken: Error | undefined

  constructor (setup: GroupSetup) {
    this.#s = setup
    this.#key = redoSeqKey(setup.token)
  }

  /** A writing statement ran (statements.ts): part of the change being made. */
  record (statement: string, args: unknown[]): void {
    if (this.#steps !== undefined) this.#steps.push([statement, args])
    else if (this.#open && !this.#replaying) throw new Error(`internal: ${statement} ran outside a change while a group is open`)
  }

  /**
   * Changes go into the group (change()); false while held, when each is a
   * transaction of its own. A broken group takes them, to refuse them.
   */
  get grouping (): boolean {
    return this.#holds === 0 || this.#broken !== undefined
  }

  /**
   * Run `fn` as one change of the group. Unless `logged`, it gets no redo
   * record: only for changes nobody was answered and a crash may undo
   * (freeing orphans: the next mount frees them again).
   */
  change<T> (fn: () => T, logged = true): T {
    if (this.#broken !== undefined) throw this.#broken
    if (this.#steps !== undefined) throw new Error('internal: a change inside a change')
    const { db, st, log } = this.#s
    this.#begin()
    const steps: Step[] = this.#steps = []
    try {
      const result = fn()
      const record = logged && steps.length > 0
      if (record) {
        log.append({ seq: this.#seq + 1, steps })
        this.#seq++
      }
      this.#steps = undefined
      if (log.size >= GROUP_BYTES) this.#commitQuietly()
      return result
    } catch (err) {
      this.#steps = undefined
      if (db.isTransaction && steps.length > 0) st.rollback.run()
      if (!db.isTransaction) this.#rebuild()
      throw err
    }
  }

  /** Commit what the group holds; throws if the commit failed (the group then stays). */
  commit (): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
    if (this.#broken !== undefined) throw this.#broken
    if (!this.#open) return
    const { st, log } = this.#s
    const once = (): void => {
      try {
        st.putMeta.run(this.#key, String(this.#seq))
        st.commit.run()
      } catch (err) {
        if (!this.#s.db.isTransaction) this.#rebuild()
        throw err
      }
    }
    try {
      if (this.#s.room === undefined) once()
      else this.#s.room(once)
    } catch (err) {
      // Not every GROUP_MS while the disk stays full: a retry may replay the whole group.
      this.#arm(RETRY_MS)
      throw err
    }
    this.#open = false
    this.#committedSeq = this.#seq
    log.restart()
    this.#s.committed?.()
  }

  /**
   * Commit, and make changes commit one by one until the returned release
   * is called (a worker's call, sync, close). Holds nest.
   */
  hold (): () => void {
    this.commit()
    this.#holds++
    let released = false
    return () => {
      if (released) return
      released = true
      this.#holds--
    }
  }

  #begin (): void {
    if (this.#open) return
    this.#s.st.begin.run()
    this.#open = true
    this.#arm()
  }

  #arm (ms = this.#s.delayMs ?? GROUP_MS): void {
    if (this.#timer !== undefined) return
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      this.#commitQuietly()
    }, ms)
    // A group never keeps the process alive: close() commits it.
    this.#timer.unref()
  }

  /** A commit nobody waits for: a failure is reported, and the group tried again later. */
  #commitQuietly (): void {
    try {
      this.commit()
    } catch (err) {
      this.#s.failed?.(err)
    }
  }

  /**
   * SQLite rolled the whole group back: make it again from the redo log on
   * a new transaction. Should even that fail, the store can no longer
   * show what it answered: a thrown error, and every later change fails.
   */
  #rebuild (): void {
    const { db, st, log } = this.#s
    this.#open = false
    this.#replaying = true
    try {
      st.begin.run()
      this.#open = true
      for (const r of log.records()) {
        if (r.seq > this.#committedSeq) replaySteps(st, r.steps)
      }
    } catch (err) {
      if (db.isTransaction) st.rollback.run()
      this.#open = false
      this.#broken = new Error('the store could not redo changes it had answered; remount to recover them from the redo log', { cause: err })
      throw this.#broken
    } finally {
      this.#replaying = false
    }
    this.#s.rebuilt?.()
  }
}

/** Run a record's statements again. */
export function replaySteps (st: Statements, steps: Step[]): void {
  for (const [name, args] of steps) {
    const statement = st[name as keyof Statements]
    if (statement === undefined) throw new Error(`redo log names an unknown statement '${name}'`)
    statement.run(...(args as Array<null | number | bigint | string | Uint8Array>))
  }
}
