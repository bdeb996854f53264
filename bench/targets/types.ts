// A target is a way to get a directory for workloads to run in, and to take
// it away again: a kernel tmpfs, a FUSE peer (bindfs), objfs itself.

export interface TargetEnv {
  /** Parent directory of the scratch dirs (mountpoints, backing stores). */
  workdir: string
  /** `-o` options for objfs, passed through untouched. */
  objfsOpts: string
  /** The bucket the S3 targets share, each below a prefix of its own. */
  s3Bucket: string
  /** Killed on Ctrl-C: a setup in progress gives up. */
  signal: AbortSignal
  log: (msg: string) => void
}

export interface Mounted {
  /** Directory the workloads run in (the mountpoint). */
  dir: string
  /**
   * Processes whose CPU time is charged to the target (the FUSE daemon);
   * empty for in-kernel filesystems.
   */
  daemonPids: number[]
  /** How it was mounted, for the JSON record. */
  detail: string
  /** Unmounts and removes scratch dirs. Idempotent, never throws, bounded in time. */
  teardown: () => Promise<void>
}

/**
 * Targets are compared within their group: 'local' keeps its data in a
 * directory of this machine's disk, 's3' in one bucket of an S3 engine.
 */
export type TargetGroup = 'local' | 's3'

export interface Target {
  name: string
  group: TargetGroup
  /**
   * Its steps' kill timeouts are this many times the size-based default (a
   * guard against hangs, not a deadline): S3 clients that send a request per
   * file are that much slower than a local disk. Default 1.
   */
  timeoutScale?: number
  /** Rejects with NotRunnable (one-line reason) when the target cannot run here. */
  setup: (env: TargetEnv) => Promise<Mounted>
}

/** The target cannot run on this machine; the reason goes into the table. */
export class NotRunnable extends Error {}
