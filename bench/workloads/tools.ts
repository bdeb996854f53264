// Everyday tools on the target: a git clone (many small files written by
// one process, plus a pack copied in), tar -x and cp -a of the generated
// tree, and rm -rf of it.
import { join } from 'node:path'
import { warm } from '../fixtures/index.ts'
import { gitEnv } from '../fixtures/repo.ts'
import { command } from './commands.ts'
import { nodeChild } from './engines.ts'
import { treeFiles, treeOf, treeTimeoutMs } from './rsync.ts'
import { StepFailed, type Sizes, type Step, type StepContext, type Workload } from './types.ts'

const where = (ctx: StepContext, name: string): string => join(ctx.dir, name)
const cloneTimeoutMs = (s: Sizes): number => 60_000 + s.repo.files * 50 + s.repo.commits * 200

function repoOf (ctx: StepContext): string {
  if (ctx.fixtures.repo === undefined) throw new StepFailed('no fixture repository (internal: workload did not declare it)')
  return ctx.fixtures.repo.dir
}

function tarballOf (ctx: StepContext): string {
  if (ctx.fixtures.tarball === undefined) throw new StepFailed('no fixture tarball (internal: workload did not declare it)')
  return ctx.fixtures.tarball
}

const gitClone: Step = {
  name: 'git-clone',
  unit: 'files',
  amount: (s) => s.repo.files,
  coldCache: false,
  timeoutMs: cloneTimeoutMs,
  before: async (ctx) => { warm(repoOf(ctx)) },
  // --no-hardlinks: a local clone would otherwise try to link the objects
  // across filesystems and fall back to copying anyway; this says so.
  run: (ctx) => command(ctx, ['git', 'clone', '-q', '--no-hardlinks', repoOf(ctx), where(ctx, 'repo')], { env: gitEnv() }),
}

const tarX: Step = {
  name: 'tar-x',
  unit: 'files',
  amount: treeFiles,
  coldCache: false,
  timeoutMs: treeTimeoutMs,
  before: async (ctx) => {
    await nodeChild(ctx, ['rm', where(ctx, 'repo')])
    await nodeChild(ctx, ['mkdir', where(ctx, 'tar')])
    warm(tarballOf(ctx))
  },
  run: (ctx) => command(ctx, ['tar', '-xf', tarballOf(ctx), '-C', where(ctx, 'tar')]),
}

const cpA: Step = {
  name: 'cp-a',
  unit: 'files',
  amount: treeFiles,
  coldCache: false,
  timeoutMs: treeTimeoutMs,
  before: async (ctx) => {
    await nodeChild(ctx, ['rm', where(ctx, 'tar')])
    warm(treeOf(ctx).root)
  },
  // The destination does not exist: cp creates it as a copy of the tree's root.
  run: (ctx) => command(ctx, ['cp', '-a', treeOf(ctx).root, where(ctx, 'cp')]),
}

const rmRf: Step = {
  name: 'rm-rf',
  unit: 'files',
  amount: treeFiles,
  // Warm, as right after the copy: the usual way a tree gets removed.
  coldCache: false,
  timeoutMs: treeTimeoutMs,
  run: (ctx) => command(ctx, ['rm', '-rf', where(ctx, 'cp')]),
}

export const tools: Workload = {
  name: 'tools',
  family: 'tools',
  needs: ['tree', 'tarball', 'repo'],
  steps: [gitClone, tarX, cpA, rmRf],
  prepare: async (ctx) => { await nodeChild(ctx, ['mkdir', ctx.dir]) },
  cleanup: async (ctx) => { await nodeChild(ctx, ['rm', ctx.dir]) },
}
