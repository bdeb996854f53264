// WAL checkpoints off the serving thread.
//
// SQLite copies the WAL into the database file from inside the COMMIT that
// crosses wal_autocheckpoint pages, with an fsync of each file: with the
// default of 1000 pages, one create in ~150 waited milliseconds for the
// disk, which made a create cost the store 100-150 us instead of 50-80
// (a loop of creates on the store itself; unlink likewise). A thread of
// the store's own (checkpoint-thread.ts) runs PASSIVE checkpoints instead,
// which go on concurrently with the writer. The writer keeps an
// autocheckpoint at a higher mark (WAL_BACKSTOP_PAGES, schema.ts) as the
// backstop: under a steady stream of commits a concurrent checkpoint never
// quite catches up, and the WAL starts over only after one that did; the
// backstop's checkpoint finds little left to copy.
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'

// Control words (Int32 indexes) shared with the thread.
export const COMMITS = 0   // commits by the writer, wrapping
export const SLEEPING = 1  // 1: the thread waits for the next commit and must be woken
export const STOP = 2      // 1: exit

/** How long the thread lets commits gather before one checkpoint. */
export const CHECKPOINT_GATHER_MS = 50
/** A thread costs a few MiB and tens of ms to start: only instances that write that much get one. */
export const START_AFTER_COMMITS = 64

export interface CheckpointSetup {
  path: string
  control: SharedArrayBuffer
}

const threadFile = fileURLToPath(new URL('./checkpoint-thread.ts', import.meta.url))

export class Checkpointer {
  readonly #path: string
  readonly #ctl = new Int32Array(new SharedArrayBuffer(3 * 4))
  #worker: Worker | undefined
  #commits = 0
  #closed = false

  constructor (dbPath: string) {
    this.#path = dbPath
  }

  /** After every commit of the writer: wake the thread if it sleeps. Cheap. */
  committed (): void {
    if (this.#worker === undefined) {
      if (this.#closed || ++this.#commits < START_AFTER_COMMITS) return
      this.#start()
    }
    Atomics.add(this.#ctl, COMMITS, 1)
    if (Atomics.load(this.#ctl, SLEEPING) === 1) Atomics.notify(this.#ctl, COMMITS)
  }

  #start (): void {
    const setup: CheckpointSetup = { path: this.#path, control: this.#ctl.buffer as SharedArrayBuffer }
    const worker = new Worker(threadFile, { workerData: setup, execArgv: ['--disable-warning=ExperimentalWarning'] })
    // Never what keeps a process alive; close() stops it.
    worker.unref()
    // A thread that failed leaves checkpoints to the backstop.
    worker.on('error', () => {})
    this.#worker = worker
  }

  /** Stop the thread (before the writer closes, so that the writer is the last connection and removes the WAL). */
  async close (): Promise<void> {
    this.#closed = true
    const worker = this.#worker
    if (worker === undefined) return
    this.#worker = undefined
    // Referenced again: an unreferenced thread's exit would not keep this process waiting for it.
    worker.ref()
    const exited = once(worker, 'exit')
    Atomics.store(this.#ctl, STOP, 1)
    // A change of COMMITS too: a thread about to sleep on it then does not.
    Atomics.add(this.#ctl, COMMITS, 1)
    Atomics.notify(this.#ctl, STOP)
    Atomics.notify(this.#ctl, COMMITS)
    await exited
  }
}
