// How steps run their child processes: our Node child script, or fio.
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { runChild, describeFailure, findExecutable, type ChildResult } from '../child.ts'
import { parseLatency } from '../latency.ts'
import { StepFailed, type StepContext, type StepOutcome } from './types.ts'

const CHILD = fileURLToPath(new URL('./child.ts', import.meta.url))

/** Run bench/workloads/child.ts on this same Node (24: it runs .ts files). */
export async function nodeChild (ctx: StepContext, args: string[]): Promise<StepOutcome> {
  const r = await runChild(process.execPath, ['--disable-warning=ExperimentalWarning', CHILD, ...args], { timeoutMs: ctx.timeoutMs, signal: ctx.signal })
  if (r.code !== 0) throw new StepFailed(describeFailure(`node child.ts ${args[0]}`, r))
  const out = parseJson(r.stdout, (j) => j as { seconds?: unknown, latencyUs?: unknown })
  const seconds = out?.seconds
  if (typeof seconds !== 'number') throw new StepFailed(`node child.ts ${args[0]}: no timing in output`)
  const latencyUs = parseLatency(out?.latencyUs)
  return { seconds, wallSeconds: r.wallSeconds, engine: 'node', ...(latencyUs === undefined ? {} : { latencyUs }) }
}

let fioVersion: string | null | undefined
/** "fio-3.33", or null when fio is not installed. */
export function fio (): string | null {
  if (fioVersion === undefined) {
    fioVersion = null
    if (findExecutable('fio') !== undefined) {
      try { fioVersion = execFileSync('fio', ['--version'], { encoding: 'utf8' }).trim() } catch {}
    }
  }
  return fioVersion
}

/**
 * One sequential fio job, 1 MiB blocks, synchronous I/O. The figure is fio's
 * own job runtime: it spans the I/O loop and the end_fsync (both live in
 * fio's do_io), not fio's start-up, which costs a few hundred ms here.
 */
export async function fioJob (ctx: StepContext, rw: 'write' | 'read', file: string, bytes: number): Promise<StepOutcome> {
  const { job, r } = await sequentialFio(ctx, rw, `fio ${rw}`, [`--name=seq-${rw}`, `--filename=${file}`, `--size=${bytes}`], bytes)
  // Milliseconds: at 1 ms resolution anything under ~0.1 s loses precision.
  const seconds = job.job_runtime > 0 ? job.job_runtime / 1000 : r.wallSeconds
  return { seconds, wallSeconds: r.wallSeconds, engine: fio() ?? 'fio' }
}

/**
 * `streams` fio jobs at once, each reading or writing a file of its own
 * (`par.0`, `par.1`, ... in `dir`), as fioJob does one. The figure is the
 * group's runtime, which fio reports as its longest job's.
 */
export async function fioStreams (ctx: StepContext, rw: 'write' | 'read', dir: string, bytesEach: number, streams: number): Promise<StepOutcome> {
  const jobArgs = [`--name=streams-${rw}`, `--directory=${dir}`, '--filename_format=par.$jobnum', `--size=${bytesEach}`, `--numjobs=${streams}`, '--group_reporting']
  const { job, r } = await sequentialFio(ctx, rw, `fio ${rw} x${streams}`, jobArgs, bytesEach * streams)
  const seconds = job[rw].runtime > 0 ? job[rw].runtime / 1000 : r.wallSeconds
  return { seconds, wallSeconds: r.wallSeconds, engine: fio() ?? 'fio' }
}

/** Run fio's sequential `rw` in 1 MiB psync blocks with `jobArgs`, checking that it moved `bytes` in all. */
async function sequentialFio (ctx: StepContext, rw: 'write' | 'read', label: string, jobArgs: string[], bytes: number): Promise<{ job: FioJob, r: ChildResult }> {
  if (fio() === null) throw new StepFailed('fio is not installed')
  const args = [
    ...jobArgs, `--rw=${rw}`, '--bs=1M', '--ioengine=psync', '--output-format=json',
    // Measure writes, not fallocate (FUSE daemons may not implement it).
    ...(rw === 'write' ? ['--end_fsync=1', '--fallocate=none'] : []),
  ]
  const r = await runChild('fio', args, { timeoutMs: ctx.timeoutMs, signal: ctx.signal })
  if (r.code !== 0) throw new StepFailed(describeFailure(label, r))
  const job = parseJson(r.stdout, (j) => (j as { jobs?: FioJob[] }).jobs?.[0])
  if (job === undefined) throw new StepFailed(`${label}: no job in JSON output`)
  if (job.error !== 0) throw new StepFailed(`${label}: job error ${job.error}`)
  if (job[rw].io_bytes !== bytes) throw new StepFailed(`${label}: moved ${job[rw].io_bytes} of ${bytes} bytes`)
  return { job, r }
}

/**
 * Random 4 KiB reads through the page cache (buffered, as applications
 * read), psync, for a fixed time; fio's seeded offsets are the same on
 * every target. The figure is fio's job runtime and its count of reads.
 */
export async function fioRandRead (ctx: StepContext, file: string, bytes: number, seconds: number): Promise<StepOutcome> {
  if (fio() === null) throw new StepFailed('fio is not installed')
  const args = [
    '--name=rand-read', `--filename=${file}`, '--rw=randread', '--bs=4k', `--size=${bytes}`,
    '--ioengine=psync', '--time_based', `--runtime=${seconds}s`, '--output-format=json',
  ]
  const r = await runChild('fio', args, { timeoutMs: ctx.timeoutMs, signal: ctx.signal })
  if (r.code !== 0) throw new StepFailed(describeFailure('fio randread', r))
  const job = parseJson(r.stdout, (j) => (j as { jobs?: FioJob[] }).jobs?.[0])
  if (job === undefined) throw new StepFailed('fio randread: no job in JSON output')
  if (job.error !== 0) throw new StepFailed(`fio randread: job error ${job.error}`)
  if (job.read.total_ios === 0 || job.job_runtime === 0) throw new StepFailed('fio randread: no reads completed')
  return { seconds: job.job_runtime / 1000, wallSeconds: r.wallSeconds, engine: fio() ?? 'fio', amount: job.read.total_ios }
}

interface FioJob {
  error: number
  job_runtime: number
  /** `runtime`: ms; with group_reporting, the group's (its longest job's). */
  read: { io_bytes: number, total_ios: number, runtime: number }
  write: { io_bytes: number, runtime: number }
}

// fio may print warnings before its JSON; the document starts at the first "{".
function parseJson<T> (text: string, pick: (json: unknown) => T): T | undefined {
  const start = text.indexOf('{')
  if (start < 0) return undefined
  try {
    return pick(JSON.parse(text.slice(start)))
  } catch {
    return undefined
  }
}
