// Steps that are real tools (rsync, git, tar, cp, rm): timed from spawn to
// exit, since the tool's own start-up is part of what a user waits for and
// costs the same on every target.
import { describeFailure, findExecutable, runChild, type ChildResult } from '../child.ts'
import { StepFailed, type StepContext, type StepOutcome } from './types.ts'

export interface CommandOptions {
  env?: NodeJS.ProcessEnv
}

/** One command; fails the step unless it exits 0. Returns its stdout for checks. */
export async function command (ctx: StepContext, argv: string[], opts: CommandOptions = {}): Promise<StepOutcome & { stdout: string }> {
  need(argv[0])
  const r = await runChild(argv[0], argv.slice(1), { timeoutMs: ctx.timeoutMs, signal: ctx.signal, env: opts.env })
  if (r.code !== 0) throw new StepFailed(describeFailure(argv[0], r))
  return { seconds: r.wallSeconds, wallSeconds: r.wallSeconds, engine: argv[0], stdout: r.stdout }
}

/**
 * Several commands at once (parallel rsyncs), timed from the first spawn to
 * the last exit. The first failure kills the others: their figure would
 * mean nothing, and a target stuck on one share holds the rest anyway.
 */
export async function parallel (ctx: StepContext, argvs: string[][]): Promise<StepOutcome> {
  for (const argv of argvs) need(argv[0])
  const stop = new AbortController()
  const onAbort = (): void => stop.abort()
  ctx.signal.addEventListener('abort', onAbort, { once: true })
  const t0 = performance.now()
  let failure: string | undefined
  try {
    await Promise.all(argvs.map(async (argv, i) => {
      const r: ChildResult = await runChild(argv[0], argv.slice(1), { timeoutMs: ctx.timeoutMs, signal: stop.signal })
      if (r.code !== 0 && failure === undefined) {
        failure = `${describeFailure(argv[0], r)} (process ${i + 1} of ${argvs.length})`
        stop.abort()
      }
    }))
  } finally {
    ctx.signal.removeEventListener('abort', onAbort)
  }
  const seconds = (performance.now() - t0) / 1000
  if (failure !== undefined) throw new StepFailed(failure)
  return { seconds, wallSeconds: seconds, engine: `${argvs[0][0]} x${argvs.length}` }
}

function need (cmd: string): void {
  if (findExecutable(cmd) === undefined) throw new StepFailed(`${cmd} is not installed`)
}
