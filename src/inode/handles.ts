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

export class Handles {
  readonly #open = new Map<number, Handle>()
  #next = 1

  get size (): number {
    return this.#open.size
  }

  add (h: Handle): number {
    const fh = this.#next++
    this.#open.set(fh, h)
    return fh
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
