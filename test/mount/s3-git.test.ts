// git clone into an S3 mount: packs, lock files renamed into place, chmod,
// many small files; then git's own consistency check, with cold caches.
import { join } from 'node:path'
import t from 'tap'
import { gitEnv, makeGitRepo } from '../fixtures/git-repo.ts'
import { dropCaches, q, shOk } from './harness.ts'
import { s3Mounts } from './s3-mounts.ts'

t.setTimeout(900_000)

const s3 = await s3Mounts(t)
if (s3 !== undefined) {
  t.test('git clone into S3, then git fsck', async t => {
    const { m } = await s3.mountPrefix(t, 'git')
    const M = q(m.mountpoint)
    const origin = join(m.scratch, 'origin')
    const repo = makeGitRepo(origin)
    const genv = gitEnv(m.scratch)
    const git = (args: string): Promise<string> => shOk(`git -C ${M}/clone ${args}`, { env: genv, timeoutMs: 300_000 })

    await shOk(`git clone -q ${q(`file://${origin}`)} ${M}/clone`, { env: genv, timeoutMs: 300_000 })
    t.equal(await git('rev-parse HEAD'), `${repo.head}\n`, 'HEAD is the origin\'s')
    t.equal(await git('rev-list --count HEAD'), `${repo.commits}\n`, 'with all of its history')
    await git('fsck --full --strict')
    t.pass('git fsck passes')
    t.equal(await git('status --porcelain'), '', 'the work tree is clean')
    t.equal(await shOk(`stat -c %a ${M}/clone/bin/run.sh && readlink ${M}/clone/readme-link`), '755\nREADME.md\n',
      'the executable bit and the symlink were checked out')

    await shOk(`echo 'edited in objfs' >> ${M}/clone/README.md`)
    await git('commit -q -am edit')
    await git('gc -q')
    await m.remount()
    await dropCaches()
    await git('fsck --full --strict')
    t.pass('git fsck passes after a commit, gc and a remount')
    t.equal(await git('status --porcelain'), '', 'still clean with cold caches')
    t.equal(await git('rev-list --count HEAD'), `${repo.commits + 1}\n`)
  })
}
