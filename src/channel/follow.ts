// The serving thread moves off a lone caller's CPU (serve_cpu=auto).
//
// A lone caller (cp, tar, rm, git: one syscall after another) is answered
// fastest when it runs on the reader thread's CPU: its request wakes the
// reader there, the reader hands it over to the serving thread polling on
// its own CPU, and writes the reply it is handed back (handover.ts), which
// wakes the caller where it sleeps. No thread waits for another CPU to wake
// up. A caller the scheduler put on the serving thread's CPU instead stays
// there, and then every request wakes the reader across CPUs, and every
// reply the caller: 10,000 creates took 1.2-1.4 s against 0.51-0.62 s, and
// their unlinks 0.42-0.49 s against 0.24-0.29 s, the caller pinned to one
// CPU or the other (session 38, README). Moving the two threads by hand on
// a live mount turned the one into the other at once.
//
// So the reader names the lone caller it polled for (at most every
// CHECK_MS), and the serving thread looks where that caller runs; when it
// finds it on its own CPU twice running, it moves itself to another CPU and
// the reader to the rest. At most one move every MIN_MOVE_MS: a move costs
// two taskset(1) spawns and a refault of the request ring (ring.ts).
//
// The reader must never look itself, nor anyone wait for the look: reading
// a caller's stat may block (proc-stat.ts), and the reader looking
// deadlocked the daemon in session 38. The serving thread reads it on the
// thread pool and serves on while it waits.
import { readStat, statFields } from '../proc-stat.ts'

/** Least time between two callers the reader names (ms). */
export const CHECK_MS = 50
/** Looks in a row that must find the caller on the serving thread's CPU. */
export const STRIKES = 2
/** Least time between two moves (ms). */
export const MIN_MOVE_MS = 1000

// Int32 words the reader writes and the serving thread reads.
const NAMED = 0   // callers named so far
const CALLER = 1  // the last caller named (a thread id)
const READER = 2  // the reader thread's id; 0 until it is known
const WORDS = 3

/** The reader's side: names the lone callers it polls for. */
export class LoneCallerBoard {
  readonly #words: Int32Array
  readonly #now: () => number
  #next = 0

  /** `now` in milliseconds, like performance.now (tests pass their own). */
  constructor (buffer: SharedArrayBuffer, now: () => number = () => performance.now()) {
    this.#words = new Int32Array(buffer)
    this.#now = now
  }

  /** The reader thread's id: the thread to move along with the serving thread. */
  reader (tid: number): void {
    Atomics.store(this.#words, READER, tid)
  }

  /** A lone caller's request was answered: name it, unless one was named less than CHECK_MS ago. */
  saw (tid: number): void {
    const t = this.#now()
    if (t < this.#next) return
    this.#next = t + CHECK_MS
    Atomics.store(this.#words, CALLER, tid)
    Atomics.add(this.#words, NAMED, 1)
  }
}

/** proc(5)'s field 39: the CPU the thread last ran on. */
const PROCESSOR = 39

function cpuOfFields (fields: string[] | undefined): number | undefined {
  const cpu = Number(fields?.[PROCESSOR - 3])
  return Number.isInteger(cpu) && cpu >= 0 ? cpu : undefined
}

/** The CPU field of a `/proc/<tid>/stat` text. */
export function cpuOfStat (text: string): number | undefined {
  return cpuOfFields(statFields(text))
}

/** The CPU thread `tid` last ran on; undefined if it is gone. On the thread pool: see above. */
export async function cpuOfThread (tid: number): Promise<number | undefined> {
  return cpuOfFields(await readStat(tid))
}

/** Moves thread `tid` to `cpus`; rejects with the reason it could not. */
export type BindThread = (tid: number, cpus: readonly number[]) => Promise<void>

export interface FollowDeps {
  cpuOf: (tid: number) => Promise<number | undefined>
  bind: BindThread
  /** Milliseconds, like performance.now. */
  now: () => number
  /** The main thread's id: the process id. */
  servingTid: number
  warn: (err: Error) => void
}

/** The serving thread's side: looks at each caller named and moves when it should. */
export class FollowCaller {
  /** For the reader's LoneCallerBoard. */
  readonly buffer = new SharedArrayBuffer(WORDS * 4)
  readonly #words = new Int32Array(this.buffer)
  readonly #all: readonly number[]
  readonly #deps: FollowDeps
  #cpu = -1
  #named = 0
  #busy = false
  #off = false
  #strikes = 0
  #lastMove = -Infinity
  #moves = 0

  /** `all`: the daemon's CPUs. */
  constructor (all: readonly number[], deps: FollowDeps) {
    this.#all = all
    this.#deps = deps
  }

  /** The serving thread was bound to `cpu`: from now on it may move. */
  bound (cpu: number): void {
    this.#cpu = cpu
  }

  /** The serving thread's CPU; -1 until it is bound. */
  get cpu (): number {
    return this.#cpu
  }

  get moves (): number {
    return this.#moves
  }

  /**
   * From the serving loop, every turn: one atomic read unless the reader
   * named a caller since. The look and the move run on their own; the
   * promise is for tests.
   */
  tick (): Promise<void> | undefined {
    const named = Atomics.load(this.#words, NAMED)
    if (named === this.#named || this.#busy || this.#off || this.#cpu < 0) return undefined
    this.#named = named
    this.#busy = true
    return this.#look(Atomics.load(this.#words, CALLER))
      .catch(err => { this.#stop(err as Error) })
      .finally(() => { this.#busy = false })
  }

  async #look (caller: number): Promise<void> {
    const cpu = await this.#deps.cpuOf(caller)
    const to = this.#decide(cpu)
    if (to === undefined) return
    const reader = Atomics.load(this.#words, READER)
    try {
      await this.#deps.bind(this.#deps.servingTid, [to])
      this.#cpu = to
      this.#moves++
      if (reader !== 0) await this.#deps.bind(reader, this.#all.filter(c => c !== to))
    } catch (err) {
      this.#stop(err as Error)
    }
  }

  /** taskset worked at start or we would not be bound; once it fails, stay put. */
  #stop (err: Error): void {
    this.#off = true
    this.#deps.warn(err)
  }

  /** Where to move after a look found the caller on `cpu` (undefined: gone), or undefined to stay. */
  #decide (cpu: number | undefined): number | undefined {
    if (cpu !== this.#cpu) {
      this.#strikes = 0
      return undefined
    }
    const t = this.#deps.now()
    if (++this.#strikes < STRIKES || t - this.#lastMove < MIN_MOVE_MS) return undefined
    const to = this.#all.findLast(c => c !== cpu)
    if (to === undefined) return undefined
    this.#strikes = 0
    this.#lastMove = t
    return to
  }
}
