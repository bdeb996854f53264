// Request slots in SharedArrayBuffer, shared by the reader thread (which
// blocks in read(2) on /dev/fuse) and the supervisor (which never does).
//
// The reader takes a free slot, reads one request into it and publishes the
// slot index on a single-producer/single-consumer queue. The supervisor
// drains everything published since it last looked (a batch) and frees each
// slot when its request is answered. No free slot, or the pause flag set
// (the process is handing the connection over, session.ts detach()), and
// the reader stops reading: backpressure reaches the kernel, which queues
// further requests itself.

// Control words (Int32 indexes).
const TAIL = 0      // publications by the reader, counted modulo `wrap`
const FREE = 1      // number of free slots
const PAUSE = 2     // 1: the supervisor asks the reader to stop reading
const STATE = 3     // 0 running, 1 closed (read failed for good), 2 stop requested
const ERRNO = 4     // the errno that closed the reader
const SERVED = 5    // publications the supervisor has taken and served as far as it could without waiting
const HEADER = 8
// Then: queue[n] (slot index per publication), length[n], busy[n].

/** The kernel's page, the unit a fork makes copy-on-write. */
export const PAGE = 4096

export const RING_RUNNING = 0
export const RING_CLOSED = 1
export const RING_STOP = 2

export interface RingBuffers {
  control: SharedArrayBuffer
  data: SharedArrayBuffer
  slots: number
  slotSize: number
}

export function createRing (slots: number, slotSize: number): RingBuffers {
  const control = new SharedArrayBuffer((HEADER + 3 * slots) * 4)
  const data = new SharedArrayBuffer(slots * slotSize)
  // Every page written once now, so that the kernel never takes a page fault
  // copying a request into a slot. A fault taken while a fatal signal is
  // pending fails the copy, and the kernel then ends that request with EIO
  // instead of leaving it for FUSE_NOTIFY_RESEND: kill -9 of the serving
  // process failed an rsync's close() that way (keeper.test.ts, 1 run in 6).
  // A fork makes the pages copy-on-write again: Ring.refault.
  writeEveryPage(data)
  new Int32Array(control)[FREE] = slots
  return { control, data, slots, slotSize }
}

/**
 * Write every page of `data` once without changing a byte: an atomic OR of 0
 * on a word a page, and on the last word, since the buffer need not start on
 * a page. Safe while the reader and the kernel fill slots.
 */
function writeEveryPage (data: SharedArrayBuffer): void {
  const words = new Int32Array(data, 0, data.byteLength >> 2)
  for (let i = 0; i < words.length; i += PAGE >> 2) Atomics.or(words, i, 0)
  if (words.length > 0) Atomics.or(words, words.length - 1, 0)
}

/** The view both sides use; methods are named for the side that calls them. */
export class Ring {
  readonly slots: number
  readonly slotSize: number
  readonly ctl: Int32Array
  readonly bytes: Uint8Array
  #head = 0      // supervisor: publications consumed, modulo `wrap`
  #scan = 0      // reader: where to look for a free slot
  // Counters wrap at a multiple of the slot count that fits an Int32, so
  // `counter % slots` stays a valid queue position across the wrap.
  readonly #wrap: number

  constructor (b: RingBuffers) {
    this.slots = b.slots
    this.slotSize = b.slotSize
    this.ctl = new Int32Array(b.control)
    this.bytes = new Uint8Array(b.data)
    this.#wrap = this.slots * Math.floor(2 ** 30 / this.slots)
  }

  #queue (i: number): number { return HEADER + i }
  #length (i: number): number { return HEADER + this.slots + i }
  #busy (i: number): number { return HEADER + 2 * this.slots + i }

  /** The bytes of slot i (its whole capacity). */
  slot (i: number): Uint8Array {
    return this.bytes.subarray(i * this.slotSize, (i + 1) * this.slotSize)
  }

  // --- reader side ---

