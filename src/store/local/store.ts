// The embedded store: metadata in SQLite, block data in host files.
// One instance per worker thread; instances share the store through
// SQLite's locking, never through memory.
import { mkdirSync, closeSync, openSync, statfsSync } from 'node:fs'
import { isAbsolute } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { isMainThread } from 'node:worker_threads'
import { ConfigError, FsError, errno as E, toErrno } from '../../errors.ts'
import { logger } from '../../log.ts'
import type {
  BlockWrite, CreateSpec, ListPage, ObjectAttr, ObjectId, ObjectStore, RemoveResult, RenameResult, SetAttr,
  StoreCapabilities, StoreConfig, StoreCounters, StoreStatfs, Timespec,
} from '../types.ts'
import { BlockFiles } from './blocks.ts'
import { Checkpointer } from './checkpoint.ts'
import { parseBlockIO } from './direct.ts'
import { getKind, getRow, lookupRow, transaction, type Ctx } from './context.ts'
import * as data from './data.ts'
import { GROUP_CACHE_KIB, Group } from './group.ts'
import { newToken, register, unregister } from './instances.ts'
import { Inos } from './inos.ts'
import { Layout, inspect } from './layout.ts'
import { notWritable, readOnlyDatabase } from './media.ts'
import * as ns from './namespace.ts'
import { Reclaims } from './reclaims.ts'
import { applyDeadLogs, changesIn, removeLogs } from './recover.ts'
import { RedoLog } from './redo.ts'
import { rename } from './rename.ts'
import { Reserve } from './reserve.ts'
import { NAME_MAX, S_IFLNK, S_IFMT, isDir, rowOf, toAttr } from './rows.ts'
import { configure, initialise, migrate, readMeta } from './schema.ts'
import { prepare } from './statements.ts'
import * as xattr from './xattr.ts'

const log = logger('store')

/** hold()'s release where there is no group: every change is committed already. */
const NOTHING_HELD = (): void => {}

/** The directory of a `local:/abs/path` URL. */
export function localDir (url: string): string {
  const path = url.startsWith('local:') ? url.slice('local:'.length) : url
  if (!isAbsolute(path)) throw new ConfigError(`local store path must be absolute: '${url}'`)
  return path
}

function checkBlockSize (size: number): void {
  if (!Number.isSafeInteger(size) || size < 512) throw new ConfigError(`invalid block size ${size} for a new store`)
}

/**
 * Make the directory and an empty database file for a new store, both
 * private to the owner: file names and xattrs are in the database, and
 * SQLite gives its -wal and -shm files the database file's mode.
 */
function prepareNew (layout: Layout, absent: boolean): void {
  if (absent) mkdirSync(layout.dir, { recursive: true, mode: 0o700 })
  closeSync(openSync(layout.db, 'a', 0o600))
}

/**
 * Run `fn`; if it fails for want of room and `free` made some, run it once
 * more. Every change is one transaction that a failure rolls back, and
 * a retried writeBlocks writes the same bytes to the same places, so the
 * retry starts from where the first began.
 */
function onceMoreIfFreed<T> (fn: () => T, free: () => boolean): T {
  try {
    return fn()
  } catch (err) {
    if (toErrno(err) !== E.ENOSPC || !free()) throw err
    return fn()
  }
}

export class LocalStore implements ObjectStore {
  readonly blockSize: number
  readonly capabilities: StoreCapabilities = { stableIds: true, hardLinks: true, unnamedFiles: true, blockWrites: true, inoNodeids: true, exclusive: true }
  readonly #ctx: Ctx
  readonly #layout: Layout
  readonly #rootId: string
  readonly #readOnly: boolean
  readonly #token = newToken()
  readonly #reclaims: Reclaims
  readonly #checkpointer: Checkpointer | undefined
  readonly #reserve: Reserve | undefined
  /** The serving instance's redo log (group.ts); none elsewhere. */
  #redo: RedoLog | undefined
  readonly #counters: StoreCounters = { readCalls: 0, bytesRead: 0, writeCalls: 0, bytesWritten: 0, metaCalls: 0 }
  #closed = false
  /** Orphans freed in the open group: unlogged, so a rebuild of the group (group.ts) brings their rows back. */
  readonly #freedInGroup = new Set<string>()

