// The test's side of driver.ts: requests with a deadline. A late answer
// means the mount is hung: the driver's process group is killed and the
// call throws, so the test ends inside its timeout and teardown unmounts.
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'
import type { DriverRequest } from './driver.ts'

const driverFile = fileURLToPath(new URL('./driver.ts', import.meta.url))

export interface DriverAnswer { ok: boolean, errno?: number, code?: string, [k: string]: unknown }

export class DriverError extends Error {
  readonly errno: number
  constructor (what: string, a: DriverAnswer) {
    super(`${what}: ${a.code ?? a.errno}`)
    this.errno = a.errno ?? 5
  }
}

export class Driver {
  readonly #child: ChildProcess
  readonly #waiting = new Map<number, (a: DriverAnswer) => void>()
  /** Resolves with how the driver ended (a signal name or an exit code). */
  readonly exited: Promise<string>
  #next = 1
  #buffer = ''
  #dead: string | undefined

  /** Start a driver; the test's teardown kills it. */
  constructor (t: Test) {
    // Through sh and `env -u`: tap adds its process-tracking hooks to the
    // NODE_OPTIONS of every node child it sees spawned, and with their signal
    // handlers a driver would not die of SIGINT the way a plain program does.
    this.#child = spawn('/bin/sh', ['-c', 'exec env -u NODE_OPTIONS "$0" --disable-warning=ExperimentalWarning "$1"', process.execPath, driverFile], {
      stdio: ['pipe', 'pipe', 'inherit'],
      detached: true,
      env: { ...process.env, UV_THREADPOOL_SIZE: '16' },
    })
    this.#child.stdout?.setEncoding('utf8').on('data', (s: string) => this.#receive(s))
    let ended: (how: string) => void = () => {}
    this.exited = new Promise(resolve => { ended = resolve })
    this.#child.on('exit', (code, signal) => {
      ended(signal ?? String(code))
      this.#dead = `the driver exited (${signal ?? code})`
      for (const resolve of this.#waiting.values()) resolve({ ok: false, errno: 5, code: this.#dead })
      this.#waiting.clear()
    })
    t.teardown(() => this.kill())
  }

  get pid (): number { return this.#child.pid ?? 0 }

  #receive (s: string): void {
    this.#buffer += s
    for (let nl; (nl = this.#buffer.indexOf('\n')) >= 0;) {
      const a = JSON.parse(this.#buffer.slice(0, nl)) as DriverAnswer & { id: number }
      this.#buffer = this.#buffer.slice(nl + 1)
      this.#waiting.get(a.id)?.(a)
      this.#waiting.delete(a.id)
    }
  }

  /** Send a request without waiting for its answer (the caller may kill the driver meanwhile). */
  send (r: DriverRequest): Promise<DriverAnswer> {
    const id = this.#next++
    const answer = new Promise<DriverAnswer>(resolve => this.#waiting.set(id, resolve))
    this.#child.stdin?.write(`${JSON.stringify({ id, ...r })}\n`)
    return answer
  }

  /** The answer, whatever it is; throws only when the driver is late (then it is killed) or gone. */
  async call (r: DriverRequest, timeoutMs = 30_000): Promise<DriverAnswer> {
    if (this.#dead !== undefined) throw new Error(`${r.op}: ${this.#dead}`)
    const id = this.#next++
    let timer: NodeJS.Timeout | undefined
    const answer = new Promise<DriverAnswer>(resolve => this.#waiting.set(id, resolve))
    const late = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        this.kill()
        reject(new Error(`${r.op} got no answer within ${timeoutMs} ms: the mount is hung`))
      }, timeoutMs)
    })
    this.#child.stdin?.write(`${JSON.stringify({ id, ...r })}\n`)
    try {
      return await Promise.race([answer, late])
    } finally {
      clearTimeout(timer)
    }
  }

  /** The result of a call that must succeed. */
  async ok (r: DriverRequest, timeoutMs?: number): Promise<DriverAnswer> {
    const a = await this.call(r, timeoutMs)
    if (!a.ok) throw new DriverError(r.op, a)
    return a
  }

  /** A signal to the driver process alone (Ctrl-C is SIGINT). */
  signal (sig: NodeJS.Signals): void {
    if (this.#child.exitCode === null && this.#child.pid !== undefined) process.kill(this.#child.pid, sig)
  }

  kill (): void {
    if (this.#child.exitCode === null && this.#child.pid !== undefined) try { process.kill(-this.#child.pid, 'SIGKILL') } catch {}
  }
}
