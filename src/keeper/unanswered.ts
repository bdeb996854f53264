// Kernels before 7.40 cannot resend the requests a dead serving process
// read and never answered; their callers would wait forever. The serving
// process keeps the uniques it holds, and the keeper, after a crash,
// answers every unique in the last reported range with EIO before the next
// process starts. Nobody reads the connection meanwhile, so only requests
// in the kernel's processing list (read by the dead process) match; a
// reply to any other unique fails with ENOENT and does nothing.
import { writeSync } from 'node:fs'
import { wireUniqueOf } from '../channel/decode.ts'
import { replyError } from '../channel/encode.ts'
import { errno } from '../errors.ts'

/** The requests a serving process holds: read from the connection, not yet answered. */
export class UniqueSpan {
  readonly #held = new Set<number>()
  #high = 0

  /** Note a request; returns its `done`, which forgets it. */
  hold (bytes: Uint8Array, done: () => void): () => void {
    if (bytes.byteLength < 16) return done
    const unique = wireUniqueOf(bytes)
    this.#held.add(unique)
    if (unique > this.#high) this.#high = unique
    return () => {
      this.#held.delete(unique)
      done()
    }
  }

  /** From the oldest unique held (or past the newest read) to the newest read. */
  span (): { low: number, high: number } {
    let low = this.#high + 1
    for (const u of this.#held) if (u < low) low = u
    return { low, high: this.#high }
  }
}

/**
 * Answer EIO to every unique from `low` to `high` plus `margin` (requests
 * read after the last report). Returns how many were waiting.
 */
export function answerAbandoned (fd: number, low: number, high: number, margin: number): number {
  let answered = 0
  for (let u = Math.max(1, low); u <= high + margin; u++) {
    try {
      writeSync(fd, replyError(u, errno.EIO))
      answered++
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'ENOENT') continue
      // ENODEV: the connection is gone; nothing more to answer.
      break
    }
  }
  return answered
}
