// The ObjectStore contract, in the object storage's own terms.
//
// Every file, directory, symlink and fifo is an object. A child is found by
// (parent id, name). File data is cut into fixed-size blocks addressed by
// (object id, block index). Stores know nothing of nodeids, file handles or
// the kernel; those belong to the daemon.
//
// Identity: `ObjectId` is opaque. In the embedded store it is a UUID that
// never changes. In the S3 store it is the object's key, so a rename changes
// the identity of the renamed object and, for a directory, of everything
// below it; `rename` reports that through `RenameResult` and
// `capabilities.stableIds` is false.
//
// Errors: methods reject with FsError(errno) for conditions the caller must
// see (ENOENT, EEXIST, ENOTEMPTY, ENOTDIR, EISDIR, ENOSPC, ENODATA, ERANGE,
// EXDEV, EPERM...), and with anything else for store faults (mapped to EIO).
//
// Concurrency: several instances of one store (one per worker thread) may
// be open on the same SOURCE at once. Every method must be safe against the
// others; a metadata change is one transaction.

/** Opaque object identity: a UUID in the local store, a key in S3. */
export type ObjectId = string & { readonly __objectId: unique symbol }

export interface Timespec {
  sec: number
  nsec: number
}

/** What the store knows of one object. Times are wall-clock. */
export interface ObjectAttr {
  id: ObjectId
  /** Stable inode number, the st_ino the user sees; never reused while the object exists. */
  ino: number
  /** st_mode including the S_IFMT type bits. */
  mode: number
  nlink: number
  uid: number
  gid: number
  /** Stored size in bytes (a directory reports 0 or a store-defined size). */
  size: number
  rdev: number
  atime: Timespec
  mtime: Timespec
  ctime: Timespec
  /**
   * Bytes of data the store holds for the object, holes left out; st_blocks
   * comes from it. Undefined where the store keeps no holes (S3: a file is
   * one object, written whole): st_blocks then follows the size.
   */
  stored?: number
}

/** One child as listed by `list`, with its attributes (readdirplus needs them). */
export interface DirEntry {
  name: string
  attr: ObjectAttr
  /**
   * Set when the listing did not show the object's own attributes (an S3
   * object whose metadata this mount has not read): `attr` is a guess.
   * readdirplus must not give it to the kernel (nodeid 0, so the kernel
   * looks the name up when it needs attributes), and readdir reports
   * DT_UNKNOWN unless `typeKnown`.
   */
  partial?: { typeKnown: boolean }
}

export interface ListPage {
  entries: DirEntry[]
  /** Pass as `after` for the next page; null when the listing is complete. */
  next: string | null
}

export interface CreateSpec {
  /** st_mode with type bits: S_IFREG, S_IFDIR, S_IFLNK or S_IFIFO (S_IFCHR/S_IFBLK/S_IFSOCK where the store allows). */
  mode: number
  uid: number
  gid: number
  rdev?: number
  /** Symlink target, required for S_IFLNK. */
  target?: string
}

/** Attribute changes; absent fields are left alone. ctime is set to now by any change unless given. */
export interface SetAttr {
  mode?: number      // permission bits only; the type bits are kept
  uid?: number
  gid?: number
  /** Truncate or extend: blocks past the new end are dropped, the tail of the last block reads as zeros. */
  size?: number
  atime?: Timespec
  mtime?: Timespec
  ctime?: Timespec
}

export const RENAME_NOREPLACE = 1
export const RENAME_EXCHANGE = 2

export interface RenameResult {
  /** The object that was at the destination and lost a name (plain replace), as `remove` reports one. */
  replaced?: RemoveResult
  /**
   * Identity changes caused by the rename, for stores whose ids are keys.
   * `subtree` true means every id below `from` moved below `to` as well.
   * Absent in stores with stable ids.
   */
  moved?: Array<{ from: ObjectId, to: ObjectId, subtree: boolean }>
}

export interface RemoveResult {
  id: ObjectId
  /** Link count after the removal; at 0 the object is an orphan until `reclaim`. */
  nlink: number
  /**
   * Stores whose ids are keys: the unlinked object's id from now on, as
   * `id`, its key, is free for a new object. What the store keeps under
   * it for the handles still open is the store's to say (S3: only a file
   * whose bytes are all staged). Absent: the orphan keeps `id`.
   */
  orphan?: ObjectId
}

export interface BlockWrite {
  index: number
  /** At most blockSize bytes; a shorter buffer is the block's content up to its end (the rest reads as zeros). */
  data: Uint8Array
}

export interface StoreStatfs {
  bsize: number
  blocks: number
  bfree: number
  bavail: number
  files: number
  ffree: number
  namelen: number
}

