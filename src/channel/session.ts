// One FUSE connection: the reader thread, INIT, the batch loop and replies.
//
// The supervisor never blocks on /dev/fuse: a reader thread fills
// SharedArrayBuffer slots and the supervisor takes everything published
// since it last looked, as one batch. Replies are written from the
// supervisor with writev(2), one call per reply (the kernel requires a reply
// in a single write), which does not block.
import { BroadcastChannel, Worker } from 'node:worker_threads'
import { fileURLToPath } from 'node:url'
import {
  FUSE_HAS_RESEND_FLAGS2, FUSE_INIT, FUSE_INIT_EXT, FUSE_KERNEL_MINOR_VERSION, FUSE_KERNEL_VERSION, IN_HEADER_SIZE,
} from './abi.ts'
import { FORKED_CHANNEL, bindThreadAsync } from './cpus.ts'
import { decodeInHeader, decodeInitIn, type InitIn } from './decode.ts'
import { encodeInitOut, encodeNotifyResend, replyError, replyHeaderFor } from './encode.ts'
import { FollowCaller, cpuOfThread } from './follow.ts'
import { Handover, createHandover } from './handover.ts'
import { IdleSpin } from './idle-spin.ts'
import { writeReply } from './reply-write.ts'
import { PAGE, Ring, RING_CLOSED, createRing } from './ring.ts'
import type { ReaderSetup } from './reader.ts'
import { logger } from '../log.ts'

const log = logger('session')
const readerFile = fileURLToPath(new URL('./reader.ts', import.meta.url))

/** How long an idle supervisor blocks on the ring before yielding to the event loop (ms). */
const WAIT_MS = 2
/** How long a detaching process waits for the reader to write a reply handed to it (ms). */
const HANDOVER_SETTLE_MS = 1000

export interface SessionOptions {
  /** Largest WRITE payload; slots are this plus a page for headers. */
  maxWrite: number
  slots: number
  /** INIT flags we would like (low 32 bits); the kernel's offer is intersected. */
  wantFlags: number
  wantFlags2: number
  maxReadahead: number
  maxBackground: number
  /** How long the reader polls for a lone request to be served (reader-spin.ts); 0: never. */
  readerSpinUs: number
  /** The CPUs the reader thread may use (cpus.ts); undefined: any. */
  readerCpus?: number[]
  /** Every CPU of the daemon, when the serving thread is to move off a lone caller's CPU (follow.ts). */
  followCpus?: number[]
}

/** What the kernel and we agreed on. */
export interface Negotiation {
  minor: number
  flags: number
  flags2: number
  maxWrite: number
  maxReadahead: number
}

/** What serve() returns when detach() ended it: the connection lives on for the next process. */
export const DETACHED = -1

/** Called per request with its bytes (a view into its slot) and a function that frees the slot. */
export type RequestSink = (bytes: Uint8Array, done: () => void) => void

export class Session {
  readonly fd: number
  readonly #opts: SessionOptions
  readonly #ring: Ring
  readonly #handoverBuffer = createHandover()
  readonly #handover = new Handover(this.#handoverBuffer)
  readonly #spin = new IdleSpin()
  // A close lands as a notify on an unchanged tail: one during the poll
  // would be missed by the wait that follows, so the poll looks for it.
  readonly #ready = (): boolean => this.#ring.pending() || this.#ring.state === RING_CLOSED
  readonly #sleep = (): boolean => this.#ring.waitSync(WAIT_MS)
  // A fork undoes the ring's prefaulting (ring.ts); the threads binding
  // themselves to CPUs fork, at start, when the checkpoint thread starts,
  // and when the serving thread moves (follow.ts).
  readonly #forks = new BroadcastChannel(FORKED_CHANNEL)
  readonly #follow: FollowCaller | undefined
  #reader: Worker | undefined
  #closedErrno = 0
  #detached = false
  #handedReplies = 0

