// Worker thread for local.test.ts: one more LocalStore instance writing
// into the same store at the same time as its siblings.
import { parentPort, workerData } from 'node:worker_threads'
import { LocalStore } from '../../src/store/local/store.ts'
import type { ObjectId } from '../../src/store/types.ts'

interface Job { url: string, dirId: ObjectId, fileId: ObjectId, worker: number, workers: number, count: number }

const job = workerData as Job
const s = await LocalStore.open({ url: job.url, blockSize: 0, readOnly: false, create: false, options: {} })
const bs = s.blockSize
for (let i = 0; i < job.count; i++) {
  // Interleaved indexes: every worker raises the size past the others.
  const index = i * job.workers + job.worker
  await s.writeBlocks(job.fileId, [{ index, data: new Uint8Array(bs).fill(index % 251 + 1) }], (index + 1) * bs, { sec: 1, nsec: 0 })
  await s.create(job.dirId, `w${job.worker}-${i}`, { mode: 0o40755, uid: 0, gid: 0 })
}
await s.close()
parentPort?.postMessage('done')
