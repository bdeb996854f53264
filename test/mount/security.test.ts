// Security defaults, shown on real mounts: other users see nothing unless
// allow_other was asked for, and then the kernel enforces file modes
// (default_permissions) and they get only what the modes allow; root, the
// only one in without allow_other, is refused exec of a file with no x bit
// either way; the store is private to
// root; no file name reaches a host path; credentials never reach the log.
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import t from 'tap'
import { findMount } from '../../src/channel/unmount.ts'
import { asNobody, mountObjfs, mountTier, NOBODY, q, sh, shOk, tempDir, traversable, type Mount } from './harness.ts'

/** The mount's own options, as the kernel has them (super options of mountinfo). */
function superOptions (mp: string): string[] {
  const m = findMount(mp)
  const line = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find(l => l.startsWith(`${m?.mountId} `)) ?? ''
  return (line.split(' - ')[1] ?? '').split(' ')[2]?.split(',') ?? []
}

async function tree (m: Mount): Promise<void> {
  const M = q(m.mountpoint)
  await shOk(`
    cd ${M}
    echo secret > secret && chmod 600 secret
    echo public > public && chmod 644 public
    mkdir private && chmod 700 private && echo inside > private/file
    mkdir shared && chmod 1777 shared
    chmod 755 .
  `)
}

