// Stores on read-only media: a read-only bind mount, a snapshot, a disk
// mounted ro. Such a store opens read-only or not at all, with a reason.
import { accessSync, constants, statSync } from 'node:fs'
import { pathToFileURL } from 'node:url'
import { ConfigError } from '../../errors.ts'
import type { Layout } from './layout.ts'

/** Why this process cannot write in `dir`, or undefined when it can. */
export function notWritable (dir: string): string | undefined {
  try {
    accessSync(dir, constants.W_OK)
    return undefined
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EROFS') return 'on a read-only filesystem'
    if (code === 'EACCES' || code === 'EPERM') return 'not writable by this user'
    throw err
  }
}

/**
 * What SQLite opens for a store it cannot write next to. In WAL mode even a
 * reader needs to create the -shm file, which read-only media refuse;
 * `immutable` reads the database file alone. That is right only when no
 * committed transaction waits in a -wal file (a store not closed cleanly):
 * such a store must be opened read-write once first.
 */
export function readOnlyDatabase (layout: Layout): URL {
  let wal = 0
  try {
    wal = statSync(`${layout.db}-wal`).size
  } catch {}
  if (wal > 0) throw new ConfigError(`the store at ${layout.dir} was not closed cleanly and cannot be recovered on read-only media; mount it read-write once`)
  const url = pathToFileURL(layout.db)
  url.searchParams.set('immutable', '1')
  return url
}
