// Notifications to the kernel that no request asked for: drop what it
// caches of an inode (FUSE_NOTIFY_INVAL_INODE) or of a name
// (FUSE_NOTIFY_INVAL_ENTRY), when the store learns that another client
// changed an object behind this mount's back.
//
// They are written from a thread of their own. The kernel handles a
// notification inside the write(2) that delivers it, and INVAL_ENTRY
// takes the parent directory's inode lock: if a process holds that lock
// while it waits for one of our replies (a create or lookup in that
// directory), the write blocks until we answer. Written from the
// supervisor, the thread that answers, that would be a deadlock; the
// notifier thread may block, the supervisor never does.
//
// The queue is bounded: a notification that does not fit is dropped,
// which costs only staleness until the kernel's own timeouts run out,
// never a wrong answer to a request.
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import { logger } from '../log.ts'
import { encodeNotifyInvalEntry, encodeNotifyInvalInode } from './encode.ts'
import type { NotifierSetup, NotifyResult } from './notifier-thread.ts'

const log = logger('notify')
const threadFile = fileURLToPath(new URL('./notifier-thread.ts', import.meta.url))

/** Notifications written or queued at most. */
const QUEUE_MAX = 4096

export class Notifier {
  readonly #worker: Worker
  #queued = 0
  #closed = false
  /** Written; refused by the kernel (it had forgotten the inode or name: nothing to drop); dropped (queue full). */
  sent = 0
  unknown = 0
  dropped = 0

  constructor (fd: number) {
    const setup: NotifierSetup = { fd }
    this.#worker = new Worker(threadFile, { workerData: setup, execArgv: ['--disable-warning=ExperimentalWarning'] })
    this.#worker.on('message', (r: NotifyResult) => { this.#done(r) })
    this.#worker.on('error', err => { log.error({ err }, 'notifier thread failed') })
    // Never what keeps the daemon alive.
    this.#worker.unref()
  }

  /** Drop cached attributes and data of `nodeid` ([off, off+len); len 0: to the end). */
  invalInode (nodeid: number, off = 0, len = 0): void {
    this.#post(encodeNotifyInvalInode(nodeid, off, len))
  }

  /** Drop the cached name `name` in directory `parent`, so the next access looks it up. */
  invalEntry (parent: number, name: string): void {
    this.#post(encodeNotifyInvalEntry(parent, name))
  }

  /**
   * An object changed (its nodeid, if the kernel was given one) or its name
   * went away (`gone`: the parent's nodeid and the name, if known).
   */
  stale (nodeid: number | undefined, parent: number | undefined, name: string, gone: boolean): void {
    if (gone && parent !== undefined) this.invalEntry(parent, name)
    if (nodeid !== undefined) this.invalInode(nodeid)
  }

  #post (bytes: Uint8Array): void {
    if (this.#closed) return
    if (this.#queued >= QUEUE_MAX) {
      if (this.dropped++ === 0) log.warn('the kernel is slow to take notifications; some are dropped (cached entries then expire by their timeouts)')
      return
    }
    this.#queued++
    this.#worker.postMessage(bytes)
  }

  #done (r: NotifyResult): void {
    this.#queued--
    if (r.code === undefined) this.sent++
    else if (r.code === 'ENOENT') this.unknown++
    else if (r.code !== 'ENODEV') log.warn({ code: r.code }, 'a notification to the kernel failed')
  }

  /** Stop: queued notifications are dropped (the connection is going away). */
  close (): void {
    if (this.#closed) return
    this.#closed = true
    // A thread blocked in write(2) ends when the kernel lets go of it.
    void this.#worker.terminate()
  }
}
