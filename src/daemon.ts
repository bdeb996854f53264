// The serving daemon, composed: store -> worker pool -> inode table and
// coalescer -> dispatcher -> FUSE session. Lifecycle, in order: stop
// reading, drain in-flight work, flush buffered data, close the pool,
// unmount; each phase idempotent.
import {
  FUSE_ASYNC_READ, FUSE_ATOMIC_O_TRUNC, FUSE_AUTO_INVAL_DATA, FUSE_BIG_WRITES, FUSE_CACHE_SYMLINKS, FUSE_DO_READDIRPLUS, FUSE_DONT_MASK,
  FUSE_HANDLE_KILLPRIV_V2, FUSE_HAS_RESEND_FLAGS2, FUSE_MAX_PAGES, FUSE_PARALLEL_DIROPS, FUSE_POSIX_ACL, FUSE_READDIRPLUS_AUTO, FUSE_SETXATTR_EXT, FUSE_WRITEBACK_CACHE,
} from './channel/abi.ts'
import { allowedCpus, bindServingThread, placementOf } from './channel/cpus.ts'
import { mountFuse, mountRequestOf, setReadahead } from './channel/mount.ts'
import { DETACHED, Session, type Negotiation, type SessionOptions } from './channel/session.ts'
import { Notifier } from './channel/notify.ts'
import { connectionOf, ensureFusectl, forceUnmount, type Connection } from './channel/unmount.ts'
import { Coalescer } from './blocks/coalesce.ts'
import type { Config } from './config.ts'
import { Handles } from './inode/handles.ts'
import { InodeTable } from './inode/table.ts'
import { logger } from './log.ts'
import { closeMetrics, serveMetrics } from './metrics/server.ts'
import { daemonSnapshot } from './metrics/snapshot.ts'
import { NO_RESEND_ENV } from './keeper/protocol.ts'
import { closeTakeoverState, openTakeoverState, takeoverPath } from './keeper/takeover.ts'
import type { Fs } from './ops/context.ts'
import { Dispatcher } from './ops/dispatch.ts'
import { reclaim } from './ops/entry.ts'
import { OpStats } from './ops/stats.ts'
import { checkOpTable } from './ops/table.ts'
import { openStore, parseSource } from './store/registry.ts'
import type { StoreConfig } from './store/types.ts'
import { PooledStore } from './workers/pool.ts'

const log = logger('daemon')

const MAX_WRITE = 1024 * 1024

export interface Daemon {
  /**
   * Resolves once the filesystem is unmounted (or, after handover(), once
   * this process let go of the connection) and everything is stored.
   */
  done: Promise<{ status: number, detached: boolean }>
  /** Flush and unmount (SIGINT, SIGTERM, objfs umount). */
  shutdown: () => Promise<void>
  /** Let go of the connection for the next serving process (graceful upgrade): drain, store, stop. */
  handover: () => void
  /** What INIT settled, for the keeper to hand to the next process. */
  negotiation: Negotiation
  /**
   * On a kernel that cannot resend (before 7.40): the uniques of the
   * requests this process read and has not answered, as a range, so that
   * after a crash the keeper can answer them with an error instead of
   * leaving their callers blocked. Undefined where the kernel resends.
   */
  unanswered: (() => { low: number, high: number }) | undefined
}

/** A connection held by the keeper (src/keeper): mounted already, and initialised unless this is its first process. */
export interface Takeover {
  fd: number
  /** Serving processes before this one on the connection. */
  generation: number
  /** INIT as the first process settled it; undefined for the first process, which answers INIT. */
  negotiation?: Negotiation
  /** The connection as fusectl names it, for a process after the first. */
  connection?: Connection
  /** The first process: once the store is open (bad input refused), have the keeper mount; INIT follows. Resolves with the connection. */
  mounted?: () => Promise<Connection | undefined>
}

/**
 * The fd this process serves, and its connection as fusectl names it. A
 * keeper's: mounted by the keeper for its first process. Ours (no
 * keeper): to unmount when stopped, as after `umount -l` another mount may
 * be at the path; fusectl first, as the keeper does, since what tells ours
 * from a later connection with the same id is its directory there.
 */
async function connect (config: Config, takeover: Takeover | undefined): Promise<{ fd: number, connection: Connection | undefined }> {
  if (takeover !== undefined) {
    const connection = takeover.negotiation !== undefined ? takeover.connection : await takeover.mounted?.()
    return { fd: takeover.fd, connection }
  }
  const fd = await mountFuse(mountRequestOf(config))
  await ensureFusectl(msg => log.warn(msg))
  return { fd, connection: connectionOf(config.mountpoint) ?? undefined }
}