  constructor (fd: number, opts: SessionOptions) {
    this.fd = fd
    this.#opts = opts
    // The kernel refuses reads into buffers smaller than a WRITE of max_write plus headers.
    this.#ring = new Ring(createRing(opts.slots, opts.maxWrite + PAGE))
    this.#forks.unref()
    this.#forks.onmessage = () => { this.#ring.refault() }
    this.#follow = opts.followCpus === undefined
      ? undefined
      : new FollowCaller(opts.followCpus, {
        cpuOf: cpuOfThread,
        bind: bindThreadAsync,
        now: () => performance.now(),
        servingTid: process.pid,
        warn: err => log.warn({ err: err.message }, 'could not move the serving thread off a lone caller\'s CPU; it stays where it is'),
      })
  }

  #startReader (): void {
    const setup: ReaderSetup = { fd: this.fd, ring: { control: this.#ring.ctl.buffer as SharedArrayBuffer, data: this.#ring.bytes.buffer as SharedArrayBuffer, slots: this.#ring.slots, slotSize: this.#ring.slotSize }, handover: this.#handoverBuffer, spinUs: this.#opts.readerSpinUs, cpus: this.#opts.readerCpus, loneCallers: this.#follow?.buffer }
    this.#reader = new Worker(readerFile, { workerData: setup, execArgv: ['--disable-warning=ExperimentalWarning'] })
    this.#reader.on('error', err => log.error({ err }, 'reader thread failed'))
  }

  /**
   * Take over a connection whose INIT a previous process answered (the
   * keeper restarted us): no INIT comes again. Kernels that offered
   * FUSE_HAS_RESEND (7.40, Linux 6.9) are asked to resend the requests the previous process read and
   * never answered; they arrive with FUSE_UNIQUE_RESEND in their unique.
   */
  resume (n: Negotiation): boolean {
    this.#startReader()
    if ((n.flags2 & FUSE_HAS_RESEND_FLAGS2) === 0) return false
    this.send([encodeNotifyResend()])
    return true
  }

  /** Start the reader thread and answer INIT. */
  async init (): Promise<Negotiation> {
    this.#startReader()
    for (;;) {
      for (const { slot, length } of this.#ring.take()) {
        const bytes = this.#ring.slot(slot).subarray(0, length)
        const h = decodeInHeader(bytes)
        try {
          if (h.opcode !== FUSE_INIT) {
            // Nothing else may come first; answer so the caller is not left waiting.
            this.send([replyError(h.unique, 5)])
            continue
          }
          return this.#answerInit(h.unique, decodeInitIn(bytes.subarray(IN_HEADER_SIZE, h.len)))
        } finally {
          this.#ring.release(slot)
        }
      }
      if (this.#ring.state === RING_CLOSED) throw new Error(`the FUSE connection closed before INIT (errno ${this.#ring.closeErrno})`)
      await this.#ring.waitForRequests()
    }
  }

  #answerInit (unique: number, init: InitIn): Negotiation {
    const o = this.#opts
    if (init.major !== FUSE_KERNEL_VERSION) {
      // A newer major: reply with ours and the kernel retries or gives up.
      this.send([replyHeaderFor(unique, 0)])
      throw new Error(`kernel FUSE protocol ${init.major}.${init.minor} is not supported (we speak ${FUSE_KERNEL_VERSION}.x)`)
    }
    const minor = Math.min(init.minor, FUSE_KERNEL_MINOR_VERSION)
    const flags = (init.flags & o.wantFlags) | FUSE_INIT_EXT
    const flags2 = init.flags2 & o.wantFlags2
    const maxReadahead = Math.min(init.max_readahead, o.maxReadahead)
    const maxPages = Math.ceil(o.maxWrite / PAGE)
    const out = encodeInitOut({
      major: FUSE_KERNEL_VERSION,
      minor,
      max_readahead: maxReadahead,
      flags: flags >>> 0,
      flags2,
      max_background: o.maxBackground,
      congestion_threshold: Math.floor(o.maxBackground * 3 / 4),
      max_write: o.maxWrite,
      time_gran: 1,
      max_pages: maxPages,
      map_alignment: 0,
      max_stack_depth: 0,
    })
    this.send([replyHeaderFor(unique, out.byteLength), out])
    log.info({ kernel: `${init.major}.${init.minor}`, minor, flags: flags.toString(16), flags2: flags2.toString(16) }, 'FUSE session initialised')
    return { minor, flags, flags2, maxWrite: o.maxWrite, maxReadahead }
  }

  /**
   * Serve until the connection ends (ENODEV: unmounted). Each wake-up takes
   * every request published since the last one, in kernel order. `idle`
   * says nothing is in flight; `tidy` then does some deferred work, true if
   * it did any.
   */
  async serve (sink: RequestSink, idle: () => boolean = () => false, tidy: () => boolean = () => false): Promise<number> {
    try {
      return await this.#serve(sink, idle, tidy)
    } finally {
      this.#forks.close()
    }
  }

  async #serve (sink: RequestSink, idle: () => boolean, tidy: () => boolean): Promise<number> {
    for (;;) {
      if (this.#detached) {
        // A reply handed to the reader is written before the next process takes over.
        if (!this.#handover.settle(HANDOVER_SETTLE_MS)) log.warn('a reply handed to the reader thread was not written before the handover')
        return DETACHED
      }
      this.#follow?.tick()
      const batch = this.#ring.take()
      for (const { slot, length } of batch) {
        sink(this.#ring.slot(slot).subarray(0, length), () => this.#ring.release(slot))
      }
      if (batch.length > 0) continue
      if (this.#ring.state === RING_CLOSED) {
        this.#closedErrno = this.#ring.closeErrno
        return this.#closedErrno
      }
      // Let every reply queued as a microtask go out first.
      await new Promise(resolve => setImmediate(resolve))
      this.#ring.served()
      if (this.#ring.pending()) continue
      // Nothing in flight: poll the ring for a moment while requests have
      // been coming close together (idle-spin.ts), then block briefly on
      // the ring itself. A futex wake-up costs less than an event-loop
      // wake-up from another thread; a client doing one syscall after
      // another (cp, tar, git) waits for every single one of them. Only with
      // no work in flight, so completions are never held up. Work put off
      // (tidy) goes first: it fills the time until that next request,
      // which it would otherwise delay.
      if (idle() && (tidy() || this.#spin.wait(this.#ready, this.#sleep))) continue
      await this.#ring.waitForRequests()
    }
  }

  /**
   * One reply or notification: header and body parts in a single writev, or
   * handed to the reader thread when it polls for this reply (handover.ts).
   */
  send (parts: Uint8Array[]): void {
    if (this.#handover.take(parts)) this.#handedReplies++
    else writeReply(this.fd, parts, log)
    // A reply ends the reader's poll for a lone request (reader-spin.ts):
    // its client is awake now and needs the CPU.
    this.#ring.served()
  }

  /**
   * Stop serving, the connection staying open for the next process (a
   * graceful upgrade): serve() returns DETACHED at its next turn. Requests
   * the reader still reads are never answered here; the next process has
   * the kernel resend them.
   */
  detach (): void {
    this.#detached = true
    this.#ring.setPaused(true)
    this.#ring.wake()
  }

  /** The serving thread is bound to `cpu`: from now on it may move off a lone caller's (follow.ts). */
  servingBound (cpu: number): void {
    this.#follow?.bound(cpu)
  }

  /** Times the serving thread moved off a lone caller's CPU. */
  get servingMoves (): number {
    return this.#follow?.moves ?? 0
  }

  /** Replies the reader thread wrote for us (handover.ts). */
  get repliesByReader (): number {
    return this.#handedReplies
  }

  /** Ask the reader to stop once its current read returns. */
  stop (): void {
    this.#ring.requestStop()
  }
}
