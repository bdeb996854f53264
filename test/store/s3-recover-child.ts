// A serving process that writes into an S3 store and is then killed (kill -9)
// by s3-recover.test.ts: what it staged and did not upload must be taken
// over by a successor. argv: JSON job. Prints "ready" once everything is
// staged (each call returned: as acknowledged to the kernel) and waits.
import { S3Store } from '../../src/store/s3/store.ts'
import type { ObjectId } from '../../src/store/types.ts'
import { pattern } from './conformance/helpers.ts'

interface Job { bucket: string, prefix: string, options: Record<string, string>, keeper: number | undefined, blockSize: number }

const job = JSON.parse(process.argv[2]) as Job
const bs = job.blockSize
const T = { sec: 1_700_000_000, nsec: 5 }
const s = await S3Store.open({
  url: `s3://${job.bucket}/${job.prefix}`, blockSize: bs, readOnly: false, create: true, options: job.options,
  takeover: job.keeper === undefined ? undefined : { keeper: job.keeper, resumed: false },
}, { bucket: job.bucket, prefix: job.prefix })
const root = (await s.root()).id
const create = async (name: string): Promise<ObjectId> => (await s.create(root, name, { mode: 0o100644, uid: 1234, gid: 5678 })).id

// A new file, three blocks and a short fourth, closed, with a mode and an xattr.
const f = await create('f')
for (let i = 0; i < 3; i++) await s.writeBlocks(f, [{ index: i, data: pattern(bs, i) }], (i + 1) * bs, T)
await s.writeBlocks(f, [{ index: 3, data: pattern(1000, 3) }], 3 * bs + 1000, T)
await s.setattr(f, { mode: 0o600 })
await s.setxattr(f, 'user.k', new TextEncoder().encode('v'), 0)
await s.flush(f)
// Written, then renamed before its upload (rsync's way): staged under its final key only.
const tmp = await create('.tmp')
await s.writeBlocks(tmp, [{ index: 0, data: pattern(5000, 9) }], 5000, T)
await s.flush(tmp)
await s.rename(root, '.tmp', root, 'renamed', 0)
// An object on the server (put by the test), its second block rewritten here: base plus staged.
await s.writeBlocks(`${job.prefix}/edited` as ObjectId, [{ index: 1, data: pattern(bs, 77) }], 2 * bs, T)
// Created and unlinked: must not come back.
await create('gone')
await s.remove(root, 'gone', false)
// Large enough to stream its parts: a multipart upload under way at the crash.
if (job.options.stream_threshold !== undefined) {
  const big = await create('big')
  for (let i = 0; i < 16; i++) await s.writeBlocks(big, [{ index: i, data: pattern(bs, 100 + i) }], (i + 1) * bs, T)
}
console.log('ready')
setInterval(() => {}, 1000)