  /** Block until a slot is free and reading is not paused; -1 when asked to stop. */
  acquire (): number {
    for (;;) {
      if (Atomics.load(this.ctl, STATE) !== RING_RUNNING) return -1
      const free = Atomics.load(this.ctl, FREE)
      if (free > 0 && Atomics.load(this.ctl, PAUSE) === 0) break
      // Woken by release() or setPaused(); the timeout re-checks STATE.
      Atomics.wait(this.ctl, free > 0 ? PAUSE : FREE, free > 0 ? 1 : 0, 200)
    }
    for (let n = 0; n < this.slots; n++) {
      const i = (this.#scan + n) % this.slots
      if (Atomics.compareExchange(this.ctl, this.#busy(i), 0, 1) === 0) {
        this.#scan = i + 1
        Atomics.sub(this.ctl, FREE, 1)
        return i
      }
    }
    throw new Error('ring: FREE said a slot was free but none is')
  }

  /** Publish slot i holding `length` bytes and wake the supervisor; returns the new tail. */
  publish (i: number, length: number): number {
    const tail = Atomics.load(this.ctl, TAIL)
    this.ctl[this.#length(i)] = length
    this.ctl[this.#queue(tail % this.slots)] = i
    const next = (tail + 1) % this.#wrap
    Atomics.store(this.ctl, TAIL, next)
    Atomics.notify(this.ctl, TAIL)
    return next
  }

  /** Whether the supervisor has served publications up to `tail` (publish()'s answer) as far as it could without waiting. */
  servedUpTo (tail: number): boolean {
    return Atomics.load(this.ctl, SERVED) === tail
  }

  /** Give back a slot that was acquired but not filled (a retried read). */
  unacquire (i: number): void {
    this.release(i)
  }

  close (errno: number): void {
    Atomics.store(this.ctl, ERRNO, errno)
    Atomics.store(this.ctl, STATE, RING_CLOSED)
    Atomics.add(this.ctl, TAIL, 0)
    Atomics.notify(this.ctl, TAIL)
  }

  // --- supervisor side ---

  get state (): number { return Atomics.load(this.ctl, STATE) }
  get closeErrno (): number { return Atomics.load(this.ctl, ERRNO) }

  /** Slot indexes published since the last call, in order, with their lengths. */
  take (): Array<{ slot: number, length: number }> {
    const tail = Atomics.load(this.ctl, TAIL)
    const out: Array<{ slot: number, length: number }> = []
    while (this.#head !== tail) {
      const slot = this.ctl[this.#queue(this.#head % this.slots)]
      out.push({ slot, length: this.ctl[this.#length(slot)] })
      this.#head = (this.#head + 1) % this.#wrap
    }
    return out
  }

  /**
   * Everything take() returned has been served as far as it can be without
   * waiting: replied to, or waiting on a worker or a timer. A reader
   * polling for that (reader-spin.ts) goes back to reading.
   */
  served (): void {
    Atomics.store(this.ctl, SERVED, this.#head)
  }

  /**
   * After the process forked (a spawn; cpus.ts announces it), its pages are
   * copy-on-write: the kernel's next copy of a request into each would fault
   * again (createRing). Each is written once more, as createRing did.
   */
  refault (): void {
    writeEveryPage(this.bytes.buffer as SharedArrayBuffer)
  }

  /** Wake a supervisor waiting in waitForRequests, to look at its own state. */
  wake (): void {
    Atomics.notify(this.ctl, TAIL)
  }

  /** Something was published that take() has not returned yet. */
  pending (): boolean {
    return Atomics.load(this.ctl, TAIL) !== this.#head
  }

  /** Resolves when something is published after what take() returned, or the reader closed. */
  async waitForRequests (): Promise<void> {
    // The timeout covers a close() that lands between take() and this wait.
    const r = Atomics.waitAsync(this.ctl, TAIL, this.#head, 1000)
    if (!r.async) return
    // A pending waitAsync does not keep the event loop alive; this timer does.
    const alive = setTimeout(() => {}, 2000)
    try {
      await r.value
    } finally {
      clearTimeout(alive)
    }
  }

  /**
   * Block this thread until something is published, for at most `ms`.
   * Only for a supervisor with nothing else to do: it stops the event loop.
   */
  waitSync (ms: number): boolean {
    return Atomics.wait(this.ctl, TAIL, this.#head, ms) !== 'timed-out'
  }

  release (i: number): void {
    Atomics.store(this.ctl, this.#busy(i), 0)
    Atomics.add(this.ctl, FREE, 1)
    Atomics.notify(this.ctl, FREE)
  }

  setPaused (paused: boolean): void {
    Atomics.store(this.ctl, PAUSE, paused ? 1 : 0)
    Atomics.notify(this.ctl, PAUSE)
  }

  requestStop (): void {
    Atomics.compareExchange(this.ctl, STATE, RING_RUNNING, RING_STOP)
    Atomics.notify(this.ctl, FREE)
    Atomics.notify(this.ctl, PAUSE)
  }
}
