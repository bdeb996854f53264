// rsync of the generated tree: into the target by 1, 2, 4 and 8 rsync
// processes at once (each a share of the top-level directories), the
// no-change second pass, and out of the target with cold caches. The
// small-file case users actually have, and issue 3's headline goal.
import { join } from 'node:path'
import { resetHostOut, tally, warm } from '../fixtures/index.ts'
import { shares, type TreeFixture } from '../fixtures/tree.ts'
import { command, parallel } from './commands.ts'
import { nodeChild } from './engines.ts'
import { StepFailed, type Sizes, type Step, type StepContext, type Workload } from './types.ts'

const MiB = 1024 * 1024
export const PROCESSES = [1, 2, 4, 8]

export const treeFiles = (s: Sizes): number => s.tree.smallFiles + s.tree.bigFiles
const treeBytes = (s: Sizes): number => s.tree.smallFiles * (s.tree.minBytes + s.tree.maxBytes) / 2 + s.tree.bigFiles * s.tree.bigFileBytes
// Generous floor: 50 ms per file and 4 MiB/s is far slower than any working daemon.
export const treeTimeoutMs = (s: Sizes): number => 60_000 + treeFiles(s) * 50 + (treeBytes(s) / (4 * MiB)) * 1000

export function treeOf (ctx: StepContext): TreeFixture {
  if (ctx.fixtures.tree === undefined) throw new StepFailed('no fixture tree (internal: workload did not declare it)')
  return ctx.fixtures.tree
}

const copy = (ctx: StepContext): string => join(ctx.dir, 'copy')
// No trailing slash on the sources: each top-level directory lands inside the copy.
const sources = (tree: TreeFixture, dirs: string[]): string[] => dirs.map((d) => join(tree.root, d))

function rsyncIn (n: number): Step {
  return {
    name: `rsync-${n}`,
    unit: 'files',
    amount: treeFiles,
    coldCache: false,
    timeoutMs: treeTimeoutMs,
    before: async (ctx) => {
      await nodeChild(ctx, ['rm', copy(ctx)])
      await nodeChild(ctx, ['mkdir', copy(ctx)])
      warm(treeOf(ctx).root)
    },
    run: (ctx) => parallel(ctx, shares(treeOf(ctx), n).map((dirs) => ['rsync', '-a', ...sources(treeOf(ctx), dirs), copy(ctx) + '/'])),
  }
}

const noop: Step = {
  name: 'rsync-noop',
  unit: 'files',
  amount: treeFiles,
  coldCache: false,
  timeoutMs: treeTimeoutMs,
  before: async (ctx) => { warm(treeOf(ctx).root) },
  // The same rsync once more over the last copy: it should find every file
  // up to date (size and mtime) and change nothing. -i itemizes each change.
  run: async (ctx) => {
    const tree = treeOf(ctx)
    const o = await command(ctx, ['rsync', '-a', '-i', ...sources(tree, tree.topDirs.map((t) => t.name)), copy(ctx) + '/'])
    const changed = o.stdout.split('\n').filter((l) => l.trim() !== '')
    const invalid = changed.length === 0 ? undefined : `second pass changed ${changed.length} items, e.g. '${changed[0].trim()}'`
    return { seconds: o.seconds, wallSeconds: o.wallSeconds, engine: o.engine, invalid }
  },
}

const out: Step = {
  name: 'rsync-out',
  unit: 'files',
  amount: treeFiles,
  // Cold: the copy comes from the daemon, not from the page cache it filled.
  coldCache: true,
  timeoutMs: treeTimeoutMs,
  before: async (ctx) => { resetHostOut(ctx.fixtures) },
  run: async (ctx) => {
    const o = await command(ctx, ['rsync', '-a', copy(ctx) + '/', ctx.fixtures.hostOut + '/'])
    const tree = treeOf(ctx)
    const got = tally(ctx.fixtures.hostOut)
    if (got.files !== tree.files || got.bytes !== tree.bytes) {
      throw new StepFailed(`copied out ${got.files} files, ${got.bytes} bytes; the tree has ${tree.files}, ${tree.bytes}`)
    }
    return { seconds: o.seconds, wallSeconds: o.wallSeconds, engine: o.engine }
  },
}

export const rsync: Workload = {
  name: 'rsync',
  family: 'rsync',
  needs: ['tree'],
  // The no-change pass and the copy out use the copy the 8-process rsync left.
  steps: [...PROCESSES.map(rsyncIn), noop, out],
  prepare: async (ctx) => { await nodeChild(ctx, ['mkdir', ctx.dir]) },
  cleanup: async (ctx) => {
    resetHostOut(ctx.fixtures)
    await nodeChild(ctx, ['rm', ctx.dir])
  },
}
