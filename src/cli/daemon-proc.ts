// Finding the daemon process that serves a mountpoint, and going to the
// background with a readiness pipe (like sshfs and s3fs: `objfs mount`
// returns only once the mount is live, or fails with the daemon's reason).
import { spawn } from 'node:child_process'
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, writeSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { ConfigError } from '../errors.ts'

const mainFile = fileURLToPath(new URL('../main.ts', import.meta.url))
export const READY_FD_ENV = 'OBJFS_READY_FD'

/** The pids of objfs daemons serving `mountpoint` (foreground `mount ... -f` processes). */
export function daemonPids (mountpoint: string): number[] {
  const out: number[] = []
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue
    let argv: string[]
    try {
      argv = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0')
    } catch {
      continue
    }
    if (argv.some(a => a.endsWith('src/main.ts')) && argv.includes('mount') && argv.includes('--foreground') && argv.includes(mountpoint)) out.push(Number(name))
  }
  return out
}

/** Run the daemon detached; resolve when it reports the mount live, reject with its one-line reason. */
export async function spawnDaemon (args: string[], logFile: string): Promise<number> {
  mkdirSync(logFile.slice(0, logFile.lastIndexOf('/')) || '/', { recursive: true, mode: 0o700 })
  const log = openSync(logFile, 'a', 0o600)
  const child = spawn(process.execPath, [...process.execArgv, mainFile, ...args], {
    detached: true,
    stdio: ['ignore', 'ignore', log, 'pipe'],
    env: { ...process.env, [READY_FD_ENV]: '3' },
  })
  closeSync(log)
  const pipe = child.stdio[3] as NodeJS.ReadableStream
  let said = ''
  pipe.setEncoding('utf8')
  pipe.on('data', (d: string) => { said += d })
  const outcome = await new Promise<string>(resolve => {
    pipe.on('end', () => resolve(said))
    child.on('exit', code => resolve(said !== '' ? said : `error: the daemon exited (status ${code}) before the mount was live; see ${logFile}`))
  })
  child.unref()
  ;(pipe as unknown as { destroy: () => void }).destroy()
  if (outcome.startsWith('ready')) return child.pid ?? 0
  // The daemon refused bad input (runForeground says `bad:`): exit 2, as in the foreground.
  if (outcome.startsWith('bad: ')) throw new ConfigError(outcome.slice('bad: '.length).trim())
  throw new Error(outcome.replace(/^error: /, '').trim())
}

/** In the daemon: tell the waiting `objfs mount` how it went. */
export function reportReadiness (message: string): void {
  const fd = Number(process.env[READY_FD_ENV])
  if (!Number.isInteger(fd) || fd <= 0) return
  try {
    writeSync(fd, `${message}\n`)
    closeSync(fd)
  } catch {}
  delete process.env[READY_FD_ENV]
}
