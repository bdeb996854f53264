// Whether the process that registered a store instance can still use it.
import { readFileSync } from 'node:fs'

/**
 * Alive and not a zombie. A daemon killed with -9 stays a zombie until its
 * parent reaps it, and kill(pid, 0) succeeds on a zombie; but a zombie holds
 * no files open, so its orphans are free to reclaim. EPERM: it exists, it
 * is just not ours to signal.
 */
export function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
  } catch {
    // No /proc (or it went away just now): trust kill(2).
    return true
  }
}
