// A reply's single write to /dev/fuse (the kernel takes a reply only whole,
// in one write), from the supervisor or from the reader thread (handover.ts).
import { writevSync } from 'node:fs'
import type { Logger } from '../log.ts'

/**
 * Write one reply or notification. ENOENT (the request was interrupted and
 * withdrawn) and ENODEV (unmounted) are the kernel saying nobody waits any
 * more; anything else is logged, and the caller goes on.
 */
export function writeReply (fd: number, parts: Uint8Array[], log: Logger): void {
  try {
    writevSync(fd, parts as NodeJS.ArrayBufferView[])
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code !== 'ENOENT' && code !== 'ENODEV') log.error({ err, code }, 'writing a reply to /dev/fuse failed')
  }
}
