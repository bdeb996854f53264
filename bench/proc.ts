// What /proc tells the harness: mounts, daemon processes and their CPU time.
// Read with plain file reads, never by touching a mountpoint (a stat of a
// hung FUSE mount would hang the harness).
import { readFileSync, readdirSync } from 'node:fs'
import { execFileSync } from 'node:child_process'

export interface MountEntry {
  /** "major:minor" of the mounted filesystem. */
  dev: string
  mountpoint: string
  fstype: string
  source: string
}

// mountinfo escapes space, tab, newline and backslash as \ooo.
const unescape = (s: string): string => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)))

export function mounts (): MountEntry[] {
  const out: MountEntry[] = []
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    if (line === '') continue
    // id parent major:minor root mountpoint opts [optional...] - fstype source superopts
    const f = line.split(' ')
    const dash = f.indexOf('-')
    out.push({ dev: f[2], mountpoint: unescape(f[4]), fstype: f[dash + 1], source: unescape(f[dash + 2]) })
  }
  return out
}

export const mountAt = (mountpoint: string): MountEntry | undefined =>
  mounts().findLast((m) => m.mountpoint === mountpoint)

export const isMounted = (mountpoint: string): boolean => mountAt(mountpoint) !== undefined

let clockTicks: number | undefined
/** USER_HZ: the unit of utime and stime in /proc/<pid>/stat (100 nearly everywhere). */
function ticksPerSecond (): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
    } catch {
      clockTicks = 100
    }
  }
  return clockTicks
}

/** utime + stime in seconds from the text of a /proc stat file, a process's or a thread's. */
function statCpuSeconds (stat: string): number {
  // comm (field 2) may hold spaces and parens: split after its closing paren.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // rest[0] is field 3 (state); utime and stime are fields 14 and 15.
  return (Number(rest[11]) + Number(rest[12])) / ticksPerSecond()
}

/**
 * utime + stime of a process, all its threads included (worker threads are
 * where objfs does store I/O), in seconds; undefined once it is gone.
 */
export function cpuSeconds (pid: number): number | undefined {
  try {
    return statCpuSeconds(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return undefined
  }
}

/** CPU seconds of each thread of `pids`, by "pid/tid"; a process gone meanwhile has none. */
export function threadCpuSeconds (pids: number[]): Map<string, number> {
  const out = new Map<string, number>()
  for (const pid of pids) {
    let tids: string[]
    try {
      tids = readdirSync(`/proc/${pid}/task`)
    } catch {
      continue
    }
    for (const tid of tids) {
      try {
        out.set(`${pid}/${tid}`, statCpuSeconds(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8')))
      } catch {
        // The thread ended between the listing and the read.
      }
    }
  }
  return out
}

/**
 * The CPU seconds of the thread that used most between two readings of
 * threadCpuSeconds; a thread started in between counts from 0. A daemon
 * whose busiest thread used nearly the step's whole time was bound by that
 * one thread, however idle the other CPUs were.
 */
export function busiestThreadSeconds (before: Map<string, number>, after: Map<string, number>): number {
  let most = 0
  for (const [id, s] of after) most = Math.max(most, s - (before.get(id) ?? 0))
  return most
}

/** Sum over pids; undefined if any of them has exited (the daemon died). */
export function totalCpuSeconds (pids: number[]): number | undefined {
  let sum = 0
  for (const pid of pids) {
    const s = cpuSeconds(pid)
    if (s === undefined) return undefined
    sum += s
  }
  return sum
}

/**
 * Processes with an argument naming the mountpoint: the FUSE daemon
 * (`bindfs SRC MP`, the objfs daemon). Call it before any workload runs, or
 * workload processes naming files under the mountpoint would match too.
 */
export function findDaemonPids (mountpoint: string): number[] {
  const pids: number[] = []
  for (const name of readdirSync('/proc')) {
    const pid = Number(name)
    if (!Number.isInteger(pid) || pid === process.pid) continue
    let argv: string[]
    try {
      argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')
    } catch {
      continue
    }
    if (argv.some((a) => a.includes(mountpoint))) pids.push(pid)
  }
  return pids
}

/** Running or sleeping; a zombie (exited, waiting for its reaper) counts as gone. */
export function isAlive (pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat[stat.lastIndexOf(')') + 2] !== 'Z'
  } catch {
    return false
  }
}

/** Resident set size (VmRSS: all threads share it) in bytes; undefined once the process is gone. */
export function rssBytes (pid: number): number | undefined {
  let status: string
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8')
  } catch {
    return undefined
  }
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(status)
  return m === null ? undefined : Number(m[1]) * 1024
}
