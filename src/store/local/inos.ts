// Inode numbers, taken from meta.next_ino a range at a time.
//
// One ino per create meant one more page (meta's) in every create's commit,
// about a seventh of its WAL writes. A range is taken inside a transaction
// and used by later ones; what a process never uses is skipped, never
// reused: an ino names one object forever (nodeids are inos).
import type { Statements } from './statements.ts'

/** Inos taken per range. */
export const INO_RANGE = 256

export class Inos {
  #next = 0
  #end = 0
  /** A range was taken since begin(): a rollback gives it back. */
  #fresh = false

  /** At the start of a transaction that may take an ino. */
  begin (): void {
    this.#fresh = false
  }

  /** Inside a transaction: the ino of a new object. */
  take (st: Statements): number {
    if (this.#next >= this.#end) {
      const { ino } = st.takeInos.get(INO_RANGE) as { ino: number }
      this.#next = ino
      this.#end = ino + INO_RANGE
      this.#fresh = true
    }
    return this.#next++
  }

  /**
   * After the transaction since begin() rolled back: a range it took went
   * back to the counter, where another instance may take it, so it is no
   * longer ours. A range taken by an earlier commit stays ours.
   */
  drop (): void {
    if (this.#fresh) this.#next = this.#end = 0
  }
}
