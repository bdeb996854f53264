// The options mount(8) hands to /sbin/mount.fuse.objfs. The strings below
// are what util-linux 2.38 passed to a recording helper for fstab lines and
// `mount -t fuse.objfs -o ...` (mount(8) keeps x-*, noauto and comment).
import t from 'tap'
import { helperOptions } from '../../src/cli/mount-helper.ts'
import { configOf } from '../../src/cli/mount.ts'
import { ConfigError } from '../../src/errors.ts'

const fromMount = [
  'rw',
  'rw,allow_other,_netdev',
  'ro,relatime,noexec,nosuid,nodev,allow_other,_netdev,nofail,user,helper=x',
  'rw,noatime,nosuid,nodev',
]

t.test('what mount(8) passes is accepted', async t => {
  for (const o of fromMount) {
    const notes: string[] = []
    const opts = helperOptions([o], false, m => notes.push(m))
    const c = configOf(['local:/srv/store', '/mnt/data'], opts, false)
    t.equal(c.source, 'local:/srv/store', `-o ${o}`)
    t.same(notes, [])
  }
  const c = configOf(['local:/srv/store', '/mnt/data'], helperOptions([fromMount[2]], false, () => {}), false)
  t.equal(c.readOnly, true)
  t.equal(c.allowOther, true)
  t.same(c.mountFlags, ['noexec', 'nosuid', 'nodev'], 'VFS flags reach the mount (relatime is the default anyway)')
})

t.test('mount(8)\'s own options are removed, the rest kept in order', async t => {
  t.same(helperOptions(['rw,helper=udisks2,allow_other', 'uhelper=x,ro'], false, () => {}), ['rw,allow_other,ro'])
  t.same(helperOptions(['helper=x'], false, () => {}), [], 'nothing left: no -o at all')
  t.same(helperOptions([], false, () => {}), [])
})

t.test('unknown options fail, unless sloppy (-s)', async t => {
  const strict = helperOptions(['rw,bogus_opt'], false, () => {})
  t.throws(() => configOf(['local:/s', '/mnt'], strict, false), ConfigError)
  t.throws(() => configOf(['local:/s', '/mnt'], strict, false), /bogus_opt/, 'naming the option')
  const notes: string[] = []
  const sloppy = helperOptions(['rw,bogus_opt,block_size=4M,fancy=1'], true, m => notes.push(m))
  t.same(sloppy, ['rw,block_size=4M'])
  t.equal(notes.length, 2, 'each dropped option is named')
  t.match(notes[0], /bogus_opt/)
  t.equal(configOf(['local:/s', '/mnt'], sloppy, false).blockSize, 4 << 20)
})
