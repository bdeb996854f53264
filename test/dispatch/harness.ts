// The daemon minus /dev/fuse: an Fs around a LocalStore in a temp dir
// (directly, or behind the worker pool), a Dispatcher whose replies land
// here, and checks of the protocol's rules on every request: `done` called
// exactly once, at most one reply per unique, a reply's len equal to its bytes.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import { Coalescer } from '../../src/blocks/coalesce.ts'
import { errnoName } from '../../src/errors.ts'
import { defaults, type Config } from '../../src/config.ts'
import { Handles } from '../../src/inode/handles.ts'
import { InodeTable, type Inode } from '../../src/inode/table.ts'
import { setLogLevel } from '../../src/log.ts'
import type { Fs, Store } from '../../src/ops/context.ts'
import { Dispatcher } from '../../src/ops/dispatch.ts'
import { reclaim } from '../../src/ops/entry.ts'
import { OpStats } from '../../src/ops/stats.ts'
import { LocalStore } from '../../src/store/local/store.ts'
import type { ObjectAttr, ObjectId, ObjectStore, StoreConfig } from '../../src/store/types.ts'
import { PooledStore } from '../../src/workers/pool.ts'
import { FUSE_BATCH_FORGET, FUSE_FORGET, FUSE_INTERRUPT, parseReply, type Reply, type Request } from './kernel.ts'

// Failures are the point of many requests here; OBJFS_TEST_LOG=debug shows them.
setLogLevel(process.env.OBJFS_TEST_LOG ?? 'silent')

export interface HarnessOptions {
  /** Serve through a PooledStore with this many worker threads instead of the LocalStore itself. */
  threads?: number
  blockSize?: number
  config?: Partial<Config>
  /** Fill the store before serving (runs on a LocalStore instance). */
  prepare?: (store: ObjectStore, root: ObjectAttr) => Promise<void>
}

/** What the fake kernel saw of one request. */
interface Sent {
  req: Request
  done: number
  replies: Reply[]
  /** Resolves on the first reply. */
  replied: Promise<Reply>
  onReply: (r: Reply) => void
}

const NO_REPLY_OPS = new Set([FUSE_FORGET, FUSE_BATCH_FORGET])
const REPLY_TIMEOUT_MS = 10_000

const tick = async (): Promise<void> => await new Promise(resolve => setImmediate(resolve))

export class Harness {
  readonly fs: Fs
  readonly store: Store
  readonly dispatcher: Dispatcher
  readonly stats: OpStats
  readonly dir: string
  /** Every reply, in the order written. */
  readonly replies: Reply[] = []
  /** Broken protocol rules, each in a sentence; a test asserts this stays empty. */
  readonly problems: string[] = []
  readonly #sent = new Map<number, Sent>()

