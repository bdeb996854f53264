// Whole blocks move between memory and their data file with O_DIRECT, past
// the host's page cache.
//
// The kernel already caches a file read or written through the mount in
// the mount's own page cache: buffered I/O on the store's copy cached the
// same bytes a second time, and paid for it on this machine in the
// latency of every WRITE (page allocation and copy) and in the fsync that
// wrote them out, and on a cold read in system time (session 12, README).
// Partial blocks, and a file's last, short block, stay buffered: direct
// I/O moves whole, aligned sectors, and small reads want the page cache.
//
// Direct I/O needs the memory aligned too, and JavaScript cannot see an
// address: the bytes go through a staging buffer, at an offset found by
// trying them once (the kernel refuses a misaligned direct transfer with
// EINVAL before it moves anything). A filesystem that refuses O_DIRECT
// (EINVAL at open) leaves the store buffered.
import { closeSync, constants as fsc, readSync, writeSync } from 'node:fs'
import { ConfigError } from '../../errors.ts'
import { writeAll } from './fd.ts'

/** Sector and page alignment, enough for every disk and filesystem. */
export const DIRECT_ALIGN = 4096
/** Offsets tried in the staging buffer: allocations are at least this aligned. */
const STEP = 16

/** #probe's answers besides an offset: no offset is accepted; nothing was there to tell. */
const NONE = -1
const UNDECIDED = -2

const isEINVAL = (err: unknown): boolean => (err as NodeJS.ErrnoException).code === 'EINVAL'

/** The block_io= option: direct (the default) or buffered; true for direct. */
export function parseBlockIO (value: string | undefined): boolean {
  if (value === undefined || value === 'direct') return true
  if (value === 'buffered') return false
  throw new ConfigError(`block_io: '${value}' is neither direct nor buffered`)
}

export class DirectIO {
  readonly #blockSize: number
  #staging: Uint8Array | undefined
  /** Where in #staging an aligned block starts; -1 until found. */
  #at = -1
  #refused: boolean

  /** `enabled` false: every call answers "not here" (block_io=buffered). */
  constructor (blockSize: number, enabled = true) {
    this.#blockSize = blockSize
    this.#refused = !enabled || fsc.O_DIRECT === undefined || blockSize % DIRECT_ALIGN !== 0
  }

  /** Does a transfer of `length` bytes from the start of a block qualify? */
  fits (offset: number, length: number): boolean {
    return !this.#refused && offset === 0 && length === this.#blockSize
  }

  /**
   * Write the whole block `data` at `position` of the file `open` opens
   * (with the flags it is given). False: this filesystem refuses direct
   * I/O and nothing was written; write it buffered.
   */
  write (open: (flags: number) => number, data: Uint8Array, position: number): boolean {
    const fd = this.#open(open, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_DIRECT)
    if (fd === undefined) return false
    try {
      const staging = this.#buffer()
      const at = this.#at >= 0 ? this.#at : this.#probe(at => writeSync(fd, staging, at, DIRECT_ALIGN, position), data)
      if (at === NONE) return this.#refuse()
      staging.set(data, at)
      writeAll(fd, staging.subarray(at, at + data.byteLength), position)
      return true
    } finally {
      closeSync(fd)
    }
  }

  /**
   * Read a block from `position` of the file `open` opens into the start
   * of `into`: the byte count, short only at the end of the file (a direct
   * read stops at the file's size). Undefined: read it buffered (refused,
   * no file, or the alignment is still unknown and nothing was there to
   * find it with).
   */
  read (open: (flags: number) => number | undefined, into: Uint8Array, position: number): number | undefined {
    const fd = this.#open(open, fsc.O_RDONLY | fsc.O_DIRECT)
    if (fd === undefined) return undefined
    try {
      const staging = this.#buffer()
      if (this.#at < 0) {
        // A read past the end moves nothing and so proves no alignment.
        const found = this.#probe(at => readSync(fd, staging, at, DIRECT_ALIGN, position) > 0 ? 0 : UNDECIDED)
        if (found === UNDECIDED) return undefined
        if (found === NONE) {
          this.#refuse()
          return undefined
        }
      }
      const at = this.#at
      const n = readSync(fd, staging, at, this.#blockSize, position)
      into.set(staging.subarray(at, at + n))
      return n
    } finally {
      closeSync(fd)
    }
  }

  #open (open: (flags: number) => number | undefined, flags: number): number | undefined {
    if (this.#refused) return undefined
    try {
      return open(flags)
    } catch (err) {
      if (!isEINVAL(err)) throw err
      this.#refuse()
      return undefined
    }
  }

  #refuse (): false {
    this.#refused = true
    return false
  }

  #buffer (): Uint8Array {
    this.#staging ??= new Uint8Array(this.#blockSize + DIRECT_ALIGN)
    return this.#staging
  }

  /**
   * Find the aligned offset in the staging buffer by trying a sector-sized
   * transfer at each candidate: `attempt` throws EINVAL where misaligned,
   * returns UNDECIDED where it proved nothing. A write's attempt writes
   * the block's own first bytes (`data`), which the whole write then
   * writes again. Returns the offset, NONE or UNDECIDED.
   */
  #probe (attempt: (at: number) => number, data?: Uint8Array): number {
    const staging = this.#buffer()
    for (let at = 0; at < DIRECT_ALIGN; at += STEP) {
      if (data !== undefined) staging.set(data.subarray(0, DIRECT_ALIGN), at)
      try {
        if (attempt(at) === UNDECIDED) return UNDECIDED
        this.#at = at
        return at
      } catch (err) {
        if (!isEINVAL(err)) throw err
      }
    }
    return NONE
  }
}
