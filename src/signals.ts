// SIGINT and SIGTERM end a serving process the same way wherever it runs
// (alone, or under the keeper): flush, unmount, and let `done` settle.
import { logger } from './log.ts'

const log = logger('signals')

export function shutdownOnSignals (shutdown: () => Promise<void>): void {
  let signalled = false
  const stop = (signal: string): void => {
    if (signalled) return
    signalled = true
    log.info({ signal }, 'stopping: flushing and unmounting')
    shutdown().catch(err => log.error({ err }, 'unmount failed'))
  }
  process.on('SIGINT', () => stop('SIGINT'))
  process.on('SIGTERM', () => stop('SIGTERM'))
}
