// Who is asking: whether the process behind a request was killed by a signal.
//
// A process killed by a signal (Ctrl-C) closes its files on its way out,
// and the kernel sends that FLUSH without an INTERRUPT and waits for the
// answer uninterruptibly: a FLUSH that waits for a slow store keeps the
// dead process from leaving, for as long as the store takes. Nobody can see
// what that close returns, and a killed process acknowledged nothing, so
// the daemon may answer at once; the data is still stored (RELEASE waits).
// A process that exits normally is left to wait: its exit status may be
// taken as "written" (head -c ... > file exits, the shell goes on).
//
// The caller's stat is read on the thread pool, and only a FLUSH that has
// waited CHECK_AFTER_MS asks: reading it may block (proc-stat.ts).
import { readStat } from '../proc-stat.ts'

/** include/linux/sched.h: getting out, and because of a signal. */
const PF_EXITING = 0x4
const PF_SIGNALED = 0x400

/** Fields of /proc/PID/stat (proc(5)), 1-based. */
const FLAGS = 9
const EXIT_CODE = 52

/** A flush faster than this never asks: a killed writer waiting this long is what the check is for. */
const CHECK_AFTER_MS = 200

/** True when `pid` is exiting because a signal killed it; false when alive, exiting normally, or unknown. */
export async function killedBySignal (pid: number): Promise<boolean> {
  if (!Number.isInteger(pid) || pid <= 0) return false
  const fields = await readStat(pid)
  if (fields === undefined) return false
  const flags = Number(fields[FLAGS - 3])
  const exitCode = Number(fields[EXIT_CODE - 3])
  if ((flags & PF_EXITING) === 0) return false
  // PF_SIGNALED marks the thread that took the signal; its siblings carry it in exit_code.
  return (flags & PF_SIGNALED) !== 0 || (exitCode & 0x7f) !== 0
}

/**
 * A signal that aborts with `request`'s, and also once the wait has lasted
 * CHECK_AFTER_MS and `pid` turns out to be dying of a signal. Call `done`
 * when the wait is over.
 */
export function untilCallerKilled (pid: number, request: AbortSignal): { signal: AbortSignal, done: () => void } {
  const ac = new AbortController()
  const forward = (): void => ac.abort()
  if (request.aborted) ac.abort()
  else request.addEventListener('abort', forward, { once: true })
  const timer = setTimeout(() => {
    killedBySignal(pid).then(killed => { if (killed) ac.abort() }, () => {})
  }, CHECK_AFTER_MS)
  return {
    signal: ac.signal,
    done: () => {
      clearTimeout(timer)
      request.removeEventListener('abort', forward)
    },
  }
}