export interface StoreCapabilities {
  /** Ids never change on rename (the local store). */
  stableIds: boolean
  /**
   * Inode numbers are never reused and `byIno` finds an object by its ino:
   * the daemon uses inos as nodeids (root's ino is 1), so they outlive the
   * serving process (the keeper restarts it on the same connection).
   */
  inoNodeids?: boolean
  /** link() works. */
  hardLinks: boolean
  /** createUnnamed() works (O_TMPFILE). */
  unnamedFiles?: boolean
  /** Blocks can be written in place at any index (false for whole-object stores). */
  blockWrites: boolean
  /**
   * Every call must run in the one instance the daemon opens in its main
   * thread, none in worker threads (S3: files being written are staged in
   * that instance, and its I/O is asynchronous network I/O anyway).
   */
  inlineOnly?: boolean
  /**
   * No other client changes the store (the local store, which one daemon
   * holds at a time): what the daemon changed itself, it may know without asking.
   */
  exclusive?: boolean
}

/** Counters a store keeps of its own work, summed over the daemon's instances. */
export interface StoreCounters {
  readCalls: number
  bytesRead: number
  writeCalls: number
  bytesWritten: number
  metaCalls: number
  /** What the store did against its backend, store-specific (S3: requests by operation, bytes fetched and uploaded). */
  backend?: Record<string, number | Record<string, number>>
}

/** An object changed or vanished on the backend, by another client (see ObjectStore.onStale). */
export interface StaleEvent {
  id: ObjectId
  /** The directory holding it, and its name there (what FUSE_NOTIFY_INVAL_ENTRY names). */
  parent: ObjectId
  name: string
  /** true: the name is gone; false: the object's data or attributes changed. */
  gone: boolean
}

export interface ObjectStore {
  /** Fixed for the life of the store; recorded in it at creation. */
  readonly blockSize: number
  readonly capabilities: StoreCapabilities

  /** The root directory. */
  root (): Promise<ObjectAttr>

  /** The child `name` of directory `parent`; null when absent (not an error: negative lookups are normal). */
  lookup (parent: ObjectId, name: string): Promise<ObjectAttr | null>

  /** Attributes by id; ENOENT when the object no longer exists. */
  getattr (id: ObjectId): Promise<ObjectAttr>

  /**
   * The object with inode number `ino`, or null. Stores with
   * `capabilities.inoNodeids` answer it: their inos serve as the kernel's
   * nodeids, so a restarted daemon can resolve the nodeids the kernel holds.
   */
  byIno? (ino: number): Promise<ObjectAttr | null>

  /**
   * Children of `dir` in a stable order, at most `limit`, strictly after the
   * cursor `after` (null for the first page). ENOTDIR on a non-directory.
   */
  list (dir: ObjectId, after: string | null, limit: number): Promise<ListPage>

  /** A new object named `name` in `parent`. EEXIST if the name is taken. */
  create (parent: ObjectId, name: string, spec: CreateSpec): Promise<ObjectAttr>

  /**
   * Optional (capabilities.unnamedFiles): a regular file with no name, made
   * where `parent` is (O_TMPFILE). nlink 0: an orphan until `link` names it,
   * freed by `reclaim` or by a later open like any orphan.
   */
  createUnnamed? (parent: ObjectId, spec: CreateSpec): Promise<ObjectAttr>

  /**
   * A second name for an existing non-directory object; returns its new
   * attributes (nlink+1). An unnamed file gets its first name this way.
   */
  link (id: ObjectId, parent: ObjectId, name: string): Promise<ObjectAttr>

  /**
   * Remove a name. `dir` selects rmdir semantics (ENOTDIR / ENOTEMPTY) versus
   * unlink (EISDIR). An object left with nlink 0 keeps its data until
   * `reclaim`, because open files must stay readable after unlink.
   */
  remove (parent: ObjectId, name: string, dir: boolean): Promise<RemoveResult>

  /** Free an object with no names left. Idempotent; ENOENT-free. */
  reclaim (id: ObjectId): Promise<void>

  /** Rename with RENAME_NOREPLACE / RENAME_EXCHANGE flags, across directories. */
  rename (parent: ObjectId, name: string, newParent: ObjectId, newName: string, flags: number): Promise<RenameResult>

  setattr (id: ObjectId, changes: SetAttr): Promise<ObjectAttr>

  readlink (id: ObjectId): Promise<string>

  /**
   * Bytes [offset, offset+length) of block `index`. null when the block was
   * never written (a hole: zeros). May be shorter than `length` when the
   * stored block is; the caller treats the rest as zeros.
   */
  readBlock (id: ObjectId, index: number, offset: number, length: number): Promise<Uint8Array | null>

