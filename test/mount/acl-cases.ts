// What the ACL mount tests run on objfs and on tmpfs (the kernel's own
// rules) alike, on the embedded store and on S3.
import { join } from 'node:path'
import type { Test } from 'tap'
import { q, sameLines, sh, shOk, tempDir, type Mount } from './harness.ts'

/** Every kind of ACL change, run in the current directory. */
const MAKE = `
  umask 022
  touch f && chmod 640 f && setfacl -m u:1000:rw,g:100:r f
  chmod 604 f
  mkdir d && setfacl -d -m u:1000:rwx,g::rx,o::- d
  touch d/new; mkdir d/sub; mkdir -m 700 d/priv; (umask 077; touch d/masked; mkdir d/masked-dir)
  mknod d/fifo p; ln -s ../f d/link; echo x > d/sub/deeper
  mkdir plain; (umask 027; touch plain/u027; mkdir plain/dir027)
  touch min && setfacl -m u::rwx,g::r,o::- min
  touch cleared && setfacl -m u:1000:r cleared && setfacl -b cleared
  mkdir d2 && setfacl -m d:u:1000:r d2 && setfacl -k d2 && touch d2/after
  touch removed && setfacl -m g:100:rwx removed && setfattr -x system.posix_acl_access removed
`

/** Modes, ACLs and which ACL xattrs exist, for everything MAKE made. */
export const REPORT = `
  find . -mindepth 1 | LC_ALL=C sort | while read -r x; do
    echo "== $x $(stat -c %A "$x")"
    [ -L "$x" ] || getfacl -cpn "$x"
    getfattr -h -m '^system[.]posix_acl' "$x" 2>/dev/null | grep posix_acl || true
  done
`

/** A tmpfs of its own with MAKE run in it: the kernel's own ACL rules, and the REPORT they give. */
export async function reference (t: Test): Promise<{ dir: string, expected: string }> {
  const dir = join(tempDir(t), 'tmpfs')
  await shOk(`mkdir ${q(dir)} && mount -t tmpfs objfs-acl-test ${q(dir)}`)
  t.teardown(async () => { await sh(`umount ${q(dir)} || umount -l ${q(dir)}`) })
  await shOk(inDir(dir, MAKE))
  return { dir, expected: await shOk(inDir(dir, REPORT)) }
}

/** MAKE on `m` gives the REPORT tmpfs gave, and again after a remount. */
export async function sameAsTmpfs (t: Test, m: Mount, expected: string, timeoutMs?: number): Promise<void> {
  await shOk(inDir(m.mountpoint, MAKE), { timeoutMs })
  sameLines(t, await shOk(inDir(m.mountpoint, REPORT)), expected, 'the same modes and ACLs as tmpfs')
  await m.remount()
  sameLines(t, await shOk(inDir(m.mountpoint, REPORT)), expected, 'and after a remount')
}

export const inDir = (dir: string, script: string): string => `cd ${q(dir)}\n${script}`
