// Memory-mapped files on the embedded store (mmap-cases.ts).
import t from 'tap'
import { LOCAL_BLOCK_SIZE } from '../../src/config.ts'
import { mmapCases } from './mmap-cases.ts'
import { mountObjfs, mountTier } from './harness.ts'

if (mountTier(t)) mmapCases(t, { mount: async (t, options) => await mountObjfs(t, { options }), blockSize: LOCAL_BLOCK_SIZE })
