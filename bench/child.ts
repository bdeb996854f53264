// Every step that touches a mount runs in a child process with a kill timeout:
// a hung FUSE daemon blocks any process touching its mount, and the harness
// itself must stay free to report and tear down.
import { spawn } from 'node:child_process'
import { accessSync, closeSync, constants, openSync, readFileSync } from 'node:fs'
import { delimiter, join } from 'node:path'

export interface ChildResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  /** Wall-clock seconds from spawn to exit (or to giving up on it). */
  wallSeconds: number
  timedOut: boolean
}

export interface ChildOptions {
  timeoutMs: number
  /** Aborted on Ctrl-C: the child is killed like on a timeout. */
  signal?: AbortSignal
  env?: NodeJS.ProcessEnv
  cwd?: string
  /**
   * Send stdout and stderr to this file instead of pipes, for commands that
   * leave a daemon behind: it inherits a file, not a pipe the harness must
   * keep draining. The file's tail comes back as `stderr`.
   */
  outputFile?: string
  /** Standard input from this file instead of /dev/null (git fast-import). */
  inputFile?: string
}

// After SIGKILL a process blocked on a FUSE request that the daemon already
// read waits until the reply or a connection abort: we stop waiting for it
// after this grace and let the target's forced teardown release it.
const KILL_GRACE_MS = 3000
const EXIT_DRAIN_MS = 300
// Output is for error messages and fio's JSON (a few kB); cap it anyway.
const OUTPUT_CAP = 4 * 1024 * 1024

export function runChild (cmd: string, args: string[], opts: ChildOptions): Promise<ChildResult> {
  return new Promise((resolve) => {
    const started = process.hrtime.bigint()
    const elapsed = (): number => Number(process.hrtime.bigint() - started) / 1e9
    const outFd = opts.outputFile === undefined ? undefined : openSync(opts.outputFile, 'a')
    const inFd = opts.inputFile === undefined ? undefined : openSync(opts.inputFile, 'r')
    // Own process group, so a kill reaches grandchildren too (sh -c 'sync; ...').
    const child = spawn(cmd, args, { stdio: [inFd ?? 'ignore', outFd ?? 'pipe', outFd ?? 'pipe'], env: opts.env ?? process.env, detached: true, cwd: opts.cwd })
    if (outFd !== undefined) closeSync(outFd)
    if (inFd !== undefined) closeSync(inFd)
    let stdout = ''
    let stderr = ''
    let timedOut = false
    let settled = false
    let graceTimer: NodeJS.Timeout | undefined
    child.stdout?.on('data', (b: Buffer) => { if (stdout.length < OUTPUT_CAP) stdout += b.toString() })
    child.stderr?.on('data', (b: Buffer) => { if (stderr.length < OUTPUT_CAP) stderr += b.toString() })

    const finish = (code: number | null, signal: NodeJS.Signals | null, extra = ''): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      clearTimeout(graceTimer)
      opts.signal?.removeEventListener('abort', onAbort)
      if (opts.outputFile !== undefined) stderr = tail(opts.outputFile)
      resolve({ code, signal, stdout, stderr: stderr + extra, wallSeconds: elapsed(), timedOut })
    }
    const kill = (): void => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL')
      } catch {
        child.kill('SIGKILL')
      }
      graceTimer = setTimeout(() => finish(null, 'SIGKILL', '\n(child did not exit after SIGKILL: blocked in the kernel)'), KILL_GRACE_MS)
    }
    const onAbort = (): void => kill()
    const timer = setTimeout(() => { timedOut = true; kill() }, opts.timeoutMs)

    if (opts.signal?.aborted === true) kill()
    else opts.signal?.addEventListener('abort', onAbort, { once: true })
    child.on('error', (err) => finish(null, null, `\n${cmd}: ${err.message}`))
    child.on('close', (code, signal) => finish(code, signal))
    // A daemonizing child (`objfs mount`) may leave its daemon holding our
    // pipes, so 'close' could wait for the unmount: exit plus a short drain.
    child.on('exit', (code, signal) => { setTimeout(() => finish(code, signal), EXIT_DRAIN_MS).unref() })
  })
}

/** One line saying why a child failed, for tables and error messages. */
export function describeFailure (cmd: string, r: ChildResult): string {
  const why = reasonLine(r.stderr)
  const how = r.timedOut
    ? `timed out after ${r.wallSeconds.toFixed(0)} s`
    : r.signal !== null ? `killed by ${r.signal}` : `exited ${r.code ?? '?'}`
  return why === '' ? `${cmd} ${how}` : `${cmd} ${how}: ${why}`
}

// The last line of a Node crash is "Node.js v24...", and stack frames and
// braces follow the message: pick the last line that reads like an error,
// unwrapping pino JSON lines to their msg.
function reasonLine (stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim()).map(unwrapPino)
    .filter((l) => l !== '' && !/^(at |Node\.js v|[{}^]|code: |requireStack)/.test(l))
  return lines.findLast((l) => /error|fail|cannot|denied|not /i.test(l)) ?? lines.at(-1) ?? ''
}

function unwrapPino (line: string): string {
  if (!line.startsWith('{')) return line
  try {
    const j = JSON.parse(line) as { msg?: unknown, err?: { message?: unknown } }
    const msg = typeof j.msg === 'string' ? j.msg : ''
    return typeof j.err?.message === 'string' ? `${msg}: ${j.err.message}` : msg
  } catch {
    return line
  }
}

function tail (file: string): string {
  try {
    return readFileSync(file, 'utf8').slice(-64 * 1024)
  } catch {
    return ''
  }
}

/** Path of an executable, from an absolute path or a PATH lookup; undefined if none. */
export function findExecutable (cmd: string): string | undefined {
  const candidates = cmd.includes('/') ? [cmd] : (process.env.PATH ?? '').split(delimiter).map((d) => join(d, cmd))
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK)
      return c
    } catch {}
  }
  return undefined
}
