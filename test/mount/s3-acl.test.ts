// POSIX ACLs on an S3 mount with -o acl: kept in the objects' metadata with
// the other extended attributes, the same modes and ACLs as tmpfs gives
// for the same commands, across a remount.
import t from 'tap'
import { reference, sameAsTmpfs } from './acl-cases.ts'
import { s3Mounts } from './s3-mounts.ts'

t.setTimeout(300_000)

const s3 = await s3Mounts(t)
if (s3 !== undefined) {
  t.test('setfacl, chmod, default ACLs and the umask as on tmpfs, kept across a remount', async t => {
    const { expected } = await reference(t)
    const { m } = await s3.mountPrefix(t, 'acl', ['acl'])
    await sameAsTmpfs(t, m, expected, 120_000)
  })
}
