// Block files: one host file per (object uuid, block index).
//
// No descriptor outlives a call: open, pread/pwrite, close. The daemon may
// touch any number of blocks and the process is capped at 20,000 fds.
// Synchronous fs calls: these run on worker threads, where blocking is the
// point, and they skip a thread-pool hop per call.
import {
  closeSync, constants as fsc, fsyncSync, ftruncateSync, mkdirSync, openSync, readSync, unlinkSync, writeSync,
} from 'node:fs'
import { dirname } from 'node:path'
import type { Layout } from './layout.ts'

const isENOENT = (err: unknown): boolean => (err as NodeJS.ErrnoException).code === 'ENOENT'

export class BlockFiles {
  readonly #layout: Layout

  constructor (layout: Layout) {
    this.#layout = layout
  }

  /**
   * Write the block's whole content. The file is not truncated first, so a
   * concurrent reader never sees it empty; it is cut to data.length after,
   * so no stale tail of an older, longer version survives.
   */
  write (id: string, index: number, data: Uint8Array): void {
    const path = this.#layout.blockPath(id, index)
    const fd = this.#openForWrite(path)
    try {
      let done = 0
      while (done < data.byteLength) done += writeSync(fd, data, done, data.byteLength - done, done)
      ftruncateSync(fd, data.byteLength)
    } finally {
      closeSync(fd)
    }
  }

  #openForWrite (path: string): number {
    const flags = fsc.O_WRONLY | fsc.O_CREAT
    try {
      return openSync(path, flags, 0o600)
    } catch (err) {
      if (!isENOENT(err)) throw err
      // First block in this fan-out directory.
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 })
      return openSync(path, flags, 0o600)
    }
  }

  /**
   * Up to `length` bytes from `offset`, in a fresh ArrayBuffer of exactly the
   * bytes read (it is transferred between threads, so it must own its
   * memory). A missing file reads as empty: the block row can outlive its
   * file only in a race with a truncate, where zeros are a correct answer.
   */
  read (id: string, index: number, offset: number, length: number): Uint8Array {
    const buf = new Uint8Array(length)
    const got = this.readInto(id, index, offset, length, buf)
    return got === length ? buf : buf.slice(0, got)
  }

  /** `read` into the start of `into`; the byte count. */
  readInto (id: string, index: number, offset: number, length: number, into: Uint8Array): number {
    let fd: number
    try {
      fd = openSync(this.#layout.blockPath(id, index), fsc.O_RDONLY)
    } catch (err) {
      if (isENOENT(err)) return 0
      throw err
    }
    try {
      let got = 0
      while (got < length) {
        const n = readSync(fd, into, got, length - got, offset + got)
        if (n === 0) break
        got += n
      }
      return got
    } finally {
      closeSync(fd)
    }
  }

  /** Cut a block file to `length` bytes (the partial last block of a shrink). */
  truncate (id: string, index: number, length: number): void {
    let fd: number
    try {
      fd = openSync(this.#layout.blockPath(id, index), fsc.O_WRONLY)
    } catch (err) {
      if (isENOENT(err)) return
      throw err
    }
    try {
      ftruncateSync(fd, length)
    } finally {
      closeSync(fd)
    }
  }

  /** Delete block files; already gone is fine (removal is retried by reclaim and fsck). */
  remove (id: string, indexes: Iterable<number>): void {
    for (const index of indexes) {
      try {
        unlinkSync(this.#layout.blockPath(id, index))
      } catch (err) {
        if (!isENOENT(err)) throw err
      }
    }
  }

  /**
   * fsync the given block files, then the directories holding them: a new
   * file's directory entry is durable only once its directory is synced.
   */
  fsync (blocks: Iterable<{ id: string, idx: number }>): void {
    const dirs = new Set<string>()
    for (const { id, idx } of blocks) {
      if (this.#fsyncPath(this.#layout.blockPath(id, idx))) dirs.add(this.#layout.blockDir(id))
    }
    if (dirs.size === 0) return
    for (const dir of dirs) this.#fsyncPath(dir)
    // A fan-out directory may itself be new.
    this.#fsyncPath(this.#layout.blocks)
  }

  #fsyncPath (path: string): boolean {
    let fd: number
    try {
      fd = openSync(path, fsc.O_RDONLY)
    } catch (err) {
      // Deleted since it was written (truncate, reclaim): nothing to make durable.
      if (isENOENT(err)) return false
      throw err
    }
    try {
      fsyncSync(fd)
      return true
    } finally {
      closeSync(fd)
    }
  }
}
