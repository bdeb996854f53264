// nodeid <-> object id, with the kernel's lookup counts.
//
// Owned by the main thread and mutated only in synchronous stretches, never
// across an await: that is what keeps the mapping consistent while many
// requests are in flight (STYLE habit 10).
//
// A nodeid is issued when a reply first names an object; every entry reply
// (lookup, create, mkdir, mknod, symlink, link, readdirplus) adds one lookup
// and FORGET / BATCH_FORGET take them back. At zero the mapping is dropped,
// so a walk over a million files does not grow the table without bound.
// nodeids are never reused, so no generation number is needed. With a store
// whose inos are never reused either (the local store), the nodeid is the
// ino: a serving process restarted by the keeper resolves the nodeids the
// kernel still holds by asking the store (adopt).
import { FsError, errno as E } from '../errors.ts'
import type { ObjectAttr, ObjectId } from '../store/types.ts'
import type { DirtyFile } from '../blocks/coalesce.ts'
import type { NodeidLog } from './nodeid-log.ts'

export const ROOT_NODEID = 1

export class Inode {
  readonly nodeid: number
  id: ObjectId
  /** Outstanding kernel references (the sum of entry replies minus forgets). */
  lookups = 0
  /** Open handles and in-flight work that must outlive a FORGET. */
  pins = 0
  /** The store's latest attributes; size is overridden by `dirty` while data is buffered. */
  attr: ObjectAttr
  /** Buffered writes not yet stored (main thread only). */
  dirty: DirtyFile | undefined
  /**
   * Created here, on a store no one else changes, and no extended attribute
   * set since: GETXATTR and LISTXATTR are answered without the store. The
   * kernel asks for security.capability before the first write to a file.
   */
  xattrFree = false
  /** All names are gone: the object is reclaimed when the inode is dropped. */
  unlinked = false
  /** The table's epoch when a change made here last set `attr`. */
  changedAt = 0
  /**
   * Taken over from a previous serving process (the keeper restarted us):
   * the kernel's lookup count is unknown, so the object is never reclaimed
   * from here; the next fresh mount reclaims it if it is an orphan.
   */
  adopted = false

  constructor (nodeid: number, attr: ObjectAttr) {
    this.nodeid = nodeid
    this.id = attr.id
    this.attr = attr
  }

  /** The size readers must see: buffered data counts at once. */
  get size (): number {
    return this.dirty?.size ?? this.attr.size
  }
}

export interface InodeTableEvents {
  /** An unlinked object lost its last reference: free it in the store. */
  reclaim: (id: ObjectId) => void
}

export interface InodeTableOptions {
  /** nodeid = the store's ino (never reused, resolvable by the store): nodeids outlive the process. */
  inoNodeids?: boolean
  /** Serving a connection taken over from a crashed or upgraded process. */
  resumed?: boolean
  /** Where nodeids that are not inos are recorded, for the process that may take over from this one. */
  log?: NodeidLog
  /**
   * Serving processes before this one on the connection: sequential
   * nodeids start past every value its predecessors can have issued, so
   * the kernel never sees one nodeid name two objects.
   */
  generation?: number
}

export class InodeTable {
  readonly #byNodeid = new Map<number, Inode>()
  readonly #byId = new Map<ObjectId, Inode>()
  readonly #events: InodeTableEvents
  #next = ROOT_NODEID + 1
  #epoch = 0
  readonly #inoNodeids: boolean
  readonly #log: NodeidLog | undefined
  /** nodeids a previous process issued for objects this one knows under another nodeid. */
  readonly #aliases = new Map<number, Inode>()
  /** Objects this process did not see referenced may still be held by the kernel. */
  readonly resumed: boolean

  constructor (root: ObjectAttr, events: InodeTableEvents, opts: InodeTableOptions = {}) {
    this.#events = events
    this.#inoNodeids = opts.inoNodeids === true && root.ino === ROOT_NODEID
    this.resumed = opts.resumed === true
    this.#log = this.#inoNodeids ? undefined : opts.log
    this.#next = (opts.generation ?? 0) * 2 ** 32 + ROOT_NODEID + 1
    const inode = new Inode(ROOT_NODEID, root)
    // The kernel never forgets the root; one permanent reference keeps it.
    inode.lookups = 1
    this.#byNodeid.set(ROOT_NODEID, inode)
    this.#byId.set(root.id, inode)
  }

  get size (): number {
    return this.#byNodeid.size
  }

  /** The inode for a nodeid the kernel sent; ESTALE if we never issued it or it was forgotten. */
  get (nodeid: number): Inode {
    const inode = this.#byNodeid.get(nodeid) ?? this.#aliases.get(nodeid)
    if (inode === undefined) throw new FsError(E.ESTALE, `unknown nodeid ${nodeid}`)
    return inode
  }

  find (nodeid: number): Inode | undefined {
    return this.#byNodeid.get(nodeid) ?? this.#aliases.get(nodeid)
  }

  byId (id: ObjectId): Inode | undefined {
    return this.#byId.get(id)
  }

