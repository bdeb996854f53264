// Open file and directory handles (fh values given to the kernel).
// Main thread only. fh values are never reused within a mount.
import { FsError, errno as E } from '../errors.ts'
import type { DirEntry } from '../store/types.ts'
import type { Inode } from './table.ts'

export interface FileHandle {
  kind: 'file'
  inode: Inode
  flags: number
}

export interface DirHandle {
  kind: 'dir'
  inode: Inode
  /** The listing read so far, in store order; entry i has readdir offset i + 3 ("." and ".." take 1 and 2). */
  entries: DirEntry[]
  /** The table epoch at which each page was read, by the index of its first entry. */
  pages: Array<{ first: number, readAt: number }>
  /** Store cursor for the next page; null when the listing is complete. */
  cursor: string | null
  complete: boolean
  /** One page fetch at a time per handle. */
  loading: Promise<void> | undefined
}

export type Handle = FileHandle | DirHandle

/** A directory handle before its first page is read. */
export function dirHandle (inode: Inode): DirHandle {
  return { kind: 'dir', inode, entries: [], pages: [], cursor: null, complete: false, loading: undefined }
}

/**
 * fh values say their kind (odd: directory) and carry the serving process's
 * generation above bit 32, so a process the keeper started after a crash
 * can rebuild a handle the kernel got from its predecessor (restore) and
 * never issues one of that predecessor's values again.
 */
const GENERATION = 2 ** 32

export class Handles {
  readonly #open = new Map<number, Handle>()
  #next = 1
  readonly #base: number

  constructor (generation = 0) {
    this.#base = generation * GENERATION
  }

  get size (): number {
    return this.#open.size
  }

  add (h: Handle): number {
    const fh = this.#base + this.#next++ * 2 + (h.kind === 'dir' ? 1 : 0)
    this.#open.set(fh, h)
    return fh
  }

  has (fh: number): boolean {
    return this.#open.has(fh)
  }

  /** Rebuild a handle a previous serving process gave the kernel; a directory's listing is read again. */
  restore (fh: number, inode: Inode): Handle {
    const h: Handle = fh % 2 === 1
      ? dirHandle(inode)
      : { kind: 'file', inode, flags: 0 }
    this.#open.set(fh, h)
    return h
  }

  file (fh: number): FileHandle {
    const h = this.#open.get(fh)
    if (h === undefined || h.kind !== 'file') throw new FsError(E.EBADF, `bad file handle ${fh}`)
    return h
  }

  dir (fh: number): DirHandle {
    const h = this.#open.get(fh)
    if (h === undefined || h.kind !== 'dir') throw new FsError(E.EBADF, `bad directory handle ${fh}`)
    return h
  }

  remove (fh: number): Handle | undefined {
    const h = this.#open.get(fh)
    this.#open.delete(fh)
    return h
  }

  all (): IterableIterator<Handle> {
    return this.#open.values()
  }
}
