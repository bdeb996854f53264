// One root pino logger, JSON to stderr (journald takes stderr under systemd).
// Modules take a child once at import time, never per request.
import { pino, type Logger } from 'pino'

export type { Logger }

const level = process.env.OBJFS_LOG_LEVEL ?? 'info'

export const rootLogger: Logger = pino(
  {
    level,
    base: { pid: process.pid },
    // Credentials can arrive through options or store configs; never print them.
    redact: { paths: ['*.secretAccessKey', '*.sessionToken', '*.password', 'options.secret_key', 'options.access_key'], censor: '[redacted]' },
  },
  pino.destination({ fd: 2, sync: true }),
)

const children: Logger[] = []

export function logger (module: string): Logger {
  const child = rootLogger.child({ module })
  children.push(child)
  return child
}

/** pino children copy the level at creation; the option is parsed after imports, so push it down. */
export function setLogLevel (l: string): void {
  rootLogger.level = l
  for (const c of children) c.level = l
}
