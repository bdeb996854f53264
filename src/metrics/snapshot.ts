// The daemon's counters as one JSON-able object, built on demand: what the
// objfs.stats xattr returns, what `objfs stats` prints and what the
// Prometheus endpoint renders. Nothing here runs per request.
import type { Config } from '../config.ts'
import type { OpStats, OpStatsSnapshot } from '../ops/stats.ts'
import type { StoreCounters } from '../store/types.ts'
import { events } from './events.ts'

/** Bumped when a field changes meaning; additions keep the number. */
export const SNAPSHOT_VERSION = 1

// A type, not an interface: it must fit Fs.stats's Record<string, unknown>.
export type StatsSnapshot = OpStatsSnapshot & {
  /** FUSE requests being served (the dispatcher's count). */
  inFlight: number
  /** Replies the reader thread wrote for the supervisor (channel/handover.ts): a lone caller's. */
  repliesByReader: number
  /** Times the serving thread moved off a lone caller's CPU (channel/follow.ts). */
  servingMoves: number
  version: number
  pid: number
  source: string
  mountpoint: string
  /** Unix time in seconds the daemon started. */
  startedAt: number
  uptimeSeconds: number
  /** Store calls as the supervisor issued them, and the bytes they moved. */
  store: StoreCounters
  /** Written data buffered in memory, not yet stored, and its budget. */
  dirtyBytes: number
  dirtyLimit: number
  /** Kept from the first format; the same number as pool.queued. */
  poolQueued: number
  pool: {
    /** Store calls waiting for a worker thread. */
    queued: number
    /** Store calls run in the supervisor thread (embedded store metadata, small block I/O). */
    inlineCalls: number
    /** Store calls handed to worker threads. */
    workerCalls: number
  }
  /**
   * objfs keeps no block cache of its own (the kernel's page cache is the
   * read cache, and its hits never reach the daemon). What is counted:
   * reads of a block served from the write buffer (hits) or from the store
   * (misses), and negative entries handed to the kernel to cache.
   */
  cache: {
    writeBufferHits: number
    writeBufferMisses: number
    negativeEntries: number
  }
  inodes: number
  handles: number
}

/** What the snapshot reads; each a live view of the daemon's parts. */
export interface SnapshotSources {
  config: Pick<Config, 'source' | 'mountpoint' | 'dirtyLimit'>
  startedAt: number
  ops: OpStats
  store: { counters: () => StoreCounters, readonly queued: number, readonly calls: { inline: number, worker: number } }
  coalescer: { readonly dirtyBytes: number, readonly limit: number, readonly readHits: number, readonly readMisses: number }
  inodes: () => number
  handles: () => number
  inFlight: () => number
  repliesByReader: () => number
  servingMoves: () => number
}

export function daemonSnapshot (s: SnapshotSources): StatsSnapshot {
  const ops = s.ops.snapshot()
  const now = Date.now()
  return {
    version: SNAPSHOT_VERSION,
    pid: process.pid,
    source: s.config.source,
    mountpoint: s.config.mountpoint,
    startedAt: Math.floor(s.startedAt / 1000),
    uptimeSeconds: Math.max(0, Math.round((now - s.startedAt) / 1000)),
    store: s.store.counters(),
    dirtyBytes: s.coalescer.dirtyBytes,
    dirtyLimit: s.coalescer.limit,
    poolQueued: s.store.queued,
    pool: { queued: s.store.queued, inlineCalls: s.store.calls.inline, workerCalls: s.store.calls.worker },
    cache: {
      writeBufferHits: s.coalescer.readHits,
      writeBufferMisses: s.coalescer.readMisses,
      negativeEntries: events.negativeEntries,
    },
    inodes: s.inodes(),
    handles: s.handles(),
    ...ops,
    inFlight: s.inFlight(),
    repliesByReader: s.repliesByReader(),
    servingMoves: s.servingMoves(),
  }
}
