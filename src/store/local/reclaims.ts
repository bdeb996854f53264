// Orphans are freed in batches: one transaction for many objects.
//
// Every unlinked file comes back as a reclaim once the kernel forgets it: a
// commit of its own per file (three WAL pages, the write lock, ~50 us) cost
// more than the unlink itself in `rm -rf`. Freeing an orphan changes nothing
// anyone can see (no name leads to it), so it may wait a few milliseconds
// for company; a crash meanwhile leaves orphans, which the next mount frees.
// A batch that fails (a full disk, see reserve.ts) is kept and goes with
// the next: its room must come free within this mount, not the next one.
// Nobody waits for a batch, so its failure is logged here, once until a
// batch succeeds again: every flush retries it, and a disk that stays
// broken would say the same thing every 20 ms.
import { toErrno } from '../../errors.ts'
import { logger } from '../../log.ts'

/** How long the first orphan of a batch waits for others. */
export const RECLAIM_DELAY_MS = 20
/** A batch this large is freed at once: bounds the transaction and the memory held. */
export const RECLAIM_BATCH = 512

/** Where a failed batch is reported (the store's logger; tests pass their own). */
export interface ReclaimLog {
  warn: (obj: object, msg: string) => void
  info: (obj: object, msg: string) => void
}

interface Batch {
  ids: Set<string>
  done: Promise<void>
  resolve: () => void
  reject: (err: unknown) => void
}

export class Reclaims {
  readonly #free: (ids: Iterable<string>) => void
  #batch: Batch | undefined
  /** Ids of batches that failed: tried again with the next flush. */
  #stalled = new Set<string>()
  #timer: NodeJS.Timeout | undefined
  #flushes = 0
  readonly #log: ReclaimLog
  /** The last batch failed (and was logged). */
  #failing = false

  /** `free` runs one transaction for the ids it is given. */
  constructor (free: (ids: Iterable<string>) => void, log: ReclaimLog = logger('store')) {
    this.#free = free
    this.#log = log
  }

  /** Queue `id`; resolves once the batch holding it is committed. */
  add (id: string): Promise<void> {
    const batch = this.#batch ?? this.#open()
    batch.ids.add(id)
    if (batch.ids.size >= RECLAIM_BATCH) this.flush()
    return batch.done
  }

  #open (): Batch {
    let resolve!: () => void
    let reject!: (err: unknown) => void
    const done = new Promise<void>((res, rej) => { resolve = res; reject = rej })
    // Nobody may be waiting (the daemon does not): a failure must not become an unhandled rejection.
    done.catch(() => {})
    this.#batch = { ids: new Set(), done, resolve, reject }
    // Not unref'ed: a caller awaiting the promise must see it settle.
    this.#timer = setTimeout(() => this.flush(), RECLAIM_DELAY_MS)
    return this.#batch
  }

  /** Orphans wait in a batch for company (not counting those that failed). */
  get waiting (): boolean {
    return this.#batch !== undefined
  }

  /** Orphans wait in a batch, or failed to be freed: their space is not free yet. */
  get pending (): boolean {
    return this.#batch !== undefined || this.#stalled.size > 0
  }

  /**
   * Batches freed so far, or tried: a failed one may still have freed its
   * files (namespace.ts reclaim). A write that failed for want of room
   * since this moved is worth another try.
   */
  get flushes (): number {
    return this.#flushes
  }

  /** Free what is queued now (also before close, statfs, and a retry on a full disk). */
  flush (): void {
    const batch = this.#batch
    this.#batch = undefined
    clearTimeout(this.#timer)
    this.#timer = undefined
    const ids = batch?.ids ?? new Set<string>()
    for (const id of this.#stalled) ids.add(id)
    if (ids.size === 0) return
    this.#flushes++
    try {
      this.#free(ids)
      this.#stalled.clear()
      if (this.#failing) this.#log.info({ orphans: ids.size }, 'freeing unlinked files works again')
      this.#failing = false
      batch?.resolve()
    } catch (err) {
      if (!this.#failing) this.#log.warn({ err: String(err), errno: toErrno(err), orphans: ids.size }, 'freeing unlinked files failed; their space stays in use until a later batch succeeds')
      this.#failing = true
      this.#stalled = ids
      batch?.reject(err)
    }
  }
}
