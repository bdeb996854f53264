// The S3 store's name cache: a listing that raced one of this mount's own
// changes to the directory is not kept; a subdirectory made or removed
// here moves the parent's known nlink instead of forgetting it.
import t from 'tap'
import { MetaCache, type ObjectInfo } from '../../src/store/s3/meta.ts'
import type { ObjectAttr } from '../../src/store/types.ts'

const dir = (nlink: number): ObjectInfo => ({
  kind: 'dir',
  attr: { id: 'd/', ino: 5, mode: 0o40755, nlink, uid: 0, gid: 0, size: 0, rdev: 0, atime: { sec: 0, nsec: 0 }, mtime: { sec: 0, nsec: 0 }, ctime: { sec: 0, nsec: 0 } } as unknown as ObjectAttr,
  etag: undefined,
  lastModified: 0,
  xattrs: new Map(),
  marker: true,
  contentType: undefined,
})

t.test('a listing taken before a change here is not kept', async t => {
  const m = new MetaCache(60_000)
  const gen = m.generation('d/')
  m.child('d/', 'new', 'file')   // a create while the LIST was in flight
  m.setChildren('d/', new Map([['old', 'file']]), new Map(), gen)
  t.equal(m.children('d/'), undefined, 'raced: the directory is listed again next time')
  m.setChildren('d/', new Map([['old', 'file'], ['new', 'file']]), new Map(), m.generation('d/'))
  t.same([...m.children('d/')!.names.keys()], ['old', 'new'], 'a listing after the change is kept')
  m.child('d/', 'old', undefined)
  t.same([...m.children('d/')!.names.keys()], ['new'], 'and follows later changes')
})

t.test('nlink follows subdirectories made and removed here', async t => {
  const m = new MetaCache(60_000)
  m.set('d/', dir(2))
  m.addLinks('d/', 1)
  m.addLinks('d/', 1)
  t.equal(m.get('d/')?.attr.nlink, 4)
  m.addLinks('d/', -1)
  t.equal(m.get('d/')?.attr.nlink, 3)
  m.set('big/', { ...dir(1), attr: { ...dir(1).attr, id: 'big/' } as ObjectAttr })
  m.addLinks('big/', 1)
  t.equal(m.get('big/')?.attr.nlink, 1, 'an uncounted directory (past one page) stays uncounted')
  m.addLinks('unknown/', 1)
  t.equal(m.get('unknown/'), undefined, 'an unknown one stays unknown')
})
