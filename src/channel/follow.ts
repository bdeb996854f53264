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
// So the reader looks where a lone caller runs (its /proc stat, at most
// every CHECK_MS) and, when it finds it on the serving thread's CPU twice
// running, moves the serving thread to another CPU and itself to the rest.
// A move costs two taskset(1) spawns (cpus.ts), a few milliseconds of the
// reader's: at most one every MIN_MOVE_MS.
import { closeSync, openSync, readSync } from 'node:fs'

/** Least time between two looks at the caller's CPU (ms). */
export const CHECK_MS = 50
/** Looks in a row that must find the caller on the serving thread's CPU. */
export const STRIKES = 2
/** Least time between two moves (ms). */
export const MIN_MOVE_MS = 1000

// Int32 words of the state the reader and the supervisor share.
const CPU = 0    // the serving thread's CPU; -1 until the supervisor is bound
const MOVES = 1  // moves made

export function createServingCpu (): SharedArrayBuffer {
  const buffer = new SharedArrayBuffer(2 * 4)
  new Int32Array(buffer)[CPU] = -1
  return buffer
}

/** Where the serving thread is, shared by the supervisor (which binds itself first) and the reader (which moves it). */
export class ServingCpu {
  readonly #words: Int32Array

  constructor (buffer: SharedArrayBuffer) {
    this.#words = new Int32Array(buffer)
  }

  get buffer (): SharedArrayBuffer {
    return this.#words.buffer as SharedArrayBuffer
  }

  /** The serving thread's CPU, or -1 while it is not bound (nothing to move yet). */
  get cpu (): number {
    return Atomics.load(this.#words, CPU)
  }

  /** The supervisor bound itself to `cpu`. */
  bound (cpu: number): void {
    Atomics.store(this.#words, CPU, cpu)
  }

  /** The reader moved the serving thread to `cpu`. */
  moved (cpu: number): void {
    Atomics.store(this.#words, CPU, cpu)
    Atomics.add(this.#words, MOVES, 1)
  }

  get moves (): number {
    return Atomics.load(this.#words, MOVES)
  }
}

/**
 * The CPU field of a `/proc/<tid>/stat` text (the 39th). The name in
 * parentheses may hold spaces and parentheses itself: fields are counted
 * from the last ')'.
 */
export function cpuOfStat (text: string): number | undefined {
  const close = text.lastIndexOf(')')
  if (close < 0) return undefined
  // After ") ": field 3 (state) onwards.
  const cpu = Number(text.slice(close + 2).split(' ')[39 - 3])
  return Number.isInteger(cpu) && cpu >= 0 ? cpu : undefined
}

const statBuffer = Buffer.alloc(1024)

/** The CPU thread `tid` last ran on; undefined if it is gone. */
export function cpuOfThread (tid: number): number | undefined {
  let fd: number
  try {
    fd = openSync(`/proc/${tid}/stat`, 'r')
  } catch {
    return undefined
  }
  try {
    const n = readSync(fd, statBuffer, 0, statBuffer.length, 0)
    return cpuOfStat(statBuffer.toString('latin1', 0, n))
  } catch {
    return undefined
  } finally {
    closeSync(fd)
  }
}

export class FollowCaller {
  readonly #all: readonly number[]
  readonly #serving: ServingCpu
  readonly #cpuOf: (tid: number) => number | undefined
  readonly #now: () => number
  #nextCheck = 0
  #strikes = 0
  #lastMove = -Infinity

  /** `all`: the daemon's CPUs; `now` in milliseconds, like performance.now (tests pass their own, and their own `cpuOf`). */
  constructor (all: readonly number[], serving: ServingCpu, cpuOf = cpuOfThread, now: () => number = () => performance.now()) {
    this.#all = all
    this.#serving = serving
    this.#cpuOf = cpuOf
    this.#now = now
  }

  /** The daemon's CPUs. */
  get all (): readonly number[] {
    return this.#all
  }

  /** The serving thread was moved to `cpu`. */
  moved (cpu: number): void {
    this.#serving.moved(cpu)
  }

  /**
   * After a lone caller's request was answered: the CPU to move the serving
   * thread to, or undefined to stay.
   */
  check (tid: number): number | undefined {
    const serving = this.#serving.cpu
    if (serving < 0) return undefined
    const t = this.#now()
    if (t < this.#nextCheck) return undefined
    this.#nextCheck = t + CHECK_MS
    const cpu = this.#cpuOf(tid)
    if (cpu !== serving) {
      this.#strikes = 0
      return undefined
    }
    if (++this.#strikes < STRIKES || t - this.#lastMove < MIN_MOVE_MS) return undefined
    const to = this.#all.findLast(c => c !== cpu)
    if (to === undefined) return undefined
    this.#strikes = 0
    this.#lastMove = t
    return to
  }
}