  /**
   * A ticket for a store read about to start: attributes it returns are
   * applied by `ref` and `updateAttr` only if no change made by this mount
   * completed meanwhile. A getattr that read the size before a buffered
   * write was stored, and answered after, set the old size back (a model
   * test in CI: fstat 20480 bytes after writing 22648).
   */
  get epoch (): number {
    return this.#epoch
  }

  /** An entry reply names `attr`: issue or reuse its nodeid and count the reference. */
  ref (attr: ObjectAttr, readAt?: number): Inode {
    let inode = this.#byId.get(attr.id)
    if (inode === undefined) {
      inode = new Inode(this.#inoNodeids ? attr.ino : this.#next++, attr)
      this.#byNodeid.set(inode.nodeid, inode)
      this.#byId.set(attr.id, inode)
      this.#log?.issued(inode.nodeid, attr.id)
    } else {
      this.updateAttr(inode, attr, readAt)
    }
    inode.lookups++
    return inode
  }

  /**
   * A nodeid the kernel got from a previous serving process, resolved by
   * the store (ino = nodeid) or by its nodeid log. Its lookup count starts
   * at zero: FORGETs clamp, and the inode is dropped like any other but
   * never reclaimed. An object this process already knows under another
   * nodeid gets the old one as an alias, so it stays one inode.
   */
  adopt (attr: ObjectAttr, nodeid = attr.ino): Inode {
    const known = this.#byId.get(attr.id)
    if (known !== undefined) {
      if (known.nodeid !== nodeid) this.#aliases.set(nodeid, known)
      return known
    }
    const inode = new Inode(nodeid, attr)
    inode.adopted = true
    this.#byNodeid.set(inode.nodeid, inode)
    this.#byId.set(attr.id, inode)
    this.#log?.issued(inode.nodeid, attr.id)
    return inode
  }

  /** Whether nodeids are inos, which the store resolves. */
  get inoNodeids (): boolean {
    return this.#inoNodeids
  }

  /** Take back a reference that never reached the kernel (a reply that could not be sent). */
  unref (inode: Inode): void {
    this.forget(inode.nodeid, 1)
  }

  /**
   * Attributes from the store: the result of a change (no `readAt`), or of
   * a read that started at epoch `readAt`, which a change completed since
   * then supersedes. The buffered size stays authoritative either way.
   */
  updateAttr (inode: Inode, attr: ObjectAttr, readAt?: number): void {
    if (readAt !== undefined && inode.changedAt > readAt) return
    inode.attr = attr
    if (readAt === undefined) inode.changedAt = ++this.#epoch
  }

  forget (nodeid: number, nlookup: number): void {
    if (nodeid === ROOT_NODEID) return
    if (this.#aliases.delete(nodeid)) {
      this.#log?.dropped(nodeid)
      return
    }
    const inode = this.#byNodeid.get(nodeid)
    if (inode === undefined) return
    inode.lookups = Math.max(0, inode.lookups - nlookup)
    this.#maybeDrop(inode)
  }

  pin (inode: Inode): void {
    inode.pins++
  }

  unpin (inode: Inode): void {
    inode.pins--
    this.#maybeDrop(inode)
  }

  #maybeDrop (inode: Inode): void {
    if (inode.lookups > 0 || inode.pins > 0 || inode.dirty !== undefined) return
    this.#byNodeid.delete(inode.nodeid)
    if (this.#byId.get(inode.id) === inode) this.#byId.delete(inode.id)
    this.#log?.dropped(inode.nodeid)
    if (inode.unlinked && !inode.adopted) this.#events.reclaim(inode.id)
  }

  /** The inode's dirty data was just stored and its attributes set from the store's answer. */
  settle (inode: Inode): void {
    inode.changedAt = ++this.#epoch
    if (this.#byNodeid.get(inode.nodeid) === inode) this.#maybeDrop(inode)
  }

  /**
   * A rename changed identities (stores whose ids are keys): `from` became
   * `to`, and with `subtree` every id below `from/` moved below `to/`.
   */
  rekey (from: ObjectId, to: ObjectId, subtree: boolean): void {
    const move = (inode: Inode, id: ObjectId): void => {
      this.#byId.delete(inode.id)
      inode.id = id
      inode.attr = { ...inode.attr, id }
      this.#byId.set(id, inode)
    }
    const moved: Array<[Inode, ObjectId]> = []
    const direct = this.#byId.get(from)
    if (direct !== undefined) moved.push([direct, to])
    if (subtree) {
      const prefix = from.endsWith('/') ? from : `${from}/`
      const target = to.endsWith('/') ? to : `${to}/`
      for (const [id, inode] of this.#byId) {
        if (id.startsWith(prefix)) moved.push([inode, (target + id.slice(prefix.length)) as ObjectId])
      }
    }
    if (moved.length === 0) return
    for (const [inode, id] of moved) move(inode, id)
    // Only nodeids the kernel holds need it: an unlink on S3 rekeys, mostly nothing.
    this.#log?.rekeyed(from, to, subtree)
  }
}
