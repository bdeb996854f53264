// A target is a way to get a directory for workloads to run in, and to take
// it away again: a kernel tmpfs, a FUSE peer (bindfs), objfs itself.

export interface TargetEnv {
  /** Parent directory of the scratch dirs (mountpoints, backing stores). */
  workdir: string
  /** `-o` options for objfs, passed through untouched. */
  objfsOpts: string
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

export interface Target {
  name: string
  /** Rejects with NotRunnable (one-line reason) when the target cannot run here. */
  setup: (env: TargetEnv) => Promise<Mounted>
}

/** The target cannot run on this machine; the reason goes into the table. */
export class NotRunnable extends Error {}
