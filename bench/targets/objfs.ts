// objfs on the embedded local store, mounted and unmounted by its own CLI.
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { fuseTarget } from './fuse.ts'

export const OBJFS_BIN = fileURLToPath(new URL('../../bin/objfs', import.meta.url))

export const objfs = fuseTarget({
  name: 'objfs',
  // Its log and keeper state in the scratch directory, which teardown
  // removes: under /run/objfs (the default) one log per run piled up.
  // Options given with --objfs-opts come after, so they win.
  mountArgv: (s, env) => [OBJFS_BIN, 'mount', `local:${s.data}`, s.mnt,
    '-o', `state_dir=${join(s.root, 'state')},log_file=${join(s.root, 'objfs.log')}`, ...(env.objfsOpts === '' ? [] : ['-o', env.objfsOpts])],
  unmountArgv: (s) => [OBJFS_BIN, 'umount', s.mnt],
})
