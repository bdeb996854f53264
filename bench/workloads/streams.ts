// Cold sequential reads of four files at once, each by a reader of its
// own: a data loader's workers reading their shards. Read-ahead that serves
// one stream well can still starve several (src/workers/read-ahead.ts).
import { join } from 'node:path'
import { fioStreams, nodeChild } from './engines.ts'
import { seqTimeoutMs } from './seq.ts'
import type { StepContext, Workload } from './types.ts'

const STREAMS = 4
const dir = (ctx: StepContext): string => join(ctx.dir, 'streams')
/** The sequential file's size, shared out: the same bytes as seq-read. */
const each = (fileBytes: number): number => Math.floor(fileBytes / STREAMS / (1024 * 1024)) * 1024 * 1024

export const streams: Workload = {
  name: 'streams',
  family: 'seq',
  needs: [],
  steps: [
    {
      name: `seq-read-${STREAMS}`,
      unit: 'bytes',
      amount: (s) => each(s.fileBytes) * STREAMS,
      coldCache: true,
      timeoutMs: (s) => seqTimeoutMs(s.fileBytes),
      run: (ctx) => fioStreams(ctx, 'read', dir(ctx), each(ctx.sizes.fileBytes), STREAMS),
    },
  ],
  // Untimed: the files are written first, by as many writers.
  prepare: async (ctx) => {
    await nodeChild(ctx, ['mkdir', dir(ctx)])
    await fioStreams({ ...ctx, timeoutMs: seqTimeoutMs(ctx.sizes.fileBytes) }, 'write', dir(ctx), each(ctx.sizes.fileBytes), STREAMS)
  },
  cleanup: async (ctx) => { await nodeChild(ctx, ['rm', ctx.dir]) },
}
