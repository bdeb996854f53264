// Create, stat and unlink many empty files in one directory: the metadata
// path (lookup, create, getattr, unlink round trips and the store's
// transactions), with no data at all.
import { nodeChild } from './engines.ts'
import type { Workload } from './types.ts'

// Generous floor: 20 ms per file is far slower than any working daemon.
const timeoutMs = (count: number): number => 60_000 + count * 20

export const files: Workload = {
  name: 'files',
  family: 'meta',
  needs: [],
  steps: [
    {
      name: 'files-create',
      unit: 'ops',
      amount: (s) => s.fileCount,
      coldCache: false,
      timeoutMs: (s) => timeoutMs(s.fileCount),
      run: (ctx) => nodeChild(ctx, ['create', ctx.dir, String(ctx.sizes.fileCount)]),
    },
    {
      name: 'files-stat',
      unit: 'ops',
      amount: (s) => s.fileCount,
      // Cold: with warm dentries the kernel answers from its own cache and
      // the daemon is never asked, which measures nothing of ours.
      coldCache: true,
      timeoutMs: (s) => timeoutMs(s.fileCount),
      run: (ctx) => nodeChild(ctx, ['stat', ctx.dir, String(ctx.sizes.fileCount)]),
    },
    {
      name: 'files-unlink',
      unit: 'ops',
      amount: (s) => s.fileCount,
      coldCache: false,
      timeoutMs: (s) => timeoutMs(s.fileCount),
      run: (ctx) => nodeChild(ctx, ['unlink', ctx.dir, String(ctx.sizes.fileCount)]),
    },
  ],
  prepare: async (ctx) => { await nodeChild(ctx, ['mkdir', ctx.dir]) },
  cleanup: async (ctx) => { await nodeChild(ctx, ['rm', ctx.dir]) },
}
