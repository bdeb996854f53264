// Unmounting a target: the polite command first (objfs umount, fusermount3
// -u, umount), then forceUnmount (lazy unmount, abort of the FUSE
// connection) when the polite one fails or hangs because the daemon does.
import { forceUnmount, type ForceUnmountResult } from '../../src/channel/unmount.ts'
import { runChild, describeFailure } from '../child.ts'
import { isMounted } from '../proc.ts'

const POLITE_TIMEOUT_MS = 15_000
const FORCE_TIMEOUT_MS = 10_000
// A step child killed a moment ago may still be closing its files (FUSE
// FLUSH/RELEASE): "busy" for a short while, which is no reason to force.
const BUSY_RETRIES = 4
const BUSY_WAIT_MS = 500

/** Rejects only when the mount could not be removed even by force. */
export async function unmount (mountpoint: string, polite: string[], log: (msg: string) => void): Promise<ForceUnmountResult> {
  if (!isMounted(mountpoint)) return 'not-mounted'
  let r = await runChild(polite[0], polite.slice(1), { timeoutMs: POLITE_TIMEOUT_MS })
  for (let i = 0; i < BUSY_RETRIES && !r.timedOut && isMounted(mountpoint); i++) {
    await new Promise((resolve) => setTimeout(resolve, BUSY_WAIT_MS))
    r = await runChild(polite[0], polite.slice(1), { timeoutMs: POLITE_TIMEOUT_MS })
  }
  if (!isMounted(mountpoint)) return 'unmounted'
  log(`${describeFailure(polite.join(' '), r)}; forcing`)
  return await forceUnmount(mountpoint, { timeoutMs: FORCE_TIMEOUT_MS, log })
}
