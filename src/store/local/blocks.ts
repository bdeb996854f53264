// Data files: one host file per object (store format 5), block `i` at
// offset i * blockSize. A block without a row reads as a hole whatever the
// file holds there.
//
// One file per object rather than per block: a sequential write extends
// one file as passthrough_ll's does, instead of creating a file per MiB;
// an fsync is one call; the host's read-ahead runs across blocks; an
// unlink frees a file's data with one unlink(2).
//
// No descriptor outlives a call: open, pread/pwrite, close. The daemon may
// touch any number of objects and the process is capped at 20,000 fds.
// Synchronous fs calls: these run on worker threads, where blocking is the
// point, and they skip a thread-pool hop per call.
import {
  closeSync, constants as fsc, fstatSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readSync, unlinkSync,
} from 'node:fs'
import { dirname } from 'node:path'
import { DirectIO } from './direct.ts'
import { isENOENT, openIfExists, writeAll } from './fd.ts'
import type { Layout } from './layout.ts'

export class BlockFiles {
  readonly #layout: Layout
  readonly #blockSize: number
  readonly #direct: DirectIO
  /** Zeros for the rest of a short block; allocated at the first one. */
  #zeros: Uint8Array | undefined

  /** `direct`: whole blocks bypass the host's page cache (direct.ts). */
  constructor (layout: Layout, blockSize: number, direct = true) {
    this.#layout = layout
    this.#blockSize = blockSize
    this.#direct = new DirectIO(blockSize, direct)
  }

  /**
   * Write a block's whole content at its place in the object's file. A
   * block shorter than the block size has its region zeroed past its end
   * where the file already extends (an older version, or a block dropped
   * without its bytes: dropBlocks): only zeros may follow it. Zeroed, not
   * cut: a concurrent write of a later block may be extending the file.
   */
  write (id: string, index: number, data: Uint8Array): void {
    const path = this.#layout.dataPath(id)
    if (this.#direct.fits(0, data.byteLength) && this.#direct.write(flags => this.#openForWrite(path, flags), data, index * this.#blockSize)) return
    const fd = this.#openForWrite(path)
    try {
      writeAll(fd, data, index * this.#blockSize)
      if (data.byteLength < this.#blockSize) this.#zeroRest(fd, index, data.byteLength)
    } finally {
      closeSync(fd)
    }
  }

  /** Zero block `index` from byte `from` to its end, where the file holds bytes (a shrink's last block). */
  zeroFrom (id: string, index: number, from: number): void {
    const fd = openIfExists(this.#layout.dataPath(id), fsc.O_WRONLY)
    if (fd === undefined) return
    try {
      this.#zeroRest(fd, index, from)
    } finally {
      closeSync(fd)
    }
  }

  #zeroRest (fd: number, index: number, from: number): void {
    const base = index * this.#blockSize
    const end = Math.min(fstatSync(fd).size, base + this.#blockSize)
    if (end <= base + from) return
    this.#zeros ??= new Uint8Array(this.#blockSize)
    writeAll(fd, this.#zeros.subarray(0, end - base - from), base + from)
  }

  #openForWrite (path: string, flags = fsc.O_WRONLY | fsc.O_CREAT): number {
    try {
      return openSync(path, flags, 0o600)
    } catch (err) {
      if (!isENOENT(err)) throw err
      // First file in this fan-out directory.
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 })
      return openSync(path, flags, 0o600)
    }
  }

  /**
   * Up to `length` bytes from `offset` in block `index`, in a fresh
   * ArrayBuffer of exactly the bytes read (it is transferred between
   * threads, so it must own its memory).
   */
  read (id: string, index: number, offset: number, length: number): Uint8Array {
    const buf = new Uint8Array(length)
    const got = this.readInto(id, index, offset, length, buf)
    return got === length ? buf : buf.slice(0, got)
  }

  /**
   * `read` into the start of `into`; the byte count, short where the file
   * ends. A missing file reads as empty: a row can outlive its file only in
   * a race with a truncate or a reclaim, where zeros are a correct answer.
   */
  readInto (id: string, index: number, offset: number, length: number, into: Uint8Array): number {
    const path = this.#layout.dataPath(id)
    const from = index * this.#blockSize + offset
    if (this.#direct.fits(offset, length)) {
      const n = this.#direct.read(flags => openIfExists(path, flags), into, from)
      if (n !== undefined) return n
    }
    const fd = openIfExists(path, fsc.O_RDONLY)
    if (fd === undefined) return 0
    try {
      let got = 0
      while (got < length) {
        const n = readSync(fd, into, got, length - got, from + got)
        if (n === 0) break
        got += n
      }
      return got
    } finally {
      closeSync(fd)
    }
  }

  /**
   * Cut the object's file to `size` bytes if it is longer (a shrink: the
   * blocks past it and the tail of the last one); at 0 the file goes.
   */
  cut (id: string, size: number): void {
    if (size === 0) {
      this.remove(id)
      return
    }
    const fd = openIfExists(this.#layout.dataPath(id), fsc.O_WRONLY)
    if (fd === undefined) return
    try {
      if (fstatSync(fd).size > size) ftruncateSync(fd, size)
    } finally {
      closeSync(fd)
    }
  }

  /** Delete the object's file; already gone is fine (removal is retried by reclaim and fsck). */
  remove (id: string): void {
    try {
      unlinkSync(this.#layout.dataPath(id))
    } catch (err) {
      if (!isENOENT(err)) throw err
    }
  }

  /**
   * fsync the given objects' files, then the directories holding them: a
   * new file's directory entry is durable only once its directory is synced.
   */
  fsync (ids: Iterable<string>): void {
    const dirs = new Set<string>()
    for (const id of new Set(ids)) {
      if (fsyncPath(this.#layout.dataPath(id))) dirs.add(this.#layout.dataDir(id))
    }
    if (dirs.size === 0) return
    for (const dir of dirs) fsyncPath(dir)
    // A fan-out directory may itself be new.
    fsyncPath(this.#layout.blocks)
  }
}

/** fsync a file or directory; false if it does not exist (deleted since it was written: nothing to make durable). */
export function fsyncPath (path: string): boolean {
  const fd = openIfExists(path, fsc.O_RDONLY)
  if (fd === undefined) return false
  try {
    fsyncSync(fd)
    return true
  } finally {
    closeSync(fd)
  }
}
