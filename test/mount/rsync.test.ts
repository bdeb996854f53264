// rsync of a few thousand files into the mount and back out. Without
// --inplace rsync writes each file under a temporary name and renames it
// over the target, and it sets modes and times after writing.
import { join } from 'node:path'
import t from 'tap'
import { generateTree } from '../fixtures/tree.ts'
import { dropCaches, mountObjfs, mountTier, q, shOk } from './harness.ts'

t.setTimeout(1_800_000)

if (mountTier(t)) {
  t.test('rsync -a in and out', async t => {
    const m = await mountObjfs(t)
    const M = q(m.mountpoint)
    const S = q(m.scratch)
    const tree = generateTree(join(m.scratch, 'src'), { seed: 42, files: 3000, bigFiles: 3, symlinks: 20 })
    t.comment(`fixture: ${JSON.stringify(tree)}`)

    await shOk(`rsync -a ${S}/src/ ${M}/tree/`, { timeoutMs: 900_000 })
    await dropCaches()
    await shOk(`diff -r --no-dereference ${S}/src ${M}/tree`, { timeoutMs: 300_000 })
    t.pass('the tree in the mount equals the source')

    await shOk(`rsync -a ${M}/tree/ ${S}/back/`, { timeoutMs: 600_000 })
    await shOk(`diff -r --no-dereference ${S}/src ${S}/back`, { timeoutMs: 300_000 })
    t.pass('the tree copied back out equals the source')
    t.equal(await shOk(`rsync -a -n -i ${S}/src/ ${S}/back/`, { timeoutMs: 300_000 }), '',
      'modes, owners and times survived the round trip')

    await dropCaches()
    t.equal(await shOk(`rsync -a -i ${S}/src/ ${M}/tree/`, { timeoutMs: 600_000 }), '',
      'a second rsync into the mount finds nothing to transfer')
  })
}
