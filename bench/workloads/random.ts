// Random 4 KiB reads of a large file with cold caches: what a database or
// an image viewer seeking around a file sees, and where a block store's
// block size and read-ahead cost the most (each miss may fetch a block).
import { join } from 'node:path'
import { fioJob, fioRandRead, nodeChild } from './engines.ts'
import { seqTimeoutMs } from './seq.ts'
import type { StepContext, Workload } from './types.ts'

const file = (ctx: StepContext): string => join(ctx.dir, 'random.dat')

export const random: Workload = {
  name: 'random',
  family: 'random',
  needs: [],
  steps: [
    {
      name: 'rand-read',
      unit: 'ios',
      // Time-based: fio reports the reads it did; this is only the order of magnitude.
      amount: (s) => s.randomSeconds * 1000,
      coldCache: true,
      timeoutMs: (s) => 120_000 + s.randomSeconds * 1000,
      run: (ctx) => fioRandRead(ctx, file(ctx), ctx.sizes.fileBytes, ctx.sizes.randomSeconds),
    },
  ],
  // Untimed: lay the file out with a sequential write (fio would otherwise
  // lay it out inside the job, with warm caches after it).
  prepare: async (ctx) => {
    await nodeChild(ctx, ['mkdir', ctx.dir])
    await fioJob({ ...ctx, timeoutMs: seqTimeoutMs(ctx.sizes.fileBytes) }, 'write', file(ctx), ctx.sizes.fileBytes)
  },
  cleanup: async (ctx) => { await nodeChild(ctx, ['rm', ctx.dir]) },
}
