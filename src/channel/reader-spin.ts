// Whether, and how long, the reader thread polls after handing a request
// over, instead of going straight back into read(2).
//
// On these virtual machines an idle vCPU halts at once, and waking it again
// is slow (idle-spin.ts). A client doing one syscall after another sleeps
// while its request is served; the reader, back in read(2) with nothing to
// read, leaves that CPU idle, so it halts, and the reply then wakes the
// client on a halted CPU. Polling until the supervisor has served the
// request keeps the CPU awake until the reply is out, and the client runs
// again at once. Three interleaved rounds each (session 16, README): cold
// stat of 10,000 files 0.407 s against 0.683 s without, create 1.342
// against 1.858 s, tar -x 1.543 against 1.842 s; 20 us gained less. Since
// session 17 the reader also writes the reply itself when the supervisor
// hands it over while it polls (handover.ts).
//
// Only while a single caller sent the recent requests. With several (the
// processes of rsync, parallel jobs) the CPU is wanted by them, and polling
// took it from them: rsync with 4 processes slowed from ~1.3 s to ~1.6 s.
// Whether the machine had a runnable task to spare (/proc/loadavg) did not
// tell: gated on it, the poll lost its gains and still slowed rsync -a.
// Not for a request nobody waits on: FORGET, BATCH_FORGET, an INTERRUPT,
// and what the kernel sends on its own account with pid 0 (RELEASE after a
// close, for one).
import { FUSE_BATCH_FORGET, FUSE_FORGET, FUSE_INTERRUPT } from './abi.ts'
import { pollFor } from './idle-spin.ts'

/** How many recent callers must be the same one. */
export const SPIN_WINDOW = 8

const NO_WAITER = new Set([FUSE_FORGET, FUSE_BATCH_FORGET, FUSE_INTERRUPT])

export class ReaderSpin {
  readonly #limitMs: number
  readonly #now: () => number
  /** The pids of the last SPIN_WINDOW requests with a caller; -1 for none yet. */
  readonly #pids = new Float64Array(SPIN_WINDOW).fill(-1)
  #at = 0

  /** `limitUs` 0 never polls; `now` in milliseconds, like performance.now (tests pass their own). */
  constructor (limitUs: number, now: () => number = () => performance.now()) {
    this.#limitMs = limitUs / 1000
    this.#now = now
  }

  /** Whether to poll after this request; counts its caller among the recent ones. */
  worth (opcode: number, pid: number): boolean {
    if (!this.on || pid === 0 || NO_WAITER.has(opcode)) return false
    this.#pids[this.#at] = pid
    this.#at = (this.#at + 1) % SPIN_WINDOW
    for (const p of this.#pids) if (p !== pid) return false
    return true
  }

  /** Whether polling is on at all (a limit above 0). */
  get on (): boolean {
    return this.#limitMs > 0
  }

  /** Poll `served` until it is true or the limit passes; true if it turned true. */
  poll (served: () => boolean): boolean {
    return pollFor(this.#limitMs, served, this.#now)
  }
}
