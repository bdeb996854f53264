// POSIX ACLs on an S3 mount with -o acl: kept in the objects' metadata with
// the other extended attributes, the same modes and ACLs as tmpfs gives
// for the same commands, across a remount.
import t from 'tap'
import { inDir, MAKE, REPORT, tmpfs } from './acl-cases.ts'
import { sameLines, shOk } from './harness.ts'
import { s3Mounts } from './s3-mounts.ts'

t.setTimeout(300_000)

const s3 = await s3Mounts(t)
if (s3 !== undefined) {
  t.test('setfacl, chmod, default ACLs and the umask as on tmpfs, kept across a remount', async t => {
    const reference = await tmpfs(t)
    await shOk(inDir(reference, MAKE))
    const expected = await shOk(inDir(reference, REPORT))
    const { m } = await s3.mountPrefix(t, 'acl', ['acl'])
    await shOk(inDir(m.mountpoint, MAKE), { timeoutMs: 120_000 })
    sameLines(t, await shOk(inDir(m.mountpoint, REPORT)), expected, 'the same modes and ACLs as tmpfs')
    await m.remount()
    sameLines(t, await shOk(inDir(m.mountpoint, REPORT)), expected, 'and after a remount')
  })
}
