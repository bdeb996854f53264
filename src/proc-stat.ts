// A process's (or thread's) /proc/<pid>/stat, proc(5).
//
// Of a FUSE caller, read it on the thread pool only, and let no request
// wait for it: reading it blocks while the process is in execve, and
// execve closes the files it does not pass on, which sends FLUSHes to this
// mount. A synchronous read deadlocked the daemon twice, once on the
// serving thread (ops/caller.ts) and once on the reader (session 38,
// channel/follow.ts): test/mount/model.test.ts, a child running fallocate(1).
import { readFile } from 'node:fs/promises'

/**
 * The fields from `state` (field 3) on: proc(5)'s field N is at [N - 3].
 * The command in parentheses may hold spaces and ')' itself, so the
 * fields are counted from the last ')'. undefined if there is none.
 */
export function statFields (text: string): string[] | undefined {
  const close = text.lastIndexOf(')')
  return close < 0 ? undefined : text.slice(close + 2).split(' ')
}

/** statFields of `pid`'s stat, read on the thread pool (see above); undefined if it is gone. */
export async function readStat (pid: number): Promise<string[] | undefined> {
  try {
    return statFields(await readFile(`/proc/${pid}/stat`, 'latin1'))
  } catch {
    return undefined
  }
}