export function storeConfigOf (config: Config): StoreConfig {
  return { url: parseSource(config.source).url, blockSize: config.blockSize, readOnly: config.readOnly, create: !config.readOnly, options: config.storeOptions }
}

/**
 * Mount and serve, or serve a connection the keeper holds; resolves once
 * the mount is live (INIT answered, or the connection taken over).
 */
export async function startDaemon (config: Config, takeover?: Takeover): Promise<Daemon> {
  checkOpTable()
  const startedAt = Date.now()
  const resumed = takeover?.negotiation !== undefined
  // First: a serve_cpu this process may not use is refused before anything is opened.
  const placement = placementOf(config.serveCpu, await allowedCpus())
  // The keeper spawns the serving process itself: its pid is our parent's.
  const keeper = process.ppid
  const storeConfig: StoreConfig = { ...storeConfigOf(config), takeover: takeover === undefined ? undefined : { keeper, resumed } }
  // Open once here: creates the store on first mount, and refuses a bad one
  // before anything is mounted. Workers open their own instances.
  const local = await openStore({ ...storeConfig, serving: config.inlineMeta && config.groupCommit })
  const { blockSize, capabilities } = local
  const root = await local.root()
  // Under a keeper: the journal and nodeid log a predecessor left, replayed before anything is served.
  const kept = takeover === undefined ? undefined : await openTakeoverState(config, local, resumed, keeper)
  const inline = (config.inlineMeta && capabilities.stableIds) || capabilities.inlineOnly === true
  if (!inline) await local.close()

  const store = new PooledStore({
    threads: config.workers,
    setup: { store: { ...storeConfig, create: false } },
    blockSize,
    capabilities,
    inline: inline ? local : undefined,
    inlineIoBytes: config.inlineIo,
    inlineOnly: capabilities.inlineOnly === true,
    maxRead: MAX_WRITE,
  })
  const stats = new OpStats()
  let session: Session | undefined
  let inFlight = (): number => 0
  const table: InodeTable = new InodeTable(root, { reclaim: id => { void reclaim(fs, id) } }, { inoNodeids: capabilities.inoNodeids, resumed, generation: takeover?.generation, log: kept?.nodeidLog })
  const coalescer = new Coalescer(store, blockSize, config.dirtyLimit, {
    settled: inode => table.settle(inode as never),
  }, { journal: kept?.journal, direct: capabilities.blockWrites })
  const fs: Fs = {
    store,
    table,
    handles: new Handles(takeover?.generation ?? 0),
    coalescer,
    config,
    negotiated: { writebackCache: false, readdirplus: false, posixAcl: false, setxattrExt: false },
    stats: () => snapshot(),
  }
  const snapshot = () => daemonSnapshot({
    config, startedAt, ops: stats, store, coalescer, inodes: () => table.size, handles: () => fs.handles.size, inFlight: () => inFlight(),
    repliesByReader: () => session?.repliesByReader ?? 0,
    servingMoves: () => session?.servingMoves ?? 0,
  })
  // Before mounting: a port in use fails the mount with nothing mounted, and
  // leaves no journal behind (an empty segment would keep its directory).
  const metrics = config.metricsPort === undefined
    ? undefined
    : await serveMetrics(config.metricsPort, snapshot).catch(err => { closeTakeoverState(kept); throw err })

  const { fd, connection } = await connect(config, takeover)
  session = new Session(fd, { ...sessionOptionsOf(config), readerCpus: placement?.reader, followCpus: placement?.follow === true ? placement.all : undefined })
  let negotiated: Negotiation
  if (takeover?.negotiation !== undefined) {
    negotiated = takeover.negotiation
    const resend = session.resume(negotiated)
    log.info({ generation: takeover.generation, resend }, resend
      ? 'took over the connection; the kernel resends what the previous process left unanswered'
      : 'took over the connection; this kernel cannot resend what the previous process left unanswered')
  } else {
    try {
      negotiated = await session.init()
    } catch (err) {
      // The keeper unmounts a connection it holds itself.
      if (takeover === undefined) await forceUnmount(config.mountpoint, { connection }).catch(() => {})
      throw err
    }
  }
  fs.negotiated = {
    writebackCache: (negotiated.flags & FUSE_WRITEBACK_CACHE) !== 0,
    readdirplus: (negotiated.flags & FUSE_DO_READDIRPLUS) !== 0,
    posixAcl: (negotiated.flags & FUSE_POSIX_ACL) !== 0 && (negotiated.flags & FUSE_DONT_MASK) !== 0,
    setxattrExt: (negotiated.flags & FUSE_SETXATTR_EXT) !== 0,
  }
  if (!resumed && !setReadahead(config.mountpoint, config.maxReadahead)) log.warn({ bytes: config.maxReadahead }, 'could not set the read-ahead window')
  const live = session
  // Objects changed by other clients: the kernel's copies go, by notifications from a thread of their own (channel/notify.ts).
  const notifier = inline && local.onStale !== undefined ? new Notifier(fd) : undefined
  if (notifier !== undefined) local.onStale?.(e => { notifier.stale(table.byId(e.id)?.nodeid, table.byId(e.parent)?.nodeid, e.name, e.gone) }, 1000 * Math.max(config.entryTimeout, config.attrTimeout))
  const dispatcher = new Dispatcher(fs, parts => live.send(parts), stats)
  inFlight = () => dispatcher.inFlight
  const sink = (bytes: Uint8Array, release: () => void): void => dispatcher.handle(bytes, release)
  const path = kept === undefined
    ? undefined
    : takeoverPath(fs, kept, sink, { resumed, resends: (negotiated.flags2 & FUSE_HAS_RESEND_FLAGS2) !== 0 })
  const adopter = path?.adopter
  const handle = path?.handle ?? sink
  log.info({ source: config.source, mountpoint: config.mountpoint, blockSize, workers: config.workers, metricsPort: config.metricsPort }, 'mounted')

  let unmounting: Promise<void> | undefined
  const shutdown = async (): Promise<void> => {
    unmounting ??= (async () => {
      // Store buffered data while the kernel can still send the last requests.
      await coalescer.drain()
      const how = await forceUnmount(config.mountpoint, { log: m => log.warn(m), connection })
      log.info({ how }, 'unmount requested')
    })()
    await unmounting
  }

  // Last, once every long-lived thread is started: a thread inherits the
  // CPUs of the thread that starts it, and the other threads keep all of them.
  if (placement !== undefined) {
    try {
      bindServingThread(placement)
      live.servingBound(placement.serving[0])
    } catch (err) {
      log.warn({ err: (err as Error).message, cpus: placement.serving }, 'could not give the serving thread a CPU of its own')
    }
  }

  const done = (async (): Promise<{ status: number, detached: boolean }> => {
    const errno = await live.serve(handle, () => dispatcher.inFlight === 0 && store.queued === 0, () => store.tidy())
    const detached = errno === DETACHED
    log.info({ errno }, detached ? 'handing the connection over; storing buffered data' : 'connection closed; storing buffered data')
    // Requests in flight still answer (into a closed device after an
    // unmount, ignored), and their data lands in the store before the pool closes.
    while (dispatcher.inFlight > 0) await new Promise(resolve => setTimeout(resolve, 10))
    await coalescer.drain()
    notifier?.close()
    closeTakeoverState(kept)
    await store.close()
    closeMetrics(metrics)
    if (adopter !== undefined) log.info({ nodeids: adopter.nodeids, handles: adopter.handles }, 'taken over from the previous process')
    log.info(detached ? 'handed over' : 'stopped')
    return { status: 0, detached }
  })()
  return { done, shutdown, handover: () => live.detach(), negotiation: negotiated, unanswered: path?.unanswered }
}

