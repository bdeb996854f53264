// The serving daemon, composed: store -> worker pool -> inode table and
// coalescer -> dispatcher -> FUSE session. Lifecycle, in order: stop
// reading, drain in-flight work, flush buffered data, close the pool,
// unmount; each phase idempotent.
import {
  FUSE_ASYNC_READ, FUSE_ATOMIC_O_TRUNC, FUSE_AUTO_INVAL_DATA, FUSE_BIG_WRITES, FUSE_CACHE_SYMLINKS, FUSE_DO_READDIRPLUS,
  FUSE_HANDLE_KILLPRIV_V2, FUSE_MAX_PAGES, FUSE_PARALLEL_DIROPS, FUSE_READDIRPLUS_AUTO, FUSE_WRITEBACK_CACHE,
} from './channel/abi.ts'
import { mountFuse, setReadahead } from './channel/mount.ts'
import { Session } from './channel/session.ts'
import { forceUnmount } from './channel/unmount.ts'
import { Coalescer } from './blocks/coalesce.ts'
import type { Config } from './config.ts'
import { Handles } from './inode/handles.ts'
import { InodeTable } from './inode/table.ts'
import { logger } from './log.ts'
import { closeMetrics, serveMetrics } from './metrics/server.ts'
import { daemonSnapshot } from './metrics/snapshot.ts'
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
  /** Resolves with the exit status once the filesystem is unmounted and everything is stored. */
  done: Promise<number>
  /** Flush and unmount (SIGINT, SIGTERM, objfs umount). */
  shutdown: () => Promise<void>
}

export function storeConfigOf (config: Config): StoreConfig {
  return { url: parseSource(config.source).url, blockSize: config.blockSize, readOnly: config.readOnly, create: !config.readOnly, options: config.storeOptions }
}

/** Mount and serve; resolves once the mount is live (INIT answered). */
export async function startDaemon (config: Config): Promise<Daemon> {
  checkOpTable()
  const startedAt = Date.now()
  const storeConfig = storeConfigOf(config)
  // Open once here: creates the store on first mount, and refuses a bad one
  // before anything is mounted. Workers open their own instances.
  const local = await openStore(storeConfig)
  const { blockSize, capabilities } = local
  const root = await local.root()
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
  })
  const stats = new OpStats()
  let session: Session | undefined
  let inFlight = (): number => 0
  const table: InodeTable = new InodeTable(root, { reclaim: id => { void reclaim(fs, id) } })
  const coalescer = new Coalescer(store, blockSize, config.dirtyLimit, {
    settled: inode => table.settle(inode as never),
    pressure: over => session?.setPaused(over),
  })
  const fs: Fs = {
    store,
    table,
    handles: new Handles(),
    coalescer,
    config,
    negotiated: { writebackCache: false, readdirplus: false },
    stats: () => snapshot(),
  }
  const snapshot = () => daemonSnapshot({
    config, startedAt, ops: stats, store, coalescer, inodes: () => table.size, handles: () => fs.handles.size, inFlight: () => inFlight(),
  })
  // Before mounting: a port in use fails the mount with nothing mounted.
  const metrics = config.metricsPort === undefined ? undefined : await serveMetrics(config.metricsPort, snapshot)

  const fd = await mountFuse({
    source: config.fsname ?? config.source,
    mountpoint: config.mountpoint,
    subtype: 'objfs',
    allowOther: config.allowOther,
    defaultPermissions: config.defaultPermissions,
    readOnly: config.readOnly,
    flags: config.mountFlags,
  })
  session = new Session(fd, {
    maxWrite: MAX_WRITE,
    slots: config.slots,
    wantFlags: FUSE_ASYNC_READ | FUSE_ATOMIC_O_TRUNC | FUSE_BIG_WRITES | FUSE_MAX_PAGES | FUSE_DO_READDIRPLUS |
      FUSE_READDIRPLUS_AUTO | FUSE_PARALLEL_DIROPS | FUSE_AUTO_INVAL_DATA | FUSE_HANDLE_KILLPRIV_V2 | FUSE_CACHE_SYMLINKS |
      (config.writebackCache ? FUSE_WRITEBACK_CACHE : 0),
    wantFlags2: 0,
    maxReadahead: config.maxReadahead,
    maxBackground: Math.max(16, config.slots),
  })
  let negotiated
  try {
    negotiated = await session.init()
  } catch (err) {
    await forceUnmount(config.mountpoint).catch(() => {})
    throw err
  }
  fs.negotiated = {
    writebackCache: (negotiated.flags & FUSE_WRITEBACK_CACHE) !== 0,
    readdirplus: (negotiated.flags & FUSE_DO_READDIRPLUS) !== 0,
  }
  if (!setReadahead(config.mountpoint, config.maxReadahead)) log.warn({ bytes: config.maxReadahead }, 'could not set the read-ahead window')
  const live = session
  const dispatcher = new Dispatcher(fs, parts => live.send(parts), stats)
  inFlight = () => dispatcher.inFlight
  log.info({ source: config.source, mountpoint: config.mountpoint, blockSize, workers: config.workers, metricsPort: config.metricsPort }, 'mounted')

  let unmounting: Promise<void> | undefined
  const shutdown = async (): Promise<void> => {
    unmounting ??= (async () => {
      // Store buffered data while the kernel can still send the last requests.
      await coalescer.drain()
      const how = await forceUnmount(config.mountpoint, { log: m => log.warn(m) })
      log.info({ how }, 'unmount requested')
    })()
    await unmounting
  }

  const done = (async (): Promise<number> => {
    const errno = await live.serve((bytes, release) => dispatcher.handle(bytes, release), () => dispatcher.inFlight === 0 && store.queued === 0)
    log.info({ errno }, 'connection closed; storing buffered data')
    // Requests in flight still answer into a closed device (ignored), and
    // their data lands in the store before the pool closes.
    while (dispatcher.inFlight > 0) await new Promise(resolve => setTimeout(resolve, 10))
    await coalescer.drain()
    await store.close()
    closeMetrics(metrics)
    log.info('stopped')
    return 0
  })()
  return { done, shutdown }
}
