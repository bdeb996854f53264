// cp -a: a tree copied into the mount and back keeps modes, owners, times,
// symlinks and hard links.
import { join } from 'node:path'
import t from 'tap'
import { generateTree } from '../fixtures/tree.ts'
import { dropCaches, mountObjfs, mountTier, q, sameLines, shOk } from './harness.ts'

t.setTimeout(900_000)

/** Everything cp -a promises to keep, per entry; directories' link counts are the filesystem's own. */
const listing = (dir: string): string => `cd ${q(dir)} && {
  find . ! -type d -printf '%P %y %m %u %g %s %n %T@ %l\\n'
  find . -type d -printf '%P %y %m %u %g %T@\\n'
} | sort`

if (mountTier(t)) {
  t.test('cp -a', async t => {
    const m = await mountObjfs(t)
    const M = q(m.mountpoint)
    const S = q(m.scratch)
    generateTree(join(m.scratch, 'src'), { seed: 11, files: 500, bigFiles: 2, symlinks: 15, hardlinks: 4 })
    const want = await shOk(listing(`${m.scratch}/src`))

    await shOk(`cp -a ${S}/src ${M}/copy`, { timeoutMs: 300_000 })
    await dropCaches()
    t.equal(await shOk(`rsync -a -H -n -i ${S}/src/ ${M}/copy/`, { timeoutMs: 300_000 }), '',
      'rsync -n -i finds no difference between the source and the copy')
    sameLines(t, await shOk(listing(`${m.mountpoint}/copy`)), want, 'stat listings match')
    await shOk(`diff -r --no-dereference ${S}/src ${M}/copy`, { timeoutMs: 300_000 })
    t.pass('contents match')

    await shOk(`cp -a ${M}/copy ${S}/back`, { timeoutMs: 300_000 })
    sameLines(t, await shOk(listing(`${m.scratch}/back`)), want, 'and again after copying back out')
  })
}
