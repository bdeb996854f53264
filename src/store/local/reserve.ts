// Room kept back so that deleting works on a full disk.
//
// A delete is a transaction like any other: SQLite appends its pages to
// the WAL, and on a full disk that append fails. `rm` then answered ENOSPC,
// and the reclaim of a file already removed failed the same way, so the
// user could not free the room they were out of. A file of RESERVE_BYTES
// waits in the store directory; a change that frees room gives it up when
// the disk is full and tries again, and it is taken back once there is
// room. Nothing else may use it: a write that could would leave the next
// delete where it started.
import { randomBytes } from 'node:crypto'
import { renameSync, rmSync, statSync, writeFileSync } from 'node:fs'

/** Dozens of WAL pages: a delete, or a reclaim of a batch of orphans, writes a few. */
export const RESERVE_BYTES = 256 * 1024

export class Reserve {
  readonly #path: string
  #held: boolean

  /** Takes the room at once when the disk has it. */
  constructor (path: string) {
    this.#path = path
    this.#held = sizeOf(path) === RESERVE_BYTES
    this.refill()
  }

  /** Give the room up; false when it was not held (nothing to give). */
  release (): boolean {
    if (!this.#held) return false
    try {
      rmSync(this.#path, { force: true })
    } catch {
      return false
    }
    this.#held = false
    return true
  }

  /** Take the room back if the disk has it; a full disk leaves it for the next try. */
  refill (): void {
    if (this.#held) return
    const part = `${this.#path}.part`
    try {
      // Random, not zeros: a compressing filesystem (btrfs, ZFS) would store zeros in nothing.
      writeFileSync(part, randomBytes(RESERVE_BYTES), { mode: 0o600 })
      renameSync(part, this.#path)
      this.#held = true
    } catch {
      rmSync(part, { force: true })
    }
  }
}

function sizeOf (path: string): number | undefined {
  try {
    return statSync(path).size
  } catch {
    return undefined
  }
}
