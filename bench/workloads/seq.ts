// Sequential write then cold-cache read of one large file, 1 MiB at a time:
// the streaming throughput of the data path (block cache, coalescing,
// read-ahead, store writes).
import { join } from 'node:path'
import { fio, fioJob, nodeChild } from './engines.ts'
import type { StepContext, Workload } from './types.ts'

const MiB = 1024 * 1024
// Generous floor: a slow daemon still finishes 1 GiB at 4 MiB/s.
export const seqTimeoutMs = (bytes: number): number => 60_000 + (bytes / (4 * MiB)) * 1000
const file = (ctx: StepContext): string => join(ctx.dir, 'seq.dat')

export const seq: Workload = {
  name: 'seq',
  family: 'seq',
  needs: [],
  steps: [
    {
      name: 'seq-write',
      unit: 'bytes',
      amount: (s) => s.fileBytes,
      coldCache: false,
      timeoutMs: (s) => seqTimeoutMs(s.fileBytes),
      // fio's buffers are random (incompressible); without fio, the Node child writes random chunks.
      run: (ctx) => fio() !== null
        ? fioJob(ctx, 'write', file(ctx), ctx.sizes.fileBytes)
        : nodeChild(ctx, ['write', file(ctx), String(ctx.sizes.fileBytes)]),
    },
    {
      name: 'seq-read',
      unit: 'bytes',
      amount: (s) => s.fileBytes,
      coldCache: true,
      timeoutMs: (s) => seqTimeoutMs(s.fileBytes),
      run: (ctx) => fio() !== null
        ? fioJob(ctx, 'read', file(ctx), ctx.sizes.fileBytes)
        : nodeChild(ctx, ['read', file(ctx), String(ctx.sizes.fileBytes)]),
    },
  ],
  prepare: async (ctx) => { await nodeChild(ctx, ['mkdir', ctx.dir]) },
  cleanup: async (ctx) => { await nodeChild(ctx, ['rm', ctx.dir]) },
}
