// A workload is a short sequence of timed steps run in one directory of a
// target, with untimed prepare and cleanup around them.

export interface Sizes {
  /** Size of the sequential I/O file. */
  fileBytes: number
  /** Number of files in the metadata workload. */
  fileCount: number
}

export interface StepContext {
  /** The workload's own directory inside the target. */
  dir: string
  sizes: Sizes
  /** Kill timeout of one step; every step runs in a child process. */
  timeoutMs: number
  /** Aborted on Ctrl-C. */
  signal: AbortSignal
}

export interface StepOutcome {
  /** The figure that goes into the tables: time of the work itself, without process start-up. */
  seconds: number
  /** Spawn-to-exit time of the child, kept in the JSON to judge the overhead. */
  wallSeconds: number
  /** What did the work, e.g. "fio-3.33" or "node". */
  engine: string
}

export interface Step {
  /** Unique across workloads: "seq-write", "files-stat". */
  name: string
  /** "bytes": the rate column is MiB/s; "ops": operations per second. */
  unit: 'bytes' | 'ops'
  amount: (sizes: Sizes) => number
  /** Drop page, dentry and inode caches first, so the step reaches the filesystem. */
  coldCache: boolean
  /** Default kill timeout for these sizes (`--timeout` overrides it). */
  timeoutMs: (sizes: Sizes) => number
  /** Rejects with StepFailed. */
  run: (ctx: StepContext) => Promise<StepOutcome>
}

export interface Workload {
  /** The name `--workloads` uses. */
  name: string
  /** Workloads of a family share a chart (bench issue 3): "throughput", "metadata". */
  family: string
  steps: Step[]
  /** Untimed, before the steps: make `ctx.dir`. */
  prepare: (ctx: StepContext) => Promise<void>
  /** Untimed, after the steps (also after a failed one): remove `ctx.dir`. */
  cleanup: (ctx: StepContext) => Promise<void>
}

/** A step or its prepare/cleanup failed; the message is one line for the table. */
export class StepFailed extends Error {}
