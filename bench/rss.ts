// Resident memory of every target's daemon, sampled on a timer for the whole
// run: the peak is what a machine has to have free, and issue 3 puts a
// budget on objfs's. Reads /proc only, never a mountpoint.
import { rssBytes } from './proc.ts'

export const RSS_INTERVAL_MS = 200

interface Watched {
  pids: number[]
  /** Peak over the whole run, across remounts. */
  max: number | null
  /** Peak since the current step began. */
  stepMax: number | null
}

export class RssSampler {
  #watched = new Map<string, Watched>()
  #timer: NodeJS.Timeout | undefined

  start (): void {
    this.#timer ??= setInterval(() => this.sample(), RSS_INTERVAL_MS)
    // Never what keeps the harness alive.
    this.#timer.unref()
  }

  stop (): void {
    this.sample()
    clearInterval(this.#timer)
    this.#timer = undefined
  }

  /** Daemon processes of a target, from its (re)mount on; a remount keeps the run's peak. */
  watch (target: string, pids: number[]): void {
    const w = this.#watched.get(target)
    if (w === undefined) this.#watched.set(target, { pids, max: null, stepMax: null })
    else w.pids = pids
    this.sample()
  }

  unwatch (target: string): void {
    this.sample()
    const w = this.#watched.get(target)
    if (w !== undefined) w.pids = []
  }

  beginStep (target: string): void {
    const w = this.#watched.get(target)
    if (w === undefined) return
    w.stepMax = null
    this.sample()
  }

  /** Peak during the step; null when the target has no daemon (tmpfs). */
  endStep (target: string): number | null {
    this.sample()
    return this.#watched.get(target)?.stepMax ?? null
  }

  max (target: string): number | null {
    return this.#watched.get(target)?.max ?? null
  }

  sample (): void {
    for (const w of this.#watched.values()) {
      if (w.pids.length === 0) continue
      let sum = 0
      let seen = false
      for (const pid of w.pids) {
        const rss = rssBytes(pid)
        if (rss === undefined) continue
        sum += rss
        seen = true
      }
      if (!seen) continue
      w.max = Math.max(w.max ?? 0, sum)
      w.stepMax = Math.max(w.stepMax ?? 0, sum)
    }
  }
}
