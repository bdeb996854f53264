// Memory-mapped files on an S3 mount (mmap-cases.ts), at the S3 store's
// default block size.
import t from 'tap'
import { S3_BLOCK_SIZE } from '../../src/config.ts'
import { mmapCases } from './mmap-cases.ts'
import { s3Mounts } from './s3-mounts.ts'

t.setTimeout(600_000)

const s3 = await s3Mounts(t)
if (s3 !== undefined) mmapCases(t, { mount: async (t, options) => (await s3.mountPrefix(t, 'mmap', options)).m, blockSize: S3_BLOCK_SIZE })
