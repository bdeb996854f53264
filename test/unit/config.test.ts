// Mount options, mount(8) style: each option, sizes, what is ignored,
// what is passed on, and one-line ConfigErrors for everything else.
import t, { type Test } from 'tap'
import { LOCAL_BLOCK_SIZE, LOCAL_ENTRY_TIMEOUT, MiB, S3_BLOCK_SIZE, applyOptions, defaults, parseSize, type Config } from '../../src/config.ts'
import { ConfigError } from '../../src/errors.ts'
import { FUSE_DO_READDIRPLUS, FUSE_DONT_MASK, FUSE_POSIX_ACL, FUSE_READDIRPLUS_AUTO, FUSE_WRITEBACK_CACHE } from '../../src/channel/abi.ts'
import { sessionOptionsOf, storeConfigOf } from '../../src/daemon.ts'

const apply = (...opts: string[]): Config => applyOptions(defaults(), opts)

/** The options must fail with a ConfigError whose one-line message mentions `mention`. */
function refuses (t: Test, opts: string, mention: string): void {
  try {
    apply(opts)
    t.fail(`-o ${opts} was accepted`)
  } catch (err) {
    t.ok(err instanceof ConfigError, `-o ${opts}: a ConfigError`)
    const e = err as ConfigError
    t.equal(e.code, 'OBJFS_ERR_CONFIG', `-o ${opts}: error code`)
    t.notOk(e.message.includes('\n'), `-o ${opts}: one line`)
    t.ok(e.message.includes(mention), `-o ${opts}: message names '${mention}'`, { message: e.message })
  }
}

t.test('flags', async t => {
  t.equal(apply('ro').readOnly, true)
  t.equal(apply('allow_other').allowOther, true)
  t.equal(apply('no_default_permissions').defaultPermissions, false)
  t.equal(apply('no_default_permissions,default_permissions').defaultPermissions, true, 'the last one wins')
  t.equal(apply().defaultPermissions, false, 'no default_permissions when only root can get in')
  t.equal(apply('allow_other').defaultPermissions, true, 'default_permissions follows allow_other')
  t.equal(apply('allow_other,no_default_permissions').defaultPermissions, false, 'unless said otherwise')
  t.equal(apply('default_permissions').defaultPermissions, true, 'or asked for without it')
  t.equal(apply().acl, false, 'no POSIX ACLs by default')
  t.equal(apply('acl').acl, true)
  t.equal(apply('acl,no_acl').acl, false)
  t.equal(apply('acl').defaultPermissions, true, 'ACLs turn the kernel\'s mode checks on, which enforce them')
  t.equal(apply('writeback_cache').writebackCache, true)
  t.equal(apply('writeback_cache,no_writeback_cache').writebackCache, false)
  t.equal(apply('no_readdirplus').readdirplus, false)
  t.equal(apply('no_readdirplus,readdirplus').readdirplus, true)
  t.equal(apply('no_keep_cache').keepCache, false)
  t.equal(apply('no_keep_cache,keep_cache').keepCache, true)
  const d = defaults()
  t.same([d.readOnly, d.allowOther, d.defaultPermissions, d.writebackCache, d.readdirplus, d.keepCache], [false, false, false, false, true, true], 'defaults')
})

t.test('valued options', async t => {
  t.equal(apply('block_size=4K').blockSize, 4096)
  t.equal(apply('block_size=64M').blockSize, 64 * MiB)
  t.equal(apply('block_size=262144').blockSize, 256 * 1024)
  t.equal(apply('entry_timeout=2.5').entryTimeout, 2.5)
  t.equal(apply('attr_timeout=0').attrTimeout, 0)
  t.equal(apply('negative_timeout=0').negativeTimeout, 0)
  t.equal(apply('negative_timeout=30').negativeTimeout, 30)
  t.equal(apply('dirty_limit=512M').dirtyLimit, 512 * MiB)
  t.equal(apply('dirty_limit=1M').dirtyLimit, 4 * MiB, 'dirty_limit is raised to its 4 MiB floor')
  t.equal(apply('workers=1').workers, 1)
  t.equal(apply('workers=64').workers, 64)
  t.equal(apply('slots=4').slots, 4)
  t.equal(defaults().groupCommit, true, 'changes are committed in groups by default')
  t.equal(apply('commit=each').groupCommit, false)
  t.equal(apply('commit=group').groupCommit, true)
  t.equal(apply('slots=1024').slots, 1024)
  t.equal(defaults().readerSpin, 50)
  t.equal(apply('reader_spin=0').readerSpin, 0, 'reader_spin=0 turns the reader\'s poll off')
  t.equal(apply('reader_spin=1000').readerSpin, 1000)
  t.equal(sessionOptionsOf(apply('reader_spin=20')).readerSpinUs, 20, 'the session hands it to the reader')
  t.equal(defaults().serveCpu, 'auto', 'the serving thread gets a CPU of its own by default')
  t.equal(apply('serve_cpu=off').serveCpu, 'off')
  t.equal(apply('serve_cpu=3').serveCpu, 3)
  t.equal(apply('serve_cpu=auto').serveCpu, 'auto')
  t.equal(apply('max_readahead=1M').maxReadahead, MiB)
  t.equal(apply('log_level=debug').logLevel, 'debug')
  t.equal(apply('log_level=silent').logLevel, 'silent')
  t.equal(apply('log_file=/var/log/objfs.log').logFile, '/var/log/objfs.log')
  t.equal(apply('fsname=tank=data').fsname, 'tank=data', 'a value may hold "="')
  const sub = apply('subtype=objfs')
  t.same(sub, defaults(), 'subtype is accepted and changes nothing')
})

