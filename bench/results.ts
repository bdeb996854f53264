// The JSON record of one run: every raw figure, so later tooling (charts,
// comparisons across commits) never has to rerun anything.
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import type { Sizes } from './workloads/types.ts'

export const SCHEMA = 'objfs-bench/1'

/** One timed step on one target in one repeat. */
export interface Sample {
  workload: string
  family: string
  step: string
  unit: 'bytes' | 'ops'
  /** Bytes moved or operations done. */
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
}

export interface TargetRecord {
  name: string
  /** not-run: could not be set up. failed: set up, then a step failed or hung (torn down at once). */
  status: 'ok' | 'not-run' | 'failed'
  reason?: string
  detail?: string
  daemonPids?: number[]
}

export interface Failure {
  target: string
  workload: string
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
    subject: string
    objfsOpts: string
    /** `--timeout` in ms, or null for each step's own default. */
    timeoutMs: number | null
  }
  host: {
    hostname: string
    kernel: string
    cpus: number
    cpuModel: string
    memBytes: number
    node: string
    fio: string | null
  }
  targets: TargetRecord[]
  samples: Sample[]
  failures: Failure[]
  warnings: string[]
}

export function writeRecord (path: string, record: RunRecord): void {
  mkdirSync(dirname(path), { recursive: true })
  writeFileSync(path, JSON.stringify(record, null, 2) + '\n')
}

/** 2025-01-31T12-00-00Z: sortable, and no colons in file names. */
export const fileStamp = (d: Date): string => d.toISOString().replace(/\.\d+Z$/, 'Z').replaceAll(':', '-')
