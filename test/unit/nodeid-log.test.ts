// The nodeid log (S3 under a keeper): what a successor loads is what the
// kernel may still hold, with renames applied and a torn last line ignored.
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { NodeidLog, loadNodeids } from '../../src/inode/nodeid-log.ts'
import type { ObjectId } from '../../src/store/types.ts'

const id = (s: string): ObjectId => s as ObjectId

t.test('issued, dropped and renamed nodeids load as the live map', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'objfs-nodeids-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 'sub', 'nodeids.log')
  const log = new NodeidLog(path)
  log.issued(2, id('b/a/'))
  log.issued(3, id('b/a/x'))
  log.issued(4, id('b/a/y/z'))
  log.issued(5, id('b/other'))
  log.dropped(5)
  log.rekeyed(id('b/a/'), id('b/c/'), true)
  log.rekeyed(id('b/c/x'), id('b/c/w'), false)
  log.close()
  appendFileSync(path, '["n",9,"b/tor')   // a write cut short by the crash
  const live = loadNodeids(path)
  t.same([...live].sort((a, b) => a[0] - b[0]), [[2, 'b/c/'], [3, 'b/c/w'], [4, 'b/c/y/z']], 'a directory rename moves its subtree; a dropped nodeid is gone')

  const next = new NodeidLog(path, live)
  next.issued(2 ** 32 + 2, id('b/new'))
  next.close()
  t.same([...loadNodeids(path)].map(([n]) => n).sort((a, b) => a - b), [2, 3, 4, 2 ** 32 + 2], 'the successor starts from the live part and appends')
  t.equal(readFileSync(path, 'utf8').split('\n').filter(l => l !== '').length, 4, 'compacted: only live lines are carried over')
})

t.test('no log: nothing to take over', async t => {
  t.same(loadNodeids('/nonexistent/nodeids.log').size, 0)
})
