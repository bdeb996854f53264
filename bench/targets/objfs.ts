// objfs on the embedded local store, mounted and unmounted by its own CLI.
import { fileURLToPath } from 'node:url'
import { fuseTarget } from './fuse.ts'

export const OBJFS_BIN = fileURLToPath(new URL('../../bin/objfs', import.meta.url))

export const objfs = fuseTarget({
  name: 'objfs',
  mountArgv: (s, env) => [OBJFS_BIN, 'mount', `local:${s.data}`, s.mnt, ...(env.objfsOpts === '' ? [] : ['-o', env.objfsOpts])],
  unmountArgv: (s) => [OBJFS_BIN, 'umount', s.mnt],
})