/** What INIT asks of the kernel, from the mount options. */
export function sessionOptionsOf (config: Config): SessionOptions {
  return {
    maxWrite: MAX_WRITE,
    slots: config.slots,
    wantFlags: FUSE_ASYNC_READ | FUSE_ATOMIC_O_TRUNC | FUSE_BIG_WRITES | FUSE_MAX_PAGES |
      FUSE_PARALLEL_DIROPS | FUSE_AUTO_INVAL_DATA | FUSE_HANDLE_KILLPRIV_V2 | FUSE_CACHE_SYMLINKS |
      (config.readdirplus ? FUSE_DO_READDIRPLUS | FUSE_READDIRPLUS_AUTO : 0) |
      (config.writebackCache ? FUSE_WRITEBACK_CACHE : 0) |
      // The kernel checks the ACLs (with default_permissions, which this
      // turns on) and leaves the umask to us: a default ACL replaces it.
      (config.acl ? FUSE_POSIX_ACL | FUSE_DONT_MASK | FUSE_SETXATTR_EXT : 0),
    // Only to learn whether the kernel can resend after a takeover. Test-only,
    // like OBJFS_FAULTS: not asked, as on a kernel before Linux 6.9, which cannot resend.
    wantFlags2: process.env[NO_RESEND_ENV] === '1' ? 0 : FUSE_HAS_RESEND_FLAGS2,
    maxReadahead: config.maxReadahead,
    maxBackground: Math.max(16, config.slots),
    readerSpinUs: config.readerSpin,
  }
}
