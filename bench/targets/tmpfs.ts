// tmpfs: page cache with no backing and no daemon, the ceiling any
// filesystem on this machine can reach.
import { runChild, describeFailure } from '../child.ts'
import { isMounted } from '../proc.ts'
import { makeScratch, removeScratch } from './scratch.ts'
import { unmount } from './unmount.ts'
import { NotRunnable, type Target } from './types.ts'

export const tmpfs: Target = {
  name: 'tmpfs',
  group: 'local',
  async setup (env) {
    const s = makeScratch(env.workdir, 'tmpfs')
    const r = await runChild('mount', ['-t', 'tmpfs', 'objfs-bench', s.mnt], { timeoutMs: 10_000, signal: env.signal })
    if (!isMounted(s.mnt)) {
      removeScratch(s, env.log)
      throw new NotRunnable(describeFailure('mount -t tmpfs', r))
    }
    let done: Promise<void> | undefined
    return {
      dir: s.mnt,
      daemonPids: [],
      detail: `mount -t tmpfs objfs-bench ${s.mnt}`,
      teardown: () => (done ??= (async () => {
        try {
          await unmount(s.mnt, ['umount', s.mnt], env.log)
        } catch (err) {
          env.log(`tmpfs: could not unmount ${s.mnt}: ${(err as Error).message}`)
        }
        removeScratch(s, env.log)
      })()),
    }
  },
}
