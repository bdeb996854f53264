// git clone into the mount: packs, index, renames, chmod and many small
// files, then git's own consistency check.
import { join } from 'node:path'
import t from 'tap'
import { gitEnv, makeGitRepo } from '../fixtures/git-repo.ts'
import { dropCaches, mountObjfs, mountTier, q, shOk } from './harness.ts'

t.setTimeout(900_000)

if (mountTier(t)) {
  t.test('git clone into the mount', async t => {
    const m = await mountObjfs(t)
    const M = q(m.mountpoint)
    const origin = join(m.scratch, 'origin')
    const repo = makeGitRepo(origin)
    const env = gitEnv(m.scratch)
    const git = (args: string): Promise<string> => shOk(`git -C ${M}/clone ${args}`, { env, timeoutMs: 300_000 })

    await shOk(`git clone -q ${q(`file://${origin}`)} ${M}/clone`, { env, timeoutMs: 300_000 })
    t.equal(await git('rev-parse HEAD'), `${repo.head}\n`, 'HEAD is the origin\'s')
    t.equal(await git('rev-list --count HEAD'), `${repo.commits}\n`, 'with all of its history')
    t.equal(await git(`for-each-ref --format='%(refname)' refs/remotes`),
      'refs/remotes/origin/HEAD\nrefs/remotes/origin/feature\nrefs/remotes/origin/main\n', 'every branch came along')
    t.equal(await git('tag'), 'v1\n')
    await git('fsck --full --strict')
    t.pass('git fsck passes')
    t.equal(await git('status --porcelain'), '', 'the work tree is clean')
    t.equal(await shOk(`stat -c %a ${M}/clone/bin/run.sh && readlink ${M}/clone/readme-link`), '755\nREADME.md\n',
      'the executable bit and the symlink were checked out')

    // Work inside the clone: checkout, commit, repack.
    await git('switch -q feature')
    t.equal(await shOk(`cat ${M}/clone/feature/notes.txt`), 'feature work\nmore\n')
    await git('switch -q main')
    await shOk(`echo 'edited in objfs' >> ${M}/clone/README.md`)
    await git('commit -q -am edit')
    await git('gc -q')
    await dropCaches()
    await git('fsck --full --strict')
    t.pass('git fsck passes after a commit and gc')
    t.equal(await git('status --porcelain'), '', 'still clean with cold caches')
    t.equal(await git('rev-list --count HEAD'), `${repo.commits + 1}\n`)
  })
}
