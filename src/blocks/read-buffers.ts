// Shared-memory buffers that block reads in worker threads copy into.
//
// A read that moved a new 1 MiB ArrayBuffer from the worker for every
// request made the supervisor collect garbage for 0.4 s of a 0.55 s cold
// read of 256 MiB (CPU profile): V8 collects when external memory grows.
// These buffers are reused instead. A buffer is lent twice over, to the
// store call that fills it and to the reply that sends it, and comes back
// only when both are done: an interrupted read is answered EINTR while its
// worker may still be copying.

/** Spare buffers kept; more may be lent at once, the extra ones are dropped on return. */
const KEEP = 16

export interface Lease {
  readonly buf: Uint8Array
  /** One of the two holders is done with it. */
  done: () => void
}

export class ReadBuffers {
  readonly size: number
  readonly #spare: Uint8Array[] = []

  constructor (size: number) {
    this.size = size
  }

  lend (): Lease {
    const buf = this.#spare.pop() ?? new Uint8Array(new SharedArrayBuffer(this.size))
    let holders = 2
    return {
      buf,
      done: () => {
        if (--holders === 0 && this.#spare.length < KEEP) this.#spare.push(buf)
      },
    }
  }
}
