// Where a multipart upload cuts an object into parts: pure math.
//
// The cuts are fixed before the final size is known, because a file that
// is still being written streams its first parts while it grows. S3 allows
// 10,000 parts of at most 5 GiB each, all but the last at least 5 MiB, and
// parts need not be equal: so the first 1000 parts are `first` bytes, the
// next 1000 twice that, and so on, and the last 1000 are as large as S3
// allows (5 GiB), so that even 5 MiB first parts reach S3's 5 TiB object
// limit. With 8 MiB first parts, 1000 parts cover 8 GiB, 2000 24 GiB.

const MiB = 1024 * 1024
export const PART_MIN = 5 * MiB
const PART_MAX = 5 * 1024 * MiB
export const MAX_PARTS = 10_000
const PER_TIER = 1000
const LAST_TIER = MAX_PARTS / PER_TIER - 1

export interface PartRange {
  /** 0-based; S3's PartNumber is n + 1. */
  n: number
  start: number
  end: number
}

export class PartLayout {
  /** Bytes of each of the first 1000 parts: whole blocks, at least 5 MiB. */
  readonly first: number
  readonly #bs: number

  constructor (bs: number, wanted = PART_MIN) {
    this.#bs = bs
    this.first = Math.ceil(Math.max(wanted, PART_MIN) / bs) * bs
  }

  /** Size of the parts of tier k: whole blocks, at most 5 GiB, and that in the last tier. */
  #tierPart (k: number): number {
    const largest = Math.max(this.first, Math.floor(PART_MAX / this.#bs) * this.#bs)
    return k === LAST_TIER ? largest : Math.min(this.first * 2 ** k, largest)
  }

  /** Part n's byte range (ignoring the object's end). */
  part (n: number): PartRange {
    let start = 0
    let k = 0
    for (; n >= (k + 1) * PER_TIER; k++) start += PER_TIER * this.#tierPart(k)
    const p = this.#tierPart(k)
    start += (n - k * PER_TIER) * p
    return { n, start, end: start + p }
  }

  /** The part holding byte `offset`. */
  partAt (offset: number): number {
    let base = 0
    for (let k = 0; ; k++) {
      const p = this.#tierPart(k)
      if (offset < base + PER_TIER * p || k === LAST_TIER) return k * PER_TIER + Math.floor((offset - base) / p)
      base += PER_TIER * p
    }
  }

  /** How many parts an object of `size` bytes has (at least one). */
  count (size: number): number {
    return size <= 0 ? 1 : this.partAt(size - 1) + 1
  }

  /** Part n clipped to an object of `size` bytes. */
  clipped (n: number, size: number): PartRange {
    const r = this.part(n)
    return { n, start: r.start, end: Math.min(r.end, size) }
  }
}
