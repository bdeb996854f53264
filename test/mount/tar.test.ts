// tar: an archive written into the mount, then unpacked inside the mount.
import { join } from 'node:path'
import t from 'tap'
import { generateTree } from '../fixtures/tree.ts'
import { dropCaches, mountObjfs, mountTier, q, sameLines, shOk } from './harness.ts'

t.setTimeout(900_000)

/**
 * Type, mode, owner, size, link target and mtime (seconds: tar's precision)
 * of every entry; a directory's size is the filesystem's own business.
 */
const listing = (dir: string): string => `cd ${q(dir)} && {
  find . ! -type d -printf '%P %y %m %u %g %s %l %Ts\\n'
  find . -type d -printf '%P %y %m %u %g %Ts\\n'
} | sort`

if (mountTier(t)) {
  t.test('tar -c into and tar -x inside the mount', async t => {
    const m = await mountObjfs(t)
    const M = q(m.mountpoint)
    const S = q(m.scratch)
    generateTree(join(m.scratch, 'src'), { seed: 7, files: 400, bigFiles: 1, symlinks: 10, hardlinks: 3 })

    await shOk(`tar -C ${S}/src -cf ${S}/ref.tar . && tar -C ${S}/src -cf ${M}/a.tar .`, { timeoutMs: 300_000 })
    await dropCaches()
    t.equal(await shOk(`sha256sum < ${M}/a.tar`), await shOk(`sha256sum < ${S}/ref.tar`),
      'the archive in the mount is byte for byte the one tar writes to local disk')

    await shOk(`mkdir ${M}/x && tar -C ${M}/x -xf ${M}/a.tar`, { timeoutMs: 300_000 })
    await dropCaches()
    await shOk(`diff -r --no-dereference ${S}/src ${M}/x`, { timeoutMs: 300_000 })
    t.pass('the unpacked tree equals the source')
    sameLines(t, await shOk(listing(`${m.mountpoint}/x`)), await shOk(listing(`${m.scratch}/src`)),
      'modes, owners, sizes, links and times were restored')
    t.equal(await shOk(`cd ${M}/x && find . -type f -links +1 | wc -l`), await shOk(`cd ${S}/src && find . -type f -links +1 | wc -l`),
      'hard links were restored as hard links')
  })
}