if (mountTier(t)) {
  t.test('by default: nobody else gets in', async t => {
    const m = await mountObjfs(t)
    traversable(t, m.mountpoint)
    t.notOk(superOptions(m.mountpoint).includes('allow_other'), 'allow_other is off')
    t.notOk(superOptions(m.mountpoint).includes('default_permissions'), 'so default_permissions is off too')
    await tree(m)
    const M = q(m.mountpoint)
    for (const cmd of [`ls ${M}`, `stat ${M}/public`, `cat ${M}/public`]) {
      const r = await asNobody(cmd)
      t.not(r.code, 0, `nobody: ${cmd} fails`)
      t.match(r.out, /Permission denied/, 'with EACCES', { out: r.out })
    }
    t.equal(await shOk(`cat ${M}/public`), 'public\n', 'while root reads')
    t.equal(await shOk(`cat ${M}/secret`), 'secret\n', 'everything, as root does')
    await shOk(`printf '#!/bin/sh\\necho ran\\n' > ${M}/tool && chmod 644 ${M}/tool`)
    const r = await sh(`${M}/tool`)
    t.not(r.code, 0, 'root may not run a file without an x bit')
    t.match(r.stderr, /Permission denied/, 'EACCES')
    t.equal((await sh(`test -x ${M}/tool`)).code, 1, 'and access(X_OK) says so')
    t.equal((await sh(`test -w ${M}/tool`)).code, 0, 'while access(W_OK) lets root write')
    await shOk(`chmod 755 ${M}/tool`)
    t.equal(await shOk(`${M}/tool`), 'ran\n', 'with an x bit it runs')
  })

  t.test('default_permissions without allow_other: asked for, it is on', async t => {
    const m = await mountObjfs(t, { options: ['default_permissions'] })
    t.ok(superOptions(m.mountpoint).includes('default_permissions'), 'default_permissions is on')
    await shOk(`echo x > ${q(m.mountpoint)}/f && chmod 000 ${q(m.mountpoint)}/f`)
    t.equal(await shOk(`cat ${q(m.mountpoint)}/f`), 'x\n', 'root still reads a mode 000 file')
  })

  t.test('with allow_other: others get in, and the modes decide', async t => {
    const m = await mountObjfs(t, { options: ['allow_other'] })
    traversable(t, m.mountpoint)
    t.ok(superOptions(m.mountpoint).includes('allow_other'), 'allow_other is on')
    t.ok(superOptions(m.mountpoint).includes('default_permissions'), 'and default_permissions still is')
    await tree(m)
    const M = m.mountpoint
    const allowed = [`ls ${q(M)}`, `cat ${q(M)}/public`, `echo mine > ${q(M)}/shared/mine && cat ${q(M)}/shared/mine`]
    for (const cmd of allowed) {
      const r = await asNobody(cmd)
      t.equal(r.code, 0, `nobody may: ${cmd}`, { out: r.out })
    }
    const refused: Array<[string, RegExp]> = [
      [`cat ${q(M)}/secret`, /Permission denied/],
      [`ls ${q(M)}/private`, /Permission denied/],
      [`cat ${q(M)}/private/file`, /Permission denied/],
      [`echo x >> ${q(M)}/public`, /Permission denied/],
      [`touch ${q(M)}/new`, /Permission denied/],
      [`rm ${q(M)}/public`, /Permission denied/],
      [`chmod 666 ${q(M)}/public`, /Operation not permitted/],
      [`chown ${NOBODY} ${q(M)}/public`, /Operation not permitted/],
    ]
    for (const [cmd, why] of refused) {
      const r = await asNobody(cmd)
      t.not(r.code, 0, `nobody may not: ${cmd}`)
      t.match(r.out, why, 'and is told why', { out: r.out })
    }
    t.equal(await shOk(`stat -c '%u:%g %a' ${q(M)}/shared/mine`), `${NOBODY}:${NOBODY} 644\n`, 'what nobody creates is nobody\'s')
    t.equal(await shOk(`cat ${q(M)}/secret ${q(M)}/public`), 'secret\npublic\n', 'nothing of root\'s was changed')
  })

  t.test('the store is private, and no file name reaches a host path', async t => {
    const base = tempDir(t)
    const storeDir = join(base, 'new', 'store')
    const m = await mountObjfs(t, { storeDir })
    const names = ['..', '../../escape', 'a\nb', 'dir/..', `${'x'.repeat(255)}`, 'ünïcødé', ' ', '-rf', '$(reboot)']
    // '..' and 'dir/..' cannot even be made: the kernel resolves them. The rest are stored as names.
    for (const name of names.filter(n => !n.includes('/') && n !== '..')) {
      await shOk(`head -c 70000 /dev/urandom > ${q(join(m.mountpoint, name))}`)
    }
    await shOk(`mkdir -p ${q(m.mountpoint)}/deep/er && head -c 3000000 /dev/urandom > ${q(m.mountpoint)}/deep/er/big`)
    await m.unmount()
    t.equal(statSync(storeDir).mode & 0o777, 0o700, 'store directory 0700')
    t.equal(statSync(dirname(storeDir)).mode & 0o777, 0o700, 'and the parent it created')
    t.equal(statSync(join(storeDir, 'objfs.db')).mode & 0o777, 0o600, 'database 0600')
    const files = (readdirSync(join(storeDir, 'blocks'), { recursive: true }) as string[]).sort()
    const blockFiles = files.filter(f => statSync(join(storeDir, 'blocks', f)).isFile())
    t.ok(blockFiles.length >= 3, `${blockFiles.length} data files`)
    t.same(blockFiles.filter(f => !/^[0-9a-f]{2}\/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(f)), [], 'every data file is named <uuid> in a fan-out directory')
    t.ok(blockFiles.every(f => (statSync(join(storeDir, 'blocks', f)).mode & 0o777) === 0o600), 'every data file is 0600')
    t.equal(statSync(join(storeDir, 'reserve')).mode & 0o777, 0o600, 'the reserve for deleting on a full disk 0600')
    t.same(readdirSync(storeDir).sort().filter(n => !/^objfs\.db(-wal|-shm)?$/.test(n) && n !== 'blocks' && n !== 'reserve'), [], 'nothing else in the store directory')
    t.same(readdirSync(dirname(storeDir)), ['store'], 'and nothing escaped next to it')
  })

  t.test('credentials never reach the log or the command line', async t => {
    const dir = tempDir(t)
    const log = join(dir, 'daemon.log')
    const secret = 'wJalrXUtnFEMI-K7MDENG-bPxRfiCYSECRET'
    const saved = { ...process.env }
    t.teardown(() => { for (const k of ['AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_ACCESS_KEY_ID']) { if (saved[k] === undefined) delete process.env[k]; else process.env[k] = saved[k] } })
    process.env.AWS_SECRET_ACCESS_KEY = secret
    process.env.AWS_SESSION_TOKEN = `${secret}-token`
    process.env.AWS_ACCESS_KEY_ID = 'AKIAEXAMPLEKEYID'
    let m: Mount
    try {
      m = await mountObjfs(t, { options: [`log_file=${log}`, 'log_level=trace'] })
    } finally {
      for (const k of ['AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_ACCESS_KEY_ID']) { if (saved[k] === undefined) delete process.env[k]; else process.env[k] = saved[k] }
    }
    await shOk(`cd ${q(m.mountpoint)} && echo x > f && cat f && ls -la && rm f && cat nothing-here 2>/dev/null || true`)
    const cmdlines = await shOk('cat /proc/[0-9]*/cmdline 2>/dev/null | tr "\\0" " " || true')
    await m.unmount()
    const text = readFileSync(log, 'utf8')
    t.ok(text.length > 1000, `a trace log of ${text.length} bytes`)
    t.notOk(text.includes(secret), 'the secret key is not in the log')
    t.notOk(cmdlines.includes(secret), 'nor in any command line')
  })
}
