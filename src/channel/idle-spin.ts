// How long an idle supervisor polls the ring before it sleeps on it.
//
// A supervisor asleep in Atomics.wait is woken through a futex, and on
// these virtual machines waking a sleeping thread cost about 20 us a
// request (the unlinks below), as much as passthrough_ll's whole unlink
// round trip. A client doing one syscall after another (cp, tar, rm, git)
// sends its next request a few microseconds after our reply, so polling for
// a moment finds it without that wake-up. Where requests come far apart (a
// 1 MiB WRITE every ~0.6 ms: the kernel copies the data twice before we see
// it), a poll would only burn the CPU the client and the kernel need, so it
// is made only while the recent gaps have been short.
//
// Measured side by side, interleaved, three runs each (5,000 empty files,
// then 1 GiB with fio): create 0.97-1.15 s sleeping against 0.78-0.83 s
// with this poll, cold stat 0.19-0.24 against 0.16-0.18 s, unlink
// 0.52-0.62 against 0.43-0.44 s; the fio write 419-439 against 442-459 MiB/s
// (it never polls). Polling every time for 25 to 200 us gained as much on
// the files and nothing on the write.

/** Longest poll, in microseconds. */
export const POLL_US = 50
/** Poll only while the average gap is below this (microseconds). */
export const SHORT_GAP_US = 200
/** One gap counts at most this much (a mount idle for minutes must not take minutes of short gaps to recover). */
const GAP_CAP_US = 10_000

/** Look at `ready` until it turns true or `ms` pass on the clock `now` (milliseconds); true if it did. */
export function pollFor (ms: number, ready: () => boolean, now: () => number): boolean {
  const until = now() + ms
  do {
    if (ready()) return true
  } while (now() < until)
  return ready()
}

export class IdleSpin {
  /** Exponentially weighted average of recent idle gaps, microseconds. */
  #avgUs = GAP_CAP_US
  readonly #now: () => number

  /** `now` in milliseconds, like performance.now (tests pass a clock of their own). */
  constructor (now: () => number = () => performance.now()) {
    this.#now = now
  }

  get averageGapUs (): number { return this.#avgUs }

  /** How long to poll before sleeping: POLL_US while gaps are short, else 0. */
  budgetUs (): number {
    return this.#avgUs < SHORT_GAP_US ? POLL_US : 0
  }

  /**
   * Going idle: poll `ready`, then `sleep` (true if woken by work) unless
   * the poll found it; the gap until then counts towards the average.
   */
  wait (ready: () => boolean, sleep: () => boolean): boolean {
    const t0 = this.#now()
    const found = this.poll(ready) || sleep()
    this.gap((this.#now() - t0) * 1000)
    return found
  }

  /** Poll `ready` for up to budgetUs(); true if it turned true. */
  poll (ready: () => boolean): boolean {
    const budget = this.budgetUs()
    if (budget === 0) return ready()
    return pollFor(budget / 1000, ready, this.#now)
  }

  /** The time from going idle to the next request, in microseconds. */
  gap (us: number): void {
    const g = Math.min(Math.max(us, 0), GAP_CAP_US)
    this.#avgUs += (g - this.#avgUs) / 4
  }
}
