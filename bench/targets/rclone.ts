// rclone mount of a local directory with its VFS write cache: the common
// way people mount object storage today, here over a local path so only
// rclone's own FUSE and VFS layers are measured. Issue 3 asks objfs to
// copy a small-file tree at least twice as fast as this.
import { join } from 'node:path'
import { fuseTarget } from './fuse.ts'
import type { Scratch } from './scratch.ts'

/**
 * `rclone mount` of `remote` as a user would run it, with its VFS write
 * cache. --daemon returns once the mount is live (--daemon-wait, 60 s by
 * default on Linux). The VFS cache and the log go to the target's scratch
 * dir, removed at teardown; --config /dev/null: nothing from a user's
 * rclone.conf changes the figures.
 */
export const rcloneMountArgv = (remote: string, s: Scratch): string[] => [
  'rclone', 'mount', remote, s.mnt,
  '--vfs-cache-mode', 'writes',
  '--cache-dir', join(s.root, 'cache'),
  '--config', '/dev/null',
  '--log-file', join(s.root, 'rclone.log'),
  '--daemon',
]

export const rclone = fuseTarget({
  name: 'rclone',
  // A local path is a remote as it stands.
  mountArgv: (s) => rcloneMountArgv(s.data, s),
  unmountArgv: (s) => ['fusermount3', '-u', s.mnt],
})
