// The serving process under a keeper: the connection is fd 3, and the
// keeper hears over IPC when it is live, when it lets go of the connection
// (handover) and when the filesystem is gone.
import type { Connection } from '../channel/unmount.ts'
import type { Config } from '../config.ts'
import { startDaemon } from '../daemon.ts'
import { ConfigError } from '../errors.ts'
import { logger, setLogLevel } from '../log.ts'
import { shutdownOnSignals } from '../signals.ts'
import { CONNECTION_FD, SERVE_SETUP_ENV, type KeeperMessage, type ServeSetup, type ServerMessage } from './protocol.ts'

const log = logger('serve')
/** How often the keeper hears which requests we hold (kernels that cannot resend). */
const REPORT_MS = 200

const tell = (m: ServerMessage): void => { process.send?.(m) }

/**
 * The first process opened the store: have the keeper mount. Bad input
 * (a store that is not one, S3 credentials...) fails before anything is
 * mounted; a mount that fails ends this process (the keeper kills it).
 */
async function untilMounted (): Promise<Connection | undefined> {
  return await new Promise<Connection | undefined>(resolve => {
    const mounted = (m: KeeperMessage): void => {
      if (m.type !== 'mounted') return
      process.off('message', mounted)
      resolve(m.connection)
    }
    process.on('message', mounted)
    tell({ type: 'store-open' })
  })
}

export async function runServing (): Promise<void> {
  const raw = process.env[SERVE_SETUP_ENV]
  if (raw === undefined || process.send === undefined) throw new ConfigError('objfs serve is started by the keeper (objfs mount), not by hand')
  delete process.env[SERVE_SETUP_ENV]
  const setup = JSON.parse(raw) as ServeSetup
  const config: Config = setup.config
  setLogLevel(config.logLevel)
  let daemon
  try {
    daemon = await startDaemon(config, { fd: CONNECTION_FD, generation: setup.generation, negotiation: setup.negotiation, connection: setup.connection, mounted: untilMounted })
  } catch (err) {
    tell({ type: 'failed', message: (err as Error).message.split('\n')[0], bad: err instanceof ConfigError })
    throw err
  }
  tell({ type: 'ready', negotiation: daemon.negotiation })
  const unanswered = daemon.unanswered
  // A kernel that cannot resend: keep the keeper told which requests we hold.
  const report = unanswered === undefined ? undefined : setInterval(() => tell({ type: 'unanswered', ...unanswered() }), REPORT_MS)
  report?.unref()
  process.on('message', (m: KeeperMessage) => { if (m.type === 'handover') daemon.handover() })
  shutdownOnSignals(daemon.shutdown)
  // The keeper gone (killed): keep serving; the mount lives while we do.
  let ended = false
  process.on('disconnect', () => { if (!ended) log.warn('the keeper is gone: a crash of this process will now unmount') })
  const { detached } = await daemon.done
  ended = true
  if (report !== undefined) clearInterval(report)
  tell({ type: detached ? 'detached' : 'closed' })
  process.disconnect?.()
  // pino writes asynchronously; let it drain before the process ends. After
  // a handover the reader thread is blocked in read(2) on the connection,
  // which no request may end (the next process must not start serving
  // before this one is gone), and process.exit() would wait for that
  // thread forever: everything is stored, so the process ends by SIGKILL.
  setTimeout(() => detached ? process.kill(process.pid, 'SIGKILL') : process.exit(0), 100)
}
