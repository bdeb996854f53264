// Readiness for systemd services of Type=notify (systemd/objfs@.service).
//
// sd_notify(3) is one datagram to the unix socket named by $NOTIFY_SOCKET.
// Node has no unix datagram sockets without native code, so the message
// goes through systemd-notify(1), which ships with systemd. Two things make
// that sound: the unit sets NotifyAccess=all, because the sender is our
// child and not the main process; and systemd-notify (systemd >= 246) waits
// until the manager has processed the message, so its exit cannot leave the
// message without a process to attribute it to.
import { spawn } from 'node:child_process'
import { logger } from '../log.ts'

const log = logger('sd-notify')

const NOTIFY_TIMEOUT_MS = 10_000

/**
 * Tell systemd the mount is live (READY=1, MAINPID, STATUS). Without
 * $NOTIFY_SOCKET (not started by systemd) it does nothing. The variable is
 * removed afterwards, as sd_notify's unset_environment does, so that the
 * processes this daemon starts later do not speak for it.
 */
export async function notifyReady (status: string): Promise<void> {
  if (process.env.NOTIFY_SOCKET === undefined || process.env.NOTIFY_SOCKET === '') return
  const args = ['--ready', `--pid=${process.pid}`, `--status=${status}`]
  try {
    await run('systemd-notify', args)
  } catch (err) {
    // The mount is live either way; systemd's start timeout reports the rest.
    log.warn({ err: (err as Error).message }, 'systemd-notify failed: systemd will not see the service as started')
  } finally {
    delete process.env.NOTIFY_SOCKET
  }
}

function run (cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
    const timer = setTimeout(() => { child.kill('SIGKILL') }, NOTIFY_TIMEOUT_MS)
    child.on('error', err => { clearTimeout(timer); reject(err) })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      if (code === 0) resolve()
      else reject(new Error(`${cmd} ${signal !== null ? `killed by ${signal}` : `exited ${code}`}: ${stderr.trim()}`))
    })
  })
}
