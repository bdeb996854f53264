// Synchronous descriptor helpers the data files share (blocks.ts, direct.ts).
import { openSync, writeSync } from 'node:fs'

export const isENOENT = (err: unknown): boolean => (err as NodeJS.ErrnoException).code === 'ENOENT'

/** Write all of `data` at `at`: a pwrite(2) may write less than asked. */
export function writeAll (fd: number, data: Uint8Array, at: number): void {
  let done = 0
  while (done < data.byteLength) done += writeSync(fd, data, done, data.byteLength - done, at + done)
}

/** A descriptor, or undefined where nothing is: a data file is made only by a write, and goes with a truncate to 0 or a reclaim. */
export function openIfExists (path: string, flags: number): number | undefined {
  try {
    return openSync(path, flags)
  } catch (err) {
    if (isENOENT(err)) return undefined
    throw err
  }
}
