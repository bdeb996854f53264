// Pure block math: a byte range split at block boundaries.

/** The part of a byte range that falls in one block. */
export interface Span {
  /** Block index. */
  index: number
  /** Offset of the span within the block. */
  offset: number
  length: number
  /** Offset of the span within the whole range (the caller's buffer). */
  pos: number
}

/** Split [offset, offset+length) into per-block spans, in order. */
export function spans (offset: number, length: number, blockSize: number): Span[] {
  const out: Span[] = []
  let pos = 0
  while (pos < length) {
    const abs = offset + pos
    const index = Math.floor(abs / blockSize)
    const within = abs - index * blockSize
    const n = Math.min(blockSize - within, length - pos)
    out.push({ index, offset: within, length: n, pos })
    pos += n
  }
  return out
}

/** Index of the block holding byte `offset`. */
export const blockOf = (offset: number, blockSize: number): number => Math.floor(offset / blockSize)

/** Number of blocks needed to hold `size` bytes. */
export const blockCount = (size: number, blockSize: number): number => Math.ceil(size / blockSize)