  /**
   * Optional: readBlock into `into` (from its start, at least `length`
   * long); the byte count, or null for a hole. A worker fills the reply's
   * pooled buffer with it, with no buffer of its own to allocate and copy.
   */
  readBlockInto? (id: ObjectId, index: number, offset: number, length: number, into: Uint8Array): Promise<number | null>

  /**
   * Store whole blocks, then, in one metadata transaction, point the object
   * at them and raise its size to at least `minSize` and set mtime. A block
   * is on disk before metadata refers to it.
   */
  writeBlocks (id: ObjectId, blocks: BlockWrite[], minSize: number, mtime: Timespec): Promise<ObjectAttr>

  /** Drop whole blocks [first, last] (punch hole); the size is unchanged. */
  dropBlocks (id: ObjectId, first: number, last: number): Promise<void>

  /**
   * The first block index >= `from` that holds data (data true) or is a hole
   * (data false), or null if there is none below `limit`.
   */
  seekBlock (id: ObjectId, from: number, limit: number, data: boolean): Promise<number | null>

  /** Make everything written for `id` durable (fsync semantics). */
  sync (id: ObjectId): Promise<void>

  /**
   * Optional: a writer closed `id` (FLUSH). Whole-object stores
   * (blockWrites false) commit what was written here, at once or soon after
   * (S3: commit_delay, so that a rename right after close moves the file
   * before its only upload). Rejects with the errno of an earlier commit of
   * this file that failed.
   */
  flush? (id: ObjectId): Promise<void>

  /**
   * Optional: free at once the room this instance holds back (the local
   * store frees unlinked files in batches). True if there was any.
   */
  freeHeld? (): boolean

  /**
   * Optional: the daemon is idle; do a little of the work this instance
   * put off (the local store frees orphans). True if it did any, so the
   * caller looks for requests again before doing more.
   */
  tidy? (): boolean

  /**
   * Optional, with freeHeld: how often held room was freed so far, by
   * freeHeld or in due course. A change that failed with ENOSPC in another
   * instance is worth a retry once this moved after the change began.
   */
  readonly heldFreed?: number

  /**
   * Optional: make this instance's changes visible to the store's other
   * instances now (the local store commits its changes in groups), and
   * keep them so until the returned release is called. Called around each
   * call another instance (a worker) makes. Throws if the commit failed.
   */
  hold? (): () => void

  getxattr (id: ObjectId, name: string): Promise<Uint8Array>            // ENODATA when absent
  setxattr (id: ObjectId, name: string, value: Uint8Array, flags: number): Promise<void> // XATTR_CREATE/REPLACE -> EEXIST/ENODATA
  listxattr (id: ObjectId): Promise<string[]>
  removexattr (id: ObjectId, name: string): Promise<void>               // ENODATA when absent

  statfs (): Promise<StoreStatfs>

  counters (): StoreCounters

  /**
   * Optional, for stores other clients change too (S3): call `listener`
   * whenever the store learns that an object it described changed or
   * vanished behind this mount's back, so the daemon can drop the kernel's
   * copy (FUSE_NOTIFY_INVAL_INODE / _ENTRY). `cacheMs` is how long the
   * kernel keeps an answer (entry and attr timeouts): for that long the
   * store keeps checking the names it answered. Returns the unsubscribe.
   */
  onStale? (listener: (e: StaleEvent) => void, cacheMs: number): () => void

  /** Make everything durable and release resources. */
  close (): Promise<void>
}

export const XATTR_CREATE = 1
export const XATTR_REPLACE = 2

/** How a store is opened: parsed from SOURCE and -o options. */
export interface StoreConfig {
  /** The URL as the user gave it, normalised (e.g. "local:/var/lib/objfs/data"). */
  url: string
  /** Block size for a store being created; an existing store keeps its own. */
  blockSize: number
  readOnly: boolean
  /** Create the store if the location is empty or absent. */
  create: boolean
  /** Store-specific options from -o (endpoint=, region=...). */
  options: Record<string, string>
  /**
   * Serving under a keeper (src/keeper): `keeper` is its pid, which marks
   * what this process leaves on local disk for a successor (the S3 store's
   * staged files) and keeps it while the keeper lives; `resumed` when a
   * predecessor served this connection, whose leftovers are taken over
   * (and whose orphans the kernel may still hold open: the embedded store
   * leaves them for the next fresh mount).
   */
  takeover?: { keeper: number, resumed: boolean }
  /**
   * This instance serves the mount in the daemon's thread (the pool's
   * inline instance): the embedded store then commits its changes in
   * groups (local/group.ts), which its other instances see after hold().
   */
  serving?: boolean
}
