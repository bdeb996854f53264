// The keeper: the process that holds the /dev/fuse connection, so that the
// mount outlives the process serving it.
//
// It mounts, then starts the serving process (supervisor thread and worker
// pool) with the connection as its fd 3. When that process dies (a crash,
// the OOM killer, kill -9) while the filesystem is still mounted, the
// keeper starts another on the same connection: processes using the mount
// see a pause, not "Transport endpoint is not connected". An upgrade
// (SIGUSR2: `objfs upgrade`, `systemctl reload`) asks the serving process
// to hand over instead, and starts the next one from the code now on disk.
//
// The keeper does no storage I/O and keeps almost no state: the connection,
// what INIT settled, and how many processes served before.
import { spawn, type ChildProcess } from 'node:child_process'
import { closeSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { mountOn, mountRequestOf, openFuse } from '../channel/mount.ts'
import type { Negotiation } from '../channel/session.ts'
import { connectionLive, connectionOf, ensureFusectl, findMount, forceUnmount, sameConnection, type Connection } from '../channel/unmount.ts'
import type { Config } from '../config.ts'
import { ConfigError } from '../errors.ts'
import { logger } from '../log.ts'
import { SERVE_SETUP_ENV, type KeeperMessage, type ServeSetup, type ServerMessage } from './protocol.ts'
import { awaitPredecessors } from './predecessors.ts'
import { clearKeeperState, writeKeeperConnection, writeKeeperState } from './state.ts'
import { answerAbandoned } from './unanswered.ts'

const log = logger('keeper')
const mainFile = fileURLToPath(new URL('../main.ts', import.meta.url))

/** More crashes than this within CRASH_WINDOW_MS and the keeper gives up (a crash loop serves nobody). */
const MAX_CRASHES = 5
const CRASH_WINDOW_MS = 60_000
/** Uniques past the last report that the sweep answers too: requests read since. */
const MIN_MARGIN = 4096
/** As long as `objfs umount` waits for a daemon to store and exit. */
const PREDECESSOR_WAIT_MS = 120_000

export interface KeeperHooks {
  /** The mount is live ('ready'), or failed ('bad: ...' / 'error: ...'), as runForeground reports it. */
  ready: (message: string) => void
}

/** Mount, serve through restartable processes until unmounted; resolves with the exit status. */
export async function runKeeper (config: Config, hooks: KeeperHooks): Promise<number> {
  let fd: number
  try {
    // Mounted only once the first serving process has opened the store.
    fd = openFuse()
  } catch (err) {
    hooks.ready(`${err instanceof ConfigError ? 'bad' : 'error'}: ${(err as Error).message.split('\n')[0]}`)
    return err instanceof ConfigError ? 2 : 1
  }
  await awaitPredecessors(config, PREDECESSOR_WAIT_MS)
  const keeper = new Keeper(config, fd, hooks)
  process.on('SIGTERM', () => keeper.stop('SIGTERM'))
  process.on('SIGINT', () => keeper.stop('SIGINT'))
  process.on('SIGUSR2', () => keeper.upgrade())
  // The serving process takes SIGHUP as the end of its session otherwise.
  process.on('SIGHUP', () => {})
  return await keeper.done
}

/** Readiness is the keeper's to report, to `objfs mount` and to systemd. */
function childEnv (): NodeJS.ProcessEnv {
  const env = { ...process.env }
  delete env.OBJFS_READY_FD
  delete env.NOTIFY_SOCKET
  return env
}

class Keeper {
  readonly #config: Config
  readonly #fd: number
  readonly #hooks: KeeperHooks
  #child: ChildProcess | undefined
  #last: ServerMessage | undefined
  #negotiation: Negotiation | undefined
  #generation = 0
  #crashes: number[] = []
  /** The last report of the requests the serving process holds (kernels that cannot resend). */
  #held: { low: number, high: number } | undefined
  #margin = MIN_MARGIN
  #stopping = false
  /** Whether the connection was mounted (the first serving process opened the store). */
  #mounted = false
  /**
   * Its id (fusectl's), once mounted. The path alone cannot tell: after
   * `umount -l` the mount has left it but serves the files still open on
   * it, and another may be mounted there meanwhile.
   */
  #connection: Connection | undefined
  /** Why the mount failed, if it was the keeper's own mount(8) that did. */
  #failure: { message: string, bad: boolean } | undefined
  #upgrading = false
  #resolve: (status: number) => void = () => {}
  readonly done: Promise<number>

  constructor (config: Config, fd: number, hooks: KeeperHooks) {
    this.#config = config
    this.#fd = fd
    this.#hooks = hooks
    this.done = new Promise(resolve => { this.#resolve = resolve })
    this.#start()
  }

  #start (): void {
    const setup: ServeSetup = { config: this.#config, generation: this.#generation, negotiation: this.#negotiation, connection: this.#connection }
    this.#last = undefined
    // The mountpoint in argv names the process in ps and for `objfs umount`'s helpers.
    const child = spawn(process.execPath, [...process.execArgv, mainFile, 'serve', this.#config.mountpoint], {
      stdio: ['ignore', 'inherit', 'inherit', this.#fd, 'ipc'],
      env: { ...childEnv(), [SERVE_SETUP_ENV]: JSON.stringify(setup) },
    })
    this.#child = child
    child.on('message', (m: ServerMessage) => this.#message(m))
    child.on('exit', (code, signal) => this.#exited(child, code, signal))
    // The first start is routine (and must not precede a failed mount's one-line reason on stderr).
    if (this.#generation === 0) log.debug({ server: child.pid }, 'serving process started')
    else log.info({ server: child.pid, generation: this.#generation }, 'serving process started on the same connection')
  }

  #message (m: ServerMessage): void {
    if (m.type === 'store-open') {
      void this.#mount()
      return
    }
    if (m.type === 'unanswered') {
      // Requests read since the previous report grow the margin swept after a crash.
      this.#margin = Math.max(MIN_MARGIN, 4 * (m.high - (this.#held?.high ?? m.high)))
      this.#held = m
      return
    }
    this.#last = m
    if (m.type !== 'ready') return
    const first = this.#negotiation === undefined
    this.#negotiation = m.negotiation
    this.#upgrading = false
    writeKeeperState(this.#config, { keeper: process.pid, server: this.#child?.pid ?? 0, generation: this.#generation })
    if (first) this.#hooks.ready('ready')
  }

  /** The first serving process has the store open: mount on the connection it already holds. */
  async #mount (): Promise<void> {
    const child = this.#child
    try {
      await mountOn(this.#fd, mountRequestOf(this.#config))
    } catch (err) {
      this.#failure = { message: (err as Error).message.split('\n')[0], bad: err instanceof ConfigError }
      child?.kill('SIGKILL')
      return
    }
    this.#mounted = true
    // fusectl first: the connection's record names its directory there
    // (connectionOf), and only fusectl tells later whether it lives on, detached.
    await ensureFusectl(msg => log.warn(msg))
    this.#connection = connectionOf(this.#config.mountpoint) ?? undefined
    if (this.#connection !== undefined) writeKeeperConnection(this.#config, this.#connection)
    if (child === undefined || child !== this.#child) {
      // It died while mount(8) ran: #exited reported the failure; take the mount back down.
      await this.#unmount(() => {})
      return
    }
    const m: KeeperMessage = { type: 'mounted', connection: this.#connection }
    child.send(m)
  }

  /** Whether the connection still has a mount, at the path or detached with files open on it. */
  #live (): boolean {
    const conn = this.#connection
    if (conn === undefined) return findMount(this.#config.mountpoint) !== undefined
    return connectionLive(conn) ?? sameConnection(connectionOf(this.#config.mountpoint), conn)
  }

  async #unmount (warn: (msg: string) => void): Promise<void> {
    await forceUnmount(this.#config.mountpoint, { log: warn, connection: this.#connection })
  }

  #exited (child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (child !== this.#child) return
    this.#child = undefined
    const last = this.#last
    if (last?.type === 'closed') return this.#finish(0)
    if (this.#negotiation === undefined) {
      // Never served: the mount fails as a whole, with the reason, once nothing is mounted.
      const failure = this.#failure ?? (last?.type === 'failed'
        ? last
        : { message: `the serving process exited (${signal ?? `status ${code}`}) before the mount was live`, bad: false })
      void this.#failStart(failure)
      return
    }
    if (!this.#live()) return this.#finish(0)
    if (this.#stopping) {
      void this.#unmountAndFinish(0)
      return
    }
    if (last?.type !== 'detached') {
      if (this.#held !== undefined) {
        // This kernel cannot resend: answer what the dead process held, or its callers wait forever.
        const answered = answerAbandoned(this.#fd, this.#held.low, this.#held.high, this.#margin)
        log.warn({ answered, low: this.#held.low, high: this.#held.high + this.#margin }, 'answered EIO to the requests the dead process left (this kernel cannot resend them)')
        this.#held = undefined
      }
      const now = Date.now()
      this.#crashes = [...this.#crashes.filter(t => now - t < CRASH_WINDOW_MS), now]
      log.error({ server: child.pid, code, signal, generation: this.#generation }, 'the serving process died; starting another on the same connection')
      if (this.#crashes.length > MAX_CRASHES) {
        log.fatal({ crashes: this.#crashes.length, windowMs: CRASH_WINDOW_MS }, 'the serving process keeps dying; unmounting')
        void this.#unmountAndFinish(1)
        return
      }
    }
    this.#generation++
    this.#start()
  }

  /** SIGTERM/SIGINT: the serving process flushes and unmounts; then we exit. */
  stop (signal: string): void {
    if (this.#stopping) return
    this.#stopping = true
    log.info({ signal }, 'stopping: the serving process flushes and unmounts')
    if (this.#child !== undefined) this.#child.kill('SIGTERM')
    else void this.#unmountAndFinish(0)
  }

  /** SIGUSR2: replace the serving process without a crash. */
  upgrade (): void {
    if (this.#child === undefined || this.#negotiation === undefined || this.#upgrading || this.#stopping) return
    this.#upgrading = true
    log.info({ generation: this.#generation }, 'upgrade: handing the connection over to a new serving process')
    const m: KeeperMessage = { type: 'handover' }
    this.#child.send(m)
  }

  async #failStart (f: { message: string, bad: boolean }): Promise<void> {
    if (this.#mounted) await this.#unmount(m => log.warn(m)).catch(() => {})
    this.#hooks.ready(`${f.bad ? 'bad' : 'error'}: ${f.message}`)
    this.#finish(f.bad ? 2 : 1)
  }

  async #unmountAndFinish (status: number): Promise<void> {
    await this.#unmount(m => log.warn(m)).catch(err => log.error({ err: String(err) }, 'unmount failed'))
    this.#finish(status)
  }

  #finish (status: number): void {
    try { closeSync(this.#fd) } catch {}
    clearKeeperState(this.#config)
    if (status === 0) log.info('keeper stopped')
    else log.debug({ status }, 'keeper stopped')
    this.#resolve(status)
  }
}

