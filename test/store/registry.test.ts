// SOURCE parsing and store selection.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import t from 'tap'
import { openStore, parseSource } from '../../src/store/registry.ts'

const CONFIG_ERROR = { code: 'OBJFS_ERR_CONFIG' }

t.test('local sources', async t => {
  t.same(parseSource('local:/var/lib/objfs'), { scheme: 'local', url: 'local:/var/lib/objfs', path: '/var/lib/objfs' }, 'local:/abs')
  t.same(parseSource('local:///var/lib/objfs/'), { scheme: 'local', url: 'local:/var/lib/objfs', path: '/var/lib/objfs' }, 'local:///abs/ normalised')
  t.same(parseSource('/srv/data/'), { scheme: 'local', url: 'local:/srv/data', path: '/srv/data' }, 'a bare absolute path')
  const rel = resolve('some/dir')
  t.same(parseSource('some/dir'), { scheme: 'local', url: `local:${rel}`, path: rel }, 'a relative path resolves against the cwd')
  t.equal(parseSource('odd:name').path, resolve('odd:name'), 'a colon without // is part of a file name')
})

t.test('s3 sources', async t => {
  t.same(parseSource('s3://my-bucket/some/prefix/'), { scheme: 's3', url: 's3://my-bucket/some/prefix', bucket: 'my-bucket', prefix: 'some/prefix' }, 'bucket and prefix')
  t.same(parseSource('s3://my-bucket'), { scheme: 's3', url: 's3://my-bucket', bucket: 'my-bucket', prefix: '' }, 'a whole bucket')
  t.same(parseSource('s3://my-bucket//a//b'), { scheme: 's3', url: 's3://my-bucket/a/b', bucket: 'my-bucket', prefix: 'a/b' }, 'empty components dropped')
  t.same(parseSource('s3://'), { scheme: 's3', url: 's3://', prefix: '' }, 'no bucket: every bucket')
  t.throws(() => parseSource('s3:///x'), CONFIG_ERROR, 'a prefix without a bucket')
  t.throws(() => parseSource('s3://Bad_Bucket/x'), CONFIG_ERROR, 'an invalid bucket name')
  t.throws(() => parseSource('s3:bucket'), CONFIG_ERROR, 's3 without //')
})

t.test('refused sources', async t => {
  for (const bad of ['', '   ', 'ftp://x', 'http://host/path', 'local:']) {
    t.throws(() => parseSource(bad), CONFIG_ERROR, `'${bad}' is refused`)
  }
  try {
    parseSource('ftp://x')
  } catch (err) {
    t.notMatch((err as Error).message, /\n/, 'the reason is one line')
    t.match((err as Error).message, /ftp/, 'and names what was given')
  }
})

t.test('openStore', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'objfs-registry-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const config = { url: join(dir, 'store'), blockSize: 4096, readOnly: false, create: true, options: {} }
  const store = await openStore(config)
  t.equal(store.blockSize, 4096, 'a bare path opens the local store')
  t.equal(store.capabilities.stableIds, true, 'with stable ids')
  await store.close()
  await t.rejects(openStore({ ...config, url: 'ftp://x' }), CONFIG_ERROR, 'unknown schemes are refused')
})