t.test('entry_timeout defaults by store when the options do not say', async t => {
  const on = (source: string, ...opts: string[]): Config => applyOptions({ ...defaults(), source }, opts)
  for (const source of ['local:/var/lib/objfs/data', '/srv/store']) {
    const c = on(source)
    t.same([c.entryTimeout, c.negativeTimeout, c.attrTimeout], [LOCAL_ENTRY_TIMEOUT, 1, 1], `${source}: names kept long, the rest 1 s`)
    t.equal(on(source, 'entry_timeout=2').entryTimeout, 2, `${source}: what the options say wins`)
  }
  const s3 = on('s3://bucket/prefix')
  t.same([s3.entryTimeout, s3.negativeTimeout, s3.attrTimeout], [1, 1, 1], 'S3: 1 s, other clients change the bucket')
})

t.test('a new store gets the block size the options give, else its kind\'s own', async t => {
  const blockSize = (source: string, ...opts: string[]): number | undefined => storeConfigOf(applyOptions({ ...defaults(), source }, opts)).blockSize
  t.equal(blockSize('/srv/store'), LOCAL_BLOCK_SIZE, 'embedded: 1 MiB')
  t.equal(LOCAL_BLOCK_SIZE, MiB)
  t.equal(blockSize('s3://bucket/prefix'), S3_BLOCK_SIZE, 'S3: 8 MiB')
  t.equal(S3_BLOCK_SIZE, 8 * MiB)
  t.equal(blockSize('s3://'), S3_BLOCK_SIZE, 'every bucket: 8 MiB')
  t.equal(blockSize('/srv/store', 'block_size=4M'), 4 * MiB, 'embedded: the one given')
  t.equal(blockSize('s3://bucket/prefix', 'block_size=1M'), MiB, 'S3: the one given, 1 MiB too (it was taken for the default before)')
  t.equal(blockSize('s3://bucket/prefix', 'block_size=16M'), 16 * MiB, 'S3: 16 MiB given')
})

t.test('store options are collected by key', async t => {
  const c = apply('endpoint=http://127.0.0.1:9000,region=eu-west-1', 'uid=1000,gid=100,umask=022')
  t.same(c.storeOptions, { endpoint: 'http://127.0.0.1:9000', region: 'eu-west-1', uid: '1000', gid: '100', umask: '022' })
  refuses(t, 'endpoint', 'endpoint')
})

t.test('sizes', async t => {
  const cases: Array<[string, number]> = [
    ['4096', 4096], ['512k', 512 * 1024], ['512K', 512 * 1024], ['4M', 4 * MiB], ['4MiB', 4 * MiB],
    ['4mb', 4 * MiB], ['1G', 1024 * MiB], ['1g', 1024 * MiB], ['2T', 2 * 1024 * 1024 * MiB], [' 8M ', 8 * MiB], ['0', 0],
  ]
  for (const [text, bytes] of cases) t.equal(parseSize(text, 'x'), bytes, `'${text}'`)
  for (const bad of ['', 'M', '1.5M', '-1', '4X', '4 MB extra', '0x10']) {
    let caught: unknown
    try { parseSize(bad, 'some_size') } catch (err) { caught = err }
    t.ok(caught instanceof ConfigError, `'${bad}' refused with a ConfigError`)
  }
  t.throws(() => parseSize('lots', 'dirty_limit'), { message: /^dirty_limit: 'lots' is not a size/ }, 'names the option and the text')
})