  private constructor (fs: Fs, store: Store, dir: string) {
    this.fs = fs
    this.store = store
    this.dir = dir
    this.stats = new OpStats()
    this.dispatcher = new Dispatcher(fs, parts => this.#receive(parts), this.stats)
  }

  static async create (opts: HarnessOptions = {}): Promise<Harness> {
    const dir = mkdtempSync(join(tmpdir(), 'objfs-dispatch-'))
    const storeConfig: StoreConfig = { url: `local:${join(dir, 'store')}`, blockSize: opts.blockSize ?? 4096, readOnly: false, create: true, options: {} }
    const local = await LocalStore.open(storeConfig)
    const root = await local.root()
    if (opts.prepare !== undefined) await opts.prepare(local, root)
    let store: Store = local
    if (opts.threads !== undefined) {
      await local.close()
      store = new PooledStore({ threads: opts.threads, setup: { store: { ...storeConfig, create: false } }, blockSize: local.blockSize, capabilities: local.capabilities })
    }
    const config: Config = { ...defaults(), source: join(dir, 'store'), mountpoint: '/nowhere', ...opts.config }
    // As the daemon does: the local store's inos are the nodeids.
    const table: InodeTable = new InodeTable(root, { reclaim: id => { void reclaim(fs, id) } }, { inoNodeids: store.capabilities.inoNodeids })
    const coalescer = new Coalescer(store, store.blockSize, config.dirtyLimit, {
      settled: inode => table.settle(inode as Inode),
    })
    const handles = new Handles()
    const fs: Fs = {
      store,
      table,
      handles,
      coalescer,
      config,
      negotiated: { writebackCache: false, readdirplus: true, posixAcl: false, setxattrExt: false },
      stats: () => ({ inodes: table.size, handles: handles.size, dirtyBytes: coalescer.dirtyBytes }),
    }
    return new Harness(fs, store, dir)
  }

  /**
   * Hand a request to the dispatcher the way Session.serve does: a view of
   * a shared slot and a `done` that frees it. The slot is scribbled over on
   * `done`, as the reader would reuse it, so a handler that keeps a view of
   * the request past `done` reads garbage and the test sees it.
   */
  submit (req: Request): Sent {
    if (this.#sent.has(req.unique)) throw new Error(`unique ${req.unique} sent twice`)
    let onReply: (r: Reply) => void = () => {}
    const replied = new Promise<Reply>(resolve => { onReply = resolve })
    const s: Sent = { req, done: 0, replies: [], replied, onReply }
    this.#sent.set(req.unique, s)
    const slot = new Uint8Array(new SharedArrayBuffer(req.bytes.byteLength + 64))
    slot.set(req.bytes)
    const done = (): void => {
      s.done++
      if (s.done > 1) this.problems.push(`done() called ${s.done} times for unique ${req.unique} (opcode ${req.opcode})`)
      slot.fill(0xa5)
    }
    try {
      this.dispatcher.handle(slot.subarray(0, req.bytes.byteLength), done)
    } catch (err) {
      this.problems.push(`handle() threw for unique ${req.unique} (opcode ${req.opcode}): ${String(err)}`)
    }
    return s
  }

  /**
   * One request, answered: resolves with its reply, or with null for a
   * request the kernel expects no reply to (FORGET, BATCH_FORGET, and an
   * INTERRUPT whose target is known) once the handler is done.
   */
  async roundTrip (req: Request): Promise<Reply | null> {
    return await this.answer(this.submit(req))
  }

  async answer (s: Sent): Promise<Reply | null> {
    const { req } = s
    const silent = NO_REPLY_OPS.has(req.opcode) || req.opcode === FUSE_INTERRUPT
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`no ${silent ? 'completion' : 'reply'} for unique ${req.unique} (opcode ${req.opcode}) within ${REPLY_TIMEOUT_MS} ms`)), REPLY_TIMEOUT_MS)
    })
    try {
      if (!silent) await Promise.race([s.replied, timeout])
      else {
        while (s.done === 0) await Promise.race([tick(), timeout])
        // A reply, if one comes, is written right after done().
        await tick()
      }
    } finally {
      clearTimeout(timer)
    }
    await tick()
    if (s.done !== 1) this.problems.push(`done() called ${s.done} times for unique ${req.unique} (opcode ${req.opcode})`)
    if (NO_REPLY_OPS.has(req.opcode) && s.replies.length > 0) this.problems.push(`opcode ${req.opcode} (unique ${req.unique}) was answered; the kernel expects no reply`)
    return s.replies[0] ?? null
  }

  /** The reply body of a request that must succeed; throws with the errno otherwise. */
  async ok (req: Request, what = `opcode ${req.opcode}`): Promise<Uint8Array> {
    const r = await this.roundTrip(req)
    if (r === null) throw new Error(`${what}: no reply`)
    if (r.errno !== 0) throw new Error(`${what}: failed with ${errnoName(r.errno)}`)
    return r.body
  }

  /** The errno a request is answered with (0 for success). */
  async errno (req: Request): Promise<number> {
    const r = await this.roundTrip(req)
    if (r === null) throw new Error(`opcode ${req.opcode}: no reply`)
    return r.errno
  }

  /**
   * Wait up to 5 s for the store to no longer have `id`: a reclaim runs
   * unawaited after the inode's drop, and the store frees in batches.
   * Whether it went.
   */
  async reclaimed (id: ObjectId): Promise<boolean> {
    const until = Date.now() + 5_000
    for (;;) {
      if (!await this.store.getattr(id).then(() => true, () => false)) return true
      if (Date.now() > until) return false
      await new Promise(resolve => setTimeout(resolve, 10))
    }
  }

  /** How many replies a unique got so far. */
  repliesTo (unique: number): number {
    return this.#sent.get(unique)?.replies.length ?? 0
  }

  #receive (parts: Uint8Array[]): void {
    // writev: the parts are one write.
    let n = 0
    for (const p of parts) n += p.byteLength
    const bytes = new Uint8Array(n)
    let at = 0
    for (const p of parts) { bytes.set(p, at); at += p.byteLength }
    let r: Reply
    try {
      r = parseReply(bytes)
    } catch (err) {
      this.problems.push(`unparsable reply: ${String(err)}`)
      return
    }
    if (r.len !== n) this.problems.push(`reply to ${r.unique} says len ${r.len} but is ${n} bytes`)
    this.replies.push(r)
    const s = this.#sent.get(r.unique)
    if (s === undefined) {
      this.problems.push(`reply to unique ${r.unique}, which was never sent`)
      return
    }
    s.replies.push(r)
    if (s.replies.length > 1) this.problems.push(`unique ${r.unique} (opcode ${s.req.opcode}) answered ${s.replies.length} times`)
    s.onReply(r)
  }

  async close (): Promise<void> {
    await this.fs.coalescer.drain()
    await this.store.close()
    rmSync(this.dir, { recursive: true, force: true })
  }
}

/** Run `body` against a fresh harness, closed afterwards; the harness is returned for checks. */
export async function usingHarness (body: (h: Harness) => Promise<void>, opts: HarnessOptions = {}): Promise<Harness> {
  const h = await Harness.create(opts)
  try {
    await body(h)
  } finally {
    await h.close()
  }
  return h
}

/**
 * Run `body` against a fresh harness, closed afterwards; then no protocol
 * rule may have been broken and nothing may be left in flight.
 */
export async function withHarness (t: Test, body: (h: Harness) => Promise<void>, opts: HarnessOptions = {}): Promise<void> {
  const h = await usingHarness(body, opts)
  t.same(h.problems, [], 'no protocol rule broken')
  t.equal(h.dispatcher.inFlight, 0, 'nothing left in flight')
}