  private constructor (ctx: Ctx, layout: Layout, rootId: string, readOnly: boolean, checkpointer: Checkpointer | undefined) {
    this.#ctx = ctx
    this.#checkpointer = checkpointer
    this.#layout = layout
    this.#rootId = rootId
    this.#readOnly = readOnly
    this.blockSize = ctx.blockSize
    // The instance that serves metadata (and so every delete) keeps the reserve.
    this.#reserve = checkpointer === undefined ? undefined : new Reserve(layout.reserve)
    this.#reclaims = new Reclaims(ids => {
      this.#usingReserve(() => { ns.reclaim(ctx, ids) })
      if (ctx.group?.grouping === true) for (const id of ids) this.#freedInGroup.add(id)
    })
  }

  static async open (config: StoreConfig): Promise<LocalStore> {
    const directIO = parseBlockIO(config.options.block_io)
    const layout = new Layout(localDir(config.url))
    const found = inspect(layout.dir)
    const creating = config.create && !config.readOnly
    // A store on read-only media (media.ts) opens read-only or not at all.
    const readOnlyMedia = found === 'absent' ? undefined : notWritable(layout.dir)
    if (readOnlyMedia !== undefined && !config.readOnly) throw new ConfigError(`the store directory ${layout.dir} is ${readOnlyMedia}; mount it with -o ro`)
    if (found !== 'store') {
      if (!creating) throw new ConfigError(`no objfs store at ${layout.dir}`)
      checkBlockSize(config.blockSize)
      try {
        prepareNew(layout, found === 'absent')
      } catch (err) {
        throw new ConfigError(`cannot create a store at ${layout.dir}: ${(err as Error).message}`)
      }
    }
    let db: DatabaseSync
    try {
      db = new DatabaseSync(readOnlyMedia === undefined ? layout.db : readOnlyDatabase(layout), { readOnly: config.readOnly })
    } catch (err) {
      throw new ConfigError(`cannot open the store database ${layout.db}: ${(err as Error).message}`)
    }
    try {
      configure(db, config.readOnly)
      // Idempotent: also completes a creation interrupted before its first commit.
      if (creating) {
        checkBlockSize(config.blockSize)
        initialise(db, layout.dir, config.blockSize)
      }
      const meta = readMeta(db, layout.dir)
      migrate(db, layout, meta.blockSize, config.readOnly)
      // The serving thread's instance does the metadata work: its commits
      // get checkpointed by a thread of their own. Worker instances write
      // little (big blocks) and keep to the autocheckpoint.
      const checkpointer = !config.readOnly && isMainThread ? new Checkpointer(layout.db) : undefined
      // The serving instance groups its changes (group.ts): its writing
      // statements are the redo log's steps.
      let ctx: Ctx | undefined
      const grouped = checkpointer !== undefined && config.serving === true
      const onWrite = !grouped ? undefined : (statement: string, args: unknown[]) => { ctx?.group?.record(statement, args) }
      ctx = { db, st: prepare(db, onWrite), files: new BlockFiles(layout, meta.blockSize, directIO), blockSize: meta.blockSize, inos: new Inos(), committed: checkpointer === undefined ? undefined : () => checkpointer.committed() }
      const store = new LocalStore(ctx, layout, meta.rootId, config.readOnly, checkpointer)
      if (!config.readOnly) store.#startup(config.takeover?.resumed === true, grouped)
      return store
    } catch (err) {
      db.close()
      if (err instanceof ConfigError) throw err
      throw new ConfigError(`cannot open the objfs store at ${layout.dir}: ${(err as Error).message}`, { cause: err })
    }
  }

  /**
   * Apply what dead daemons answered but had not committed (recover.ts; the
   * instance that writes metadata does, which a daemon opens before its
   * workers' instances). Register this instance; reclaim a dead daemon's
   * orphans (see instances.ts), but not after a takeover: the kernel may
   * still hold orphans open through the previous serving process's
   * handles; the next fresh mount reclaims them.
   */
  #startup (keepOrphans: boolean, grouped: boolean): void {
    const { st } = this.#ctx
    // A dead daemon's answered changes come first: they decide what is an orphan.
    let applied: ReturnType<typeof applyDeadLogs> = []
    const orphans = transaction(this.#ctx, () => {
      if (this.#checkpointer !== undefined) applied = applyDeadLogs(st, this.#layout.dir)
      return register(st, this.#token)
    })
    removeLogs(applied)
    const redone = changesIn(applied)
    if (redone > 0) log.info({ changes: redone, logs: applied.length }, 'applied changes a stopped daemon had answered but not committed')
    if (grouped) this.#startGroup()
    if (keepOrphans) return
    // Housekeeping must not make the store unmountable: a batch that fails
    // rejects its promise (nobody waits on it here) and its orphans are
    // still orphans at the next open.
    for (const id of orphans) void this.#reclaims.add(id)
    this.#reclaims.flush()
  }

  /** From here on this instance's changes commit in groups, each first in the redo log. */
  #startGroup (): void {
    const { db, st, committed } = this.#ctx
    db.exec(`PRAGMA cache_size = -${GROUP_CACHE_KIB}`)
    this.#redo = new RedoLog(this.#layout.dir, this.#token)
    let reported = false
    this.#ctx.group = new Group({
      db,
      st,
      log: this.#redo,
      token: this.#token,
      committed: () => {
        this.#freedInGroup.clear()
        committed?.()
      },
      // Not until the next mount: a disk that filled up and rolled the group back must get their room now.
      rebuilt: () => {
        for (const id of this.#freedInGroup) void this.#reclaims.add(id)
        this.#freedInGroup.clear()
      },
      // Deletes answered on a full disk are committed with the reserve, as they were alone.
      room: (commit) => { this.#usingReserve(() => { this.#roomy(commit) }) },
      // Logged once: the commit is tried again every RETRY_MS, the redo log keeping the changes meanwhile.
      failed: (err) => {
        if (!reported) log.error({ err, errno: toErrno(err) }, 'committing a group of changes failed; trying again')
        reported = true
      },
    })
  }

  #meta (): Ctx {
    if (this.#closed) throw new FsError(E.EIO, 'the store is closed')
    this.#counters.metaCalls++
    return this.#ctx
  }

  #mutate (): Ctx {
    if (this.#readOnly) throw new FsError(E.EROFS)
    return this.#meta()
  }

  /** A change, retried once on a full disk after the batch of orphans is freed (#roomy). */
  #change<T> (fn: (ctx: Ctx) => T): T {
    const ctx = this.#mutate()
    return this.#roomy(() => fn(ctx))
  }

  /**
   * Space a user freed (`rm`) is still held while its orphan waits for its
   * batch (reclaims.ts): on ENOSPC, free the batch and try once more.
   */
  #roomy<T> (fn: () => T): T {
    return onceMoreIfFreed(fn, () => this.freeHeld())
  }

  /** A change that frees room: on a full disk it may use the reserve. */
  #freeing<T> (fn: (ctx: Ctx) => T): T {
    const ctx = this.#mutate()
    return this.#usingReserve(() => this.#roomy(() => fn(ctx)))
  }

  /**
   * On ENOSPC, give up the reserve (reserve.ts) and try once more; the
   * reserve is taken back as soon as the disk has room for it.
   */
  #usingReserve<T> (fn: () => T): T {
    const result = onceMoreIfFreed(fn, () => this.#reserve?.release() === true)
    this.#reserve?.refill()
    return result
  }

  /** The room held back is the orphans waiting for their batch. */
  freeHeld (): boolean {
    if (!this.#reclaims.pending) return false
    this.#reclaims.flush()
    return true
  }

  /**
   * The daemon has nothing to do: free the orphans waiting for their batch
   * now, while the client's next request is on its way, instead of in a
   * batch that makes whichever request comes next wait for all of it.
   * Only a waiting batch counts: orphans whose batch failed go with the
   * next one (reclaims.ts), not in every idle moment of a full disk.
   */
  tidy (): boolean {
    if (!this.#reclaims.waiting) return false
    this.#reclaims.flush()
    return true
  }

  get heldFreed (): number {
    return this.#reclaims.flushes
  }

  async root (): Promise<ObjectAttr> {
    return toAttr(getRow(this.#meta().st, this.#rootId))
  }

  async lookup (parent: ObjectId, name: string): Promise<ObjectAttr | null> {
    const { st } = this.#meta()
    if (Buffer.byteLength(name, 'utf8') > NAME_MAX) throw new FsError(E.ENAMETOOLONG)
    const row = lookupRow(st, parent, name)
    if (row !== undefined) return toAttr(row)
    // Only a miss pays for telling "no such name" from "no such directory".
    if (!isDir(getKind(st, parent).mode)) throw new FsError(E.ENOTDIR)
    return null
  }

  async getattr (id: ObjectId): Promise<ObjectAttr> {
    return toAttr(getRow(this.#meta().st, id))
  }

  async byIno (ino: number): Promise<ObjectAttr | null> {
    const a = this.#meta().st.getObjectByIno.get(ino) as unknown[] | undefined
    return a === undefined ? null : toAttr(rowOf(a))
  }

  async list (dir: ObjectId, after: string | null, limit: number): Promise<ListPage> {
    const { st } = this.#meta()
    if (!isDir(getKind(st, dir).mode)) throw new FsError(E.ENOTDIR)
    const n = Math.max(1, Math.floor(limit))
    // One row more than asked tells whether another page follows. Rows: [name, ...object columns].
    const rows = st.list.all(dir, after ?? '', n + 1) as unknown as unknown[][]
    const entries = rows.slice(0, n).map(r => ({ name: r[0] as string, attr: toAttr(rowOf(r, 1)) }))
    return { entries, next: rows.length > n ? entries[n - 1].name : null }
  }

  async create (parent: ObjectId, name: string, spec: CreateSpec): Promise<ObjectAttr> {
    return this.#change(ctx => ns.create(ctx, parent, name, spec))
  }

  async createUnnamed (parent: ObjectId, spec: CreateSpec): Promise<ObjectAttr> {
    return this.#change(ctx => ns.createUnnamed(ctx, parent, spec))
  }

  async link (id: ObjectId, parent: ObjectId, name: string): Promise<ObjectAttr> {
    return this.#change(ctx => ns.link(ctx, id, parent, name))
  }

  async remove (parent: ObjectId, name: string, dir: boolean): Promise<RemoveResult> {
    return this.#freeing(ctx => ns.remove(ctx, parent, name, dir))
  }

  /** Resolves once freed: with others, a few milliseconds later (reclaims.ts). */
  async reclaim (id: ObjectId): Promise<void> {
    this.#mutate()
    await this.#reclaims.add(id)
  }

  async rename (parent: ObjectId, name: string, newParent: ObjectId, newName: string, flags: number): Promise<RenameResult> {
    return this.#freeing(ctx => rename(ctx, parent, name, newParent, newName, flags))
  }

  async setattr (id: ObjectId, changes: SetAttr): Promise<ObjectAttr> {
    // Truncating frees room; other changes must not take the reserve.
    if (changes.size !== undefined) return this.#freeing(ctx => data.setattr(ctx, id, changes))
    return this.#change(ctx => data.setattr(ctx, id, changes))
  }

  async readlink (id: ObjectId): Promise<string> {
    const row = getRow(this.#meta().st, id)
    if ((row.mode & S_IFMT) !== S_IFLNK || row.target === null) throw new FsError(E.EINVAL, 'not a symlink')
    return row.target
  }

  async readBlock (id: ObjectId, index: number, offset: number, length: number): Promise<Uint8Array | null> {
    const bytes = data.readBlock(this.#reader(), id, index, offset, length)
    if (bytes !== null) this.#counters.bytesRead += bytes.byteLength
    return bytes
  }

  async readBlockInto (id: ObjectId, index: number, offset: number, length: number, into: Uint8Array): Promise<number | null> {
    const n = data.readBlockInto(this.#reader(), id, index, offset, length, into)
    if (n !== null) this.#counters.bytesRead += n
    return n
  }

  /** The context for a block read, counted as one (not as a metadata call). */
  #reader (): Ctx {
    if (this.#closed) throw new FsError(E.EIO, 'the store is closed')
    this.#counters.readCalls++
    return this.#ctx
  }

  async writeBlocks (id: ObjectId, blocks: BlockWrite[], minSize: number, mtime: Timespec): Promise<ObjectAttr> {
    if (this.#readOnly) throw new FsError(E.EROFS)
    if (this.#closed) throw new FsError(E.EIO, 'the store is closed')
    this.#counters.writeCalls++
    const attr = this.#roomy(() => data.writeBlocks(this.#ctx, id, blocks, minSize, mtime))
    for (const b of blocks) this.#counters.bytesWritten += b.data.byteLength
    return attr
  }

  async dropBlocks (id: ObjectId, first: number, last: number): Promise<void> {
    this.#freeing(ctx => data.dropBlocks(ctx, id, first, last))
  }

  async seekBlock (id: ObjectId, from: number, limit: number, want: boolean): Promise<number | null> {
    return data.seekBlock(this.#meta(), id, from, limit, want)
  }

  async sync (id: ObjectId): Promise<void> {
    const ctx = this.#meta()
    // A read-only instance wrote nothing there is to make durable.
    if (this.#readOnly) return
    // The group first: the durable commit below makes every earlier commit durable.
    const release = this.hold()
    try {
      this.#roomy(() => { data.sync(ctx, id) })
    } finally {
      release()
    }
  }

  /**
   * Commit the group of changes, and commit each change alone until the
   * returned release: another connection (a worker's call) must see them,
   * and must not wait for the group's write lock.
   */
  hold (): () => void {
    return this.#ctx.group?.hold() ?? NOTHING_HELD
  }

  async getxattr (id: ObjectId, name: string): Promise<Uint8Array> {
    return xattr.getxattr(this.#meta(), id, name)
  }

  async setxattr (id: ObjectId, name: string, value: Uint8Array, flags: number): Promise<void> {
    this.#change(ctx => xattr.setxattr(ctx, id, name, value, flags))
  }

  async listxattr (id: ObjectId): Promise<string[]> {
    return xattr.listxattr(this.#meta(), id)
  }

  async removexattr (id: ObjectId, name: string): Promise<void> {
    this.#freeing(ctx => xattr.removexattr(ctx, id, name))
  }

  async statfs (): Promise<StoreStatfs> {
    const { st } = this.#meta()
    // Space freed by `rm` shows in df at once, not a batch later.
    this.#reclaims.flush()
    const host = statfsSync(this.#layout.dir)
    const objects = (st.countObjects.get() as { n: number }).n
    return {
      bsize: host.bsize,
      blocks: host.blocks,
      bfree: host.bfree,
      bavail: host.bavail,
      // Every object is one row, not one host inode: the host's free inodes
      // bound data files, so they are what we can honestly offer.
      files: objects + host.ffree,
      ffree: host.ffree,
      namelen: NAME_MAX,
    }
  }

  counters (): StoreCounters {
    return { ...this.#counters }
  }

  /** Sync every dirty block and the metadata, deregister, close. Idempotent. */
  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    const { db, st } = this.#ctx
    try {
      if (!this.#readOnly) {
        try {
          // Never released: from here on every change commits alone.
          this.#ctx.group?.hold()
          this.#reclaims.flush()
          data.sync(this.#ctx, null)
        } finally {
          // Even when the sync failed: a row left behind would keep every
          // later open of this process from reclaiming orphans.
          transaction(this.#ctx, () => unregister(st, this.#token))
        }
        // Everything it held is committed (a failed commit threw above and
        // leaves the log to the next open).
        this.#redo?.remove()
      }
    } finally {
      // The writer closes last: the last connection checkpoints and removes the WAL.
      await this.#checkpointer?.close()
      db.close()
    }
  }
}
