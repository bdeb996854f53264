// The one place where failures become errno values for the kernel.
import { constants } from 'node:os'

const E = constants.errno

/** Error codes of objfs's own, prefixed like undici's UND_ERR_*. */
export type ObjfsErrorCode =
  | 'OBJFS_ERR_FS'         // a filesystem-level failure carrying an errno
  | 'OBJFS_ERR_CONFIG'     // bad option, bad URL: one line to the user, exit 2
  | 'OBJFS_ERR_STORE'      // the store failed in a way the caller sees as EIO
  | 'OBJFS_ERR_PROTOCOL'   // the kernel sent something we cannot decode

/** A failure that maps to a specific errno. Thrown by stores and ops alike. */
export class FsError extends Error {
  readonly errno: number
  readonly code: ObjfsErrorCode
  constructor (errno: number, message?: string, code: ObjfsErrorCode = 'OBJFS_ERR_FS') {
    // ENOENT, EEXIST and friends are answers, not accidents, and some come
    // with every lookup: capturing a stack for each showed in CPU profiles.
    const limit = Error.stackTraceLimit
    Error.stackTraceLimit = 0
    super(message ?? errnoName(errno))
    Error.stackTraceLimit = limit
    this.errno = errno
    this.code = code
    this.name = 'FsError'
  }
}

/** A configuration error: printed as one line, exit status 2. */
export class ConfigError extends Error {
  readonly code = 'OBJFS_ERR_CONFIG'
  override name = 'ConfigError'
}

export const fsError = (errno: number, message?: string): FsError => new FsError(errno, message)

const names = new Map<number, string>(Object.entries(E).map(([k, v]) => [v, k]))
export const errnoName = (errno: number): string => names.get(errno) ?? `errno ${errno}`

/**
 * Map anything thrown to a positive errno. Unknown failures are EIO: the
 * caller gets an honest "the storage failed", never a hang.
 */
export function toErrno (err: unknown): number {
  if (err instanceof FsError) return err.errno
  // A store that cannot be opened on a full disk (a worker thread opening
  // its instance): the caller must see ENOSPC, and the pool tries again once
  // room is freed. Other reasons stay EIO: the call did not fail for them.
  if (err instanceof ConfigError && err.cause !== undefined) {
    const cause = toErrno(err.cause)
    return cause === E.ENOSPC || cause === E.EDQUOT ? cause : E.EIO
  }
  if (typeof err === 'object' && err !== null) {
    const e = err as { errno?: unknown, code?: unknown, name?: unknown }
    // A result union crossing from a worker carries the number only.
    if (typeof e.errno === 'number' && e.errno > 0 && names.has(e.errno)) return e.errno
    // Node's fs errors carry a negative errno and a string code.
    if (typeof e.code === 'string') {
      switch (e.code) {
        case 'ENOENT': return E.ENOENT
        case 'ENOSPC': return E.ENOSPC  // host disk full: the caller must see it, not EIO
        case 'EDQUOT': return E.EDQUOT
        case 'EROFS': return E.EROFS
        case 'EACCES': return E.EIO     // the store's own files unreadable: a store fault, not the caller's permission
        case 'EMFILE': case 'ENFILE': return E.EIO
        case 'ABORT_ERR': return E.EINTR
        case 'ERR_SQLITE_ERROR': return sqliteErrno(err)
      }
    }
    if (e.name === 'AbortError') return E.EINTR
  }
  return E.EIO
}

/** SQLite's primary result code: the low byte of an extended one (SQLITE_IOERR_WRITE is 778). */
const sqlitePrimary = (err: object): number => ((err as { errcode?: number }).errcode ?? 1) & 0xff

function sqliteErrno (err: object): number {
  const code = sqlitePrimary(err)
  // SQLITE_FULL (13): the database file could not grow.
  if (code === 13) return E.ENOSPC
  // SQLITE_READONLY (8)
  if (code === 8) return E.EROFS
  return E.EIO
}

// The SQLite codes that say the storage failed, not the statement: BUSY,
// LOCKED, NOMEM, READONLY, IOERR, CORRUPT, FULL, CANTOPEN.
const SQLITE_STORE_FAULTS = new Set([5, 6, 7, 8, 10, 11, 13, 14])

/**
 * A failure no rule of toErrno foresaw: a bug, worth its stack in the log.
 * A host error (it carries an errno) or a SQLite store fault is the
 * store's trouble, already an errno for the caller.
 */
export function isBug (err: unknown): boolean {
  if (!(err instanceof Error) || err instanceof FsError) return false
  if ('errno' in err || err.name === 'AbortError') return false
  if ((err as { code?: unknown }).code === 'ERR_SQLITE_ERROR') return !SQLITE_STORE_FAULTS.has(sqlitePrimary(err))
  return true
}

export { E as errno }
