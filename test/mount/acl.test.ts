// POSIX ACLs on real mounts. Without -o acl they are refused (EOPNOTSUPP),
// and the log says how to keep them. With it, setfacl, chmod, default ACLs
// and the umask give what tmpfs gives for the same commands. cp -a and
// rsync -aAX copy them, they survive a remount, and the kernel enforces
// them for other users.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { defaultLogFile } from '../../src/keeper/state.ts'
import { inDir, reference, REPORT, sameAsTmpfs } from './acl-cases.ts'
import { asNobody, mountObjfs, mountTier, NOBODY, q, sameLines, sh, shOk, tempDir, traversable } from './harness.ts'

if (mountTier(t)) {
  t.test('without -o acl: ACLs are refused, and the log says how to keep them', async t => {
    const m = await mountObjfs(t)
    const M = q(m.mountpoint)
    await shOk(`touch ${M}/f && chmod 640 ${M}/f`)
    const r = await sh(`setfacl -m u:1000:r ${M}/f`)
    t.not(r.code, 0, 'setfacl fails')
    t.match(r.stderr, /Operation not supported/, 'with EOPNOTSUPP')
    t.equal(await shOk(`stat -c %a ${M}/f`), '640\n', 'the mode is untouched')
    await m.unmount()
    t.match(readFileSync(defaultLogFile(m.mountpoint), 'utf8'), /mount with -o acl/, 'the daemon\'s log names the option')
  })

  t.test('with -o acl: setfacl, chmod, default ACLs and the umask as on tmpfs, kept across a remount', async t => {
    const { expected } = await reference(t)
    t.match(expected, /default:user:1000:rwx/, 'the reference has ACLs to compare')
    await sameAsTmpfs(t, await mountObjfs(t, { options: ['acl'] }), expected)
  })

  t.test('with -o acl: cp -a and rsync -aAX copy ACLs', async t => {
    const { dir: source, expected } = await reference(t)
    const m = await mountObjfs(t, { options: ['acl'] })
    const M = q(m.mountpoint)
    await shOk(`cp -a ${q(source)} ${M}/cp`)
    sameLines(t, await shOk(inDir(join(m.mountpoint, 'cp'), REPORT)), expected, 'cp -a')
    await shOk(`rsync -aAX ${q(source)}/ ${M}/rsync/`)
    sameLines(t, await shOk(inDir(join(m.mountpoint, 'rsync'), REPORT)), expected, 'rsync -aAX')
    const again = await sh(`rsync -aAXi ${q(source)}/ ${M}/rsync/`)
    t.equal(again.code, 0, 'a second rsync succeeds')
    t.equal(again.stdout, '', 'and finds nothing to change', { out: again.stdout })
  })

  t.test('with -o acl: the kernel enforces them for other users', async t => {
    const m = await mountObjfs(t, { options: ['acl', 'allow_other'] })
    traversable(t, m.mountpoint)
    const M = q(m.mountpoint)
    await shOk(`chmod 755 ${M} && echo secret > ${M}/f && chmod 600 ${M}/f`)
    const read = async (): Promise<number | null> => (await asNobody(`cat ${M}/f`)).code
    t.not(await read(), 0, 'mode 600: nobody may not read')
    await shOk(`setfacl -m u:${NOBODY}:r ${M}/f`)
    t.equal(await read(), 0, 'a named entry lets nobody read')
    t.equal(await shOk(`stat -c %a ${M}/f`), '640\n', 'and shows as the group bits (the mask)')
    await shOk(`chmod 600 ${M}/f`)
    t.not(await read(), 0, 'chmod 600 takes it back: the mask is empty')
    t.match(await shOk(`getfacl -cpn ${M}/f`), new RegExp(`user:${NOBODY}:r--\t#effective:---`), 'the entry stays, masked')

    await shOk(`mkdir ${M}/drop && chmod 700 ${M}/drop && setfacl -m u:${NOBODY}:rwx,d:u:${NOBODY}:rwx ${M}/drop`)
    t.equal((await asNobody(`echo mine > ${M}/drop/mine`)).code, 0, 'nobody may create in a directory its entry opens')
    await shOk(`echo root > ${M}/drop/root`)
    t.equal((await asNobody(`echo more >> ${M}/drop/root`)).code, 0, 'and write what root made there, by the inherited entry')
    t.equal(await shOk(`cat ${M}/drop/root`), 'root\nmore\n')
    await shOk(`setfacl -x u:${NOBODY} ${M}/drop`)
    const r = await asNobody(`ls ${M}/drop`)
    t.not(r.code, 0, 'with the entry removed nobody may not list it')
    t.match(r.out, /Permission denied/)
  })

  // The kernel says so (FUSE_SETXATTR_ACL_KILL_SGID) only with FUSE_SETXATTR_EXT.
  t.test('with -o acl: an owner outside the group who sets an ACL drops the set-group-ID bit, as on tmpfs', async t => {
    const sgid = async (dir: string): Promise<string> => {
      const D = q(dir)
      await shOk(`chmod 755 ${D} && touch ${D}/theirs ${D}/roots && chown ${NOBODY}:0 ${D}/theirs ${D}/roots && chmod 2750 ${D}/theirs ${D}/roots`)
      const r = await asNobody(`setfacl -m u:1000:r ${D}/theirs`)
      t.equal(r.code, 0, 'the owner may set it', { out: r.out })
      await shOk(`setfacl -m u:1000:r ${D}/roots`)
      return await shOk(`cd ${D} && stat -c '%n %a' theirs roots`)
    }
    const tmpfs = join(tempDir(t), 'tmpfs')
    await shOk(`mkdir ${q(tmpfs)} && mount -t tmpfs objfs-acl-test ${q(tmpfs)}`)
    t.teardown(async () => { await sh(`umount ${q(tmpfs)} || umount -l ${q(tmpfs)}`) })
    traversable(t, tmpfs)
    const expected = await sgid(tmpfs)
    t.equal(expected, 'theirs 750\nroots 2750\n', 'tmpfs: the owner\'s ACL drops it, root\'s (CAP_FSETID) keeps it')
    const m = await mountObjfs(t, { options: ['acl', 'allow_other'] })
    traversable(t, m.mountpoint)
    t.equal(await sgid(m.mountpoint), expected, 'objfs: the same')
  })
}
