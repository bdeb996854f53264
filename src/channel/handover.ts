// A lone caller's reply, written by the reader thread instead of the
// supervisor.
//
// The reader thread polls while a lone caller's request is served
// (reader-spin.ts), and it runs where the kernel woke it: on the caller's
// vCPU, which the caller left to sleep in its syscall. A reply written from
// the supervisor's vCPU wakes the caller across CPUs: an interrupt to a
// halted vCPU, ~14 us inside the supervisor's write(2) alone (traced, session
// 17), then the caller's wake-up on that vCPU. Written by the reader, the
// caller wakes where it sleeps, on a vCPU that is awake, and the supervisor
// goes on to the next request instead of waiting in write(2).
//
// Exactly one side writes each reply: the reader offers the unique it polls
// for, the supervisor claims it with a compare-and-swap before copying the
// reply here, and a reader that gives up withdraws the offer with a
// compare-and-swap of its own. Whoever loses knows the other writes.
// Replies larger than the buffer (READ) the supervisor writes itself.

/** Reply bytes the reader can write for the supervisor: entries, attributes, small directory pages. */
export const HANDOVER_MAX = 8192

const LEN = 0       // Int32 word: bytes of the handed reply; 0 while none is
const OFFER = 1     // BigInt64 word (bytes 8-15): the wire unique offered, or NONE, or CLAIMED
const DATA = 16     // the reply's bytes
const NONE = 0n     // unique 0 is a notification's, never a request's
const CLAIMED = -1n // every bit set: no unique the kernel sends

export const createHandover = (): SharedArrayBuffer => new SharedArrayBuffer(DATA + HANDOVER_MAX)

/** The wire unique of a request or a reply: both headers carry it at byte 8. */
export const wireUnique = (header: Uint8Array): bigint =>
  new DataView(header.buffer, header.byteOffset, header.byteLength).getBigInt64(8, true)

export class Handover {
  readonly #words: Int32Array
  readonly #offer: BigInt64Array
  readonly #data: Uint8Array

  constructor (sab: SharedArrayBuffer) {
    this.#words = new Int32Array(sab, 0, 2)
    this.#offer = new BigInt64Array(sab, 8, 1)
    this.#data = new Uint8Array(sab, DATA)
  }

  // --- reader side ---

  /** Ask for the reply to `unique` (before publishing the request: the supervisor may answer at once). */
  offer (unique: bigint): void {
    Atomics.store(this.#words, LEN, 0)
    Atomics.store(this.#offer, 0, unique)
  }

  /** Take the offer back; false if the supervisor claimed it first, and then the reply is on its way here. */
  withdraw (unique: bigint): boolean {
    return Atomics.compareExchange(this.#offer, 0, unique, NONE) === unique
  }

  /** Bytes of the handed reply, 0 while none is. */
  handed (): number {
    return Atomics.load(this.#words, LEN)
  }

  /** Wait for a claimed reply: the supervisor is between its claim and its copy. */
  waitHanded (): number {
    Atomics.wait(this.#words, LEN, 0)
    return this.handed()
  }

  /** The handed reply's bytes. */
  reply (length: number): Uint8Array {
    return this.#data.subarray(0, length)
  }

  /** The handed reply is written: ready for the next offer. */
  written (): void {
    Atomics.store(this.#words, LEN, 0)
    Atomics.store(this.#offer, 0, NONE)
    Atomics.notify(this.#words, LEN)
  }

  // --- supervisor side ---

  /**
   * Hand the reply `parts` to the reader if it waits for it; false: write it
   * yourself. Called for every reply, so nothing is computed while no offer
   * stands (several callers: the reader never offers). A notification
   * carries unique 0, NONE itself, so it never matches an offer: claimed,
   * nobody would write it (a lost NOTIFY_RESEND hung every caller after a
   * takeover).
   */
  take (parts: Uint8Array[]): boolean {
    const offered = Atomics.load(this.#offer, 0)
    if (offered === NONE || parts[0].byteLength < 16 || wireUnique(parts[0]) !== offered) return false
    let length = 0
    for (const p of parts) length += p.byteLength
    if (length > HANDOVER_MAX) return false
    if (Atomics.compareExchange(this.#offer, 0, offered, CLAIMED) !== offered) return false
    let at = 0
    for (const p of parts) {
      this.#data.set(p, at)
      at += p.byteLength
    }
    Atomics.store(this.#words, LEN, length)
    Atomics.notify(this.#words, LEN)
    return true
  }

  /**
   * Before this process lets the connection go (a graceful upgrade): wait up
   * to `ms` for the reader to write a reply handed to it. Unwritten, the
   * next process would have the kernel resend a request already done.
   */
  settle (ms: number): boolean {
    const until = Date.now() + ms
    while (Atomics.load(this.#offer, 0) === CLAIMED) {
      const left = until - Date.now()
      if (left <= 0) return false
      Atomics.wait(this.#words, LEN, Atomics.load(this.#words, LEN), Math.min(left, 5))
    }
    return true
  }
}
