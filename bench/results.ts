// The JSON record of one run: every raw figure, so later tooling (charts,
// comparisons across commits) never has to rerun anything.
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import type { GoalResult } from './goals.ts'
import type { Latency } from './latency.ts'
import type { TargetGroup } from './targets/types.ts'
import type { Wakeups } from './wakeup.ts'
import type { Sizes, Unit } from './workloads/types.ts'

export const SCHEMA = 'objfs-bench/3'

/** One timed step on one target in one repeat. */
export interface Sample {
  workload: string
  family: string
  step: string
  unit: Unit
  /** Bytes moved, operations or reads done, files handled. */
  amount: number
  target: string
  /** 1-based. */
  repeat: number
  seconds: number
  wallSeconds: number
  engine: string
  /** utime+stime the daemon spent during the step; null for in-kernel targets or when unknown. */
  daemonCpuSeconds: number | null
  /** Whether caches were dropped first; null when the step does not ask for it. */
  coldCache: boolean | null
  /** Peak resident memory of the daemon during the step (sampled); null without a daemon. */
  daemonRssMaxBytes: number | null
  /** Why the figure does not mean what it should (see StepOutcome.invalid); absent when valid. */
  invalid?: string
  /** Quantiles of single calls in microseconds; absent for steps that time only the whole. */
  latencyUs?: Latency
  /** CPU seconds of the daemon's busiest thread during the step (proc.ts); absent where daemonCpuSeconds is null. */
  busiestThreadCpuSeconds?: number
}

export interface TargetRecord {
  name: string
  /** Compared with the subject of its group only. */
  group: TargetGroup
  /**
   * not-run: could not be set up. failed: a remount after a failed workload
   * did not come up, so later workloads have no figures. A failed workload
   * alone leaves the target 'ok': see `failures`.
   */
  status: 'ok' | 'not-run' | 'failed'
  reason?: string
  detail?: string
  /** Every daemon process it had, remounts included. */
  daemonPids?: number[]
  /** Peak resident memory of its daemon over the run, sampled every 200 ms; null without a daemon. */
  rssMaxBytes?: number | null
}

/** A workload failed on a target; its other repeats there are skipped and the target is remounted. */
export interface Failure {
  target: string
  workload: string
  /** The step that failed (in its timed run or its untimed set-up), or 'prepare' / 'cleanup'. */
  step: string
  repeat: number
  message: string
}

export interface RunRecord {
  schema: typeof SCHEMA
  startedAt: string
  finishedAt: string
  /** Stopped by SIGINT/SIGTERM: the figures are partial. */
  interrupted: boolean
  argv: string[]
  options: {
    quick: boolean
    repeats: number
    sizes: Sizes
    targets: string[]
    workloads: string[]
    /** Each group's subject, compared with the other targets of its group. */
    subjects: Record<TargetGroup, string>
    objfsOpts: string
    s3Bucket: string
    /** `--timeout` in ms, or null for each step's own default. */
    timeoutMs: number | null
    /** Of the generated fixtures. */
    seed: number
    rssBudgetBytes: number
  }
  /** What was generated, for reading the figures (files per second of what). */
  fixtures: {
    tree?: { files: number, bytes: number, dirs: number, topDirs: number }
    repo?: { commits: number, files: number }
  }
  host: {
    hostname: string
    kernel: string
    cpus: number
    cpuModel: string
    memBytes: number
    node: string
    fio: string | null
    /** bench/wakeup.ts before and after the run; null where it could not run. Absent from older records. */
    wakeups?: { before: Wakeups | null, after: Wakeups | null }
  }
  targets: TargetRecord[]
  samples: Sample[]
  failures: Failure[]
  warnings: string[]
  /** Issue 3's goals evaluated on this run's figures. */
  goals: GoalResult[]
}

export function writeRecord (path: string, record: RunRecord): void {
  mkdirSync(dirname(path), { recursive: true })
  writeFileSync(path, JSON.stringify(record, null, 2) + '\n')
}

/** 2025-01-31T12-00-00Z: sortable, and no colons in file names. */
export const fileStamp = (d: Date): string => d.toISOString().replace(/\.\d+Z$/, 'Z').replaceAll(':', '-')
