// A workload is a short sequence of timed steps run in one directory of a
// target, with untimed prepare and cleanup around them.
import type { FixtureKind, Fixtures } from '../fixtures/index.ts'
import type { RepoSpec } from '../fixtures/repo.ts'
import type { TreeSpec } from '../fixtures/tree.ts'
import type { Latency } from '../latency.ts'

export interface Sizes {
  /** Size of the sequential I/O file, and of the random-read file. */
  fileBytes: number
  /** Number of files in the metadata workload. */
  fileCount: number
  /** The generated tree of rsync, tar-x, cp-a, rm-rf. */
  tree: TreeSpec
  /** The generated repository of git-clone. */
  repo: RepoSpec
  /** Length of the time-based random-read job. */
  randomSeconds: number
}

/** What a step's figure counts: the rate column shows MiB/s, ops/s, files/s or IOPS. */
export type Unit = 'bytes' | 'ops' | 'files' | 'ios'

export interface StepContext {
  /** The workload's own directory inside the target. */
  dir: string
  sizes: Sizes
  /** Kill timeout of one step; every step runs in a child process. */
  timeoutMs: number
  /** Aborted on Ctrl-C. */
  signal: AbortSignal
  /** Host-side inputs; those the workload `needs` are there. */
  fixtures: Fixtures
}

export interface StepOutcome {
  /** The figure that goes into the tables: time of the work itself, without process start-up. */
  seconds: number
  /** Spawn-to-exit time of the child, kept in the JSON to judge the overhead. */
  wallSeconds: number
  /** What did the work, e.g. "fio-3.33" or "node". */
  engine: string
  /** Work done, when only the step knows it (a time-based job); else the step's `amount`. */
  amount?: number
  /** Quantiles of single calls, from steps that time each call. */
  latencyUs?: Latency
  /**
   * The step ran but its result does not mean what it should (a no-change
   * rsync that transferred something): kept, flagged, left out of ratios and goals.
   */
  invalid?: string
}

export interface Step {
  /** Unique across workloads: "seq-write", "files-stat". */
  name: string
  unit: Unit
  /** Bytes, operations or files per run, for the rate column (a time-based step reports its own). */
  amount: (sizes: Sizes) => number
  /** Drop page, dentry and inode caches first, so the step reaches the filesystem. */
  coldCache: boolean
  /** Default kill timeout for these sizes (`--timeout` overrides it). */
  timeoutMs: (sizes: Sizes) => number
  /** Untimed, before caches are dropped and the clock starts: clear the last step's copy, warm host inputs. */
  before?: (ctx: StepContext) => Promise<void>
  /** Rejects with StepFailed. */
  run: (ctx: StepContext) => Promise<StepOutcome>
}

export interface Workload {
  /** The name `--workloads` uses. */
  name: string
  /** Workloads of a family share a chart: "rsync", "tools", "seq", "meta", "random". */
  family: string
  /** Host fixtures generated before the run when this workload is selected. */
  needs: FixtureKind[]
  steps: Step[]
  /** Untimed, before the steps: make `ctx.dir`. */
  prepare: (ctx: StepContext) => Promise<void>
  /** Untimed, after the steps (also after a failed one): remove `ctx.dir`. */
  cleanup: (ctx: StepContext) => Promise<void>
}

/** A step or its prepare/cleanup failed; the message is one line for the table. */
export class StepFailed extends Error {}
