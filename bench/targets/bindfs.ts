// bindfs: a mature libfuse filesystem passing calls through to a directory.
// The FUSE peer: what a plain pass-through daemon costs on this machine.
import { fuseTarget } from './fuse.ts'

export const bindfs = fuseTarget({
  name: 'bindfs',
  mountArgv: (s) => ['bindfs', s.data, s.mnt],
  unmountArgv: (s) => ['fusermount3', '-u', s.mnt],
})
