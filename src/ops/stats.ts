// Per-operation counters for `objfs.stats`: calls, errors by errno, time.
import { errnoName } from '../errors.ts'

interface OpCounter {
  calls: number
  errors: number
  totalMs: number
  maxMs: number
}

export class OpStats {
  readonly #ops = new Map<string, OpCounter>()
  readonly #errnos = new Map<string, number>()
  inFlight = 0

  record (op: string, ms: number, errno: number): void {
    let c = this.#ops.get(op)
    if (c === undefined) {
      c = { calls: 0, errors: 0, totalMs: 0, maxMs: 0 }
      this.#ops.set(op, c)
    }
    c.calls++
    c.totalMs += ms
    if (ms > c.maxMs) c.maxMs = ms
    if (errno !== 0) {
      c.errors++
      const name = errnoName(errno)
      this.#errnos.set(name, (this.#errnos.get(name) ?? 0) + 1)
    }
  }

  snapshot (): { ops: Record<string, OpCounter>, errors: Record<string, number>, inFlight: number } {
    return { ops: Object.fromEntries(this.#ops), errors: Object.fromEntries(this.#errnos), inFlight: this.inFlight }
  }
}
