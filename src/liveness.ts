// Whether a process is still running, and waiting until some are not.
import { readFileSync } from 'node:fs'
import { statFields } from './proc-stat.ts'

/**
 * Alive and not a zombie. A daemon killed with -9 stays a zombie until its
 * parent reaps it, and kill(pid, 0) succeeds on a zombie; but a zombie holds
 * no files open and serves nothing: its orphans are free to reclaim, and an
 * unmount waiting for it is done. EPERM: it exists, it is just not ours to
 * signal.
 */
export function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
  try {
    // A daemon's, not a FUSE caller's: it cannot be in an execve that waits for us.
    return statFields(readFileSync(`/proc/${pid}/stat`, 'latin1'))?.[0] !== 'Z'
  } catch {
    // No /proc (or it went away just now): trust kill(2).
    return true
  }
}

/** Wait up to `timeoutMs` for `pids` to exit; the ones still running then. */
export async function waitForExit (pids: number[], timeoutMs: number): Promise<number[]> {
  const until = Date.now() + timeoutMs
  let running = pids.filter(alive)
  while (running.length > 0 && Date.now() < until) {
    await new Promise(resolve => setTimeout(resolve, 50))
    running = running.filter(alive)
  }
  return running
}
