// rsync into an S3 mount: every file goes through rsync's temporary name
// and a rename, which must cost no server-side copy (the file is uploaded
// once, under its final key), and a second rsync, even after a remount
// with cold caches, finds nothing to transfer.
import { join } from 'node:path'
import t from 'tap'
import { generateTree } from '../fixtures/tree.ts'
import { dropCaches, q, shOk } from './harness.ts'
import { s3Mounts } from './s3-mounts.ts'

t.setTimeout(1_200_000)

const s3 = await s3Mounts(t)
if (s3 !== undefined) {
  t.test('rsync -a into S3 and back', async t => {
    const { m } = await s3.mountPrefix(t, 'rsync')
    const M = q(m.mountpoint)
    const S = q(m.scratch)
    const tree = generateTree(join(m.scratch, 'src'), { seed: 7, files: 600, bigFiles: 2, symlinks: 10 })
    t.comment(`fixture: ${JSON.stringify(tree)}`)

    await shOk(`rsync -a ${S}/src/ ${M}/tree/`, { timeoutMs: 600_000 })
    const ops = (await m.stats()).store.backend.byOperation
    t.equal(ops.CopyObject ?? 0, 0, 'rsync\'s temp-file renames cost no server-side copy')
    await dropCaches()
    await shOk(`diff -r --no-dereference ${S}/src ${M}/tree`, { timeoutMs: 300_000 })
    t.pass('the tree in the mount equals the source')
    t.equal(await shOk(`rsync -a -i ${S}/src/ ${M}/tree/`, { timeoutMs: 300_000 }), '', 'a second rsync transfers nothing')

    await m.remount()
    await dropCaches()
    t.equal(await shOk(`rsync -a -i ${S}/src/ ${M}/tree/`, { timeoutMs: 300_000 }), '',
      'nor after a remount: modes, owners and times came back from the object metadata')
    await shOk(`rsync -a ${M}/tree/ ${S}/back/`, { timeoutMs: 300_000 })
    t.equal(await shOk(`rsync -a -n -i ${S}/src/ ${S}/back/`, { timeoutMs: 300_000 }), '', 'and a copy back out is identical')
  })
}