t.test('mount(8) and systemd options are ignored', async t => {
  const opts = '_netdev,noauto,nofail,x-systemd.requires=foo,x-systemd.automount,defaults,auto,rw,user,users,relatime,comment=hello,async'
  t.same(apply(opts), defaults(), 'nothing changes')
})

t.test('generic VFS flags are passed to mount(8)', async t => {
  t.same(apply('nosuid').mountFlags, ['nosuid'])
  t.same(apply('nosuid,nodev', 'noexec,noatime').mountFlags, ['nosuid', 'nodev', 'noexec', 'noatime'], 'in order, across -o groups')
  t.same(apply('ro,nosuid').readOnly, true, 'mixed with our own options')
})

t.test('commas, spaces and empty items', async t => {
  const c = apply(' ro , allow_other ,,', '', 'workers=3')
  t.equal(c.readOnly, true)
  t.equal(c.allowOther, true)
  t.equal(c.workers, 3)
  const base = defaults()
  t.equal(applyOptions(base, ['ro']), base, 'the config given is the one returned')
})

t.test('bad options are one-line ConfigErrors', async t => {
  refuses(t, 'frobnicate', 'frobnicate')
  refuses(t, 'ro,bogus=1', 'bogus')
  refuses(t, 'ro=1', 'ro')
  refuses(t, 'allow_other=yes', 'allow_other')
  refuses(t, 'acl,no_default_permissions', 'no_default_permissions')
  refuses(t, 'entry_timeout', 'entry_timeout')
  refuses(t, 'entry_timeout=', 'entry_timeout')
  refuses(t, 'entry_timeout=-1', 'entry_timeout')
  refuses(t, 'attr_timeout=soon', 'attr_timeout')
  refuses(t, 'negative_timeout=Infinity', 'negative_timeout')
  refuses(t, 'block_size=3000', 'block_size')
  refuses(t, 'block_size=12K', 'block_size')
  refuses(t, 'block_size=2K', 'block_size')
  refuses(t, 'block_size=128M', 'block_size')
  refuses(t, 'block_size=big', 'block_size')
  refuses(t, 'dirty_limit=lots', 'dirty_limit')
  refuses(t, 'workers=0', 'workers')
  refuses(t, 'workers=65', 'workers')
  refuses(t, 'workers=1.5', 'workers')
  refuses(t, 'slots=3', 'slots')
  refuses(t, 'commit=sometimes', 'commit')
  refuses(t, 'slots=2000', 'slots')
  refuses(t, 'reader_spin=-1', 'reader_spin')
  refuses(t, 'reader_spin=1001', 'reader_spin')
  refuses(t, 'reader_spin=2.5', 'reader_spin')
  refuses(t, 'serve_cpu=-1', 'serve_cpu')
  refuses(t, 'serve_cpu=first', 'serve_cpu')
  refuses(t, 'serve_cpu=12345', 'serve_cpu')
  refuses(t, 'max_readahead=fast', 'max_readahead')
  refuses(t, 'log_level=verbose', 'log_level')
  refuses(t, 'fsname=', 'fsname')
})

t.test('INIT asks for READDIRPLUS unless -o no_readdirplus, and for the writeback cache only with -o writeback_cache', async t => {
  const want = (...opts: string[]): number => sessionOptionsOf(apply(...opts)).wantFlags
  t.equal(want() & (FUSE_DO_READDIRPLUS | FUSE_READDIRPLUS_AUTO), FUSE_DO_READDIRPLUS | FUSE_READDIRPLUS_AUTO, 'readdirplus, where the kernel finds it worth it')
  t.equal(want('no_readdirplus') & (FUSE_DO_READDIRPLUS | FUSE_READDIRPLUS_AUTO), 0, 'none with no_readdirplus')
  t.equal(want() & FUSE_WRITEBACK_CACHE, 0)
  t.equal(want('writeback_cache') & FUSE_WRITEBACK_CACHE, FUSE_WRITEBACK_CACHE)
  t.equal(want() & (FUSE_POSIX_ACL | FUSE_DONT_MASK), 0, 'no ACLs, and the kernel applies the umask')
  t.equal(want('acl') & (FUSE_POSIX_ACL | FUSE_DONT_MASK), FUSE_POSIX_ACL | FUSE_DONT_MASK, 'acl: both')
})
