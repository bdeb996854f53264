// Cold-cache steps start from empty page, dentry and inode caches.
import { runChild, describeFailure } from './child.ts'

/**
 * sync, then drop clean caches. Returns null on success, else why not (the
 * sample is then marked warm). In a child with a timeout: sync(2) waits on
 * every mounted filesystem, a hung FUSE daemon included.
 */
export async function dropCaches (signal: AbortSignal): Promise<string | null> {
  const r = await runChild('sh', ['-c', 'sync && echo 3 > /proc/sys/vm/drop_caches'], { timeoutMs: 60_000, signal })
  return r.code === 0 ? null : describeFailure('drop_caches', r)
}
