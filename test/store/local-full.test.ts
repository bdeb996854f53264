// LocalStore on a disk that is full to the last byte: deleting still works
// (reserve.ts), freeing the orphan works with no room at all (namespace.ts
// reclaim), and orphans whose freeing failed are freed later in the same
// mount (reclaims.ts). Needs root: a small tmpfs.
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { FsError, errno as E, toErrno } from '../../src/errors.ts'
import { Reclaims } from '../../src/store/local/reclaims.ts'
import { RESERVE_BYTES } from '../../src/store/local/reserve.ts'
import { LocalStore } from '../../src/store/local/store.ts'
import { file, pattern, rejectsErrno } from './conformance/helpers.ts'
import { configFor, storeDirs } from './local-fixture.ts'

// The file written full frees more than the reserve takes back.
const BS = 64 * 1024

t.test('a failed batch of orphans is kept and goes with the next flush', async t => {
  const freed: string[][] = []
  const logged: Array<{ level: string, msg: string, obj: object }> = []
  const log = {
    warn: (obj: object, msg: string) => { logged.push({ level: 'warn', msg, obj }) },
    info: (obj: object, msg: string) => { logged.push({ level: 'info', msg, obj }) },
  }
  let full = true
  const r = new Reclaims(ids => {
    if (full) throw new FsError(E.ENOSPC)
    freed.push([...ids])
  }, log)
  const first = r.add('a')
  r.flush()
  t.equal(await first.then(() => 0, toErrno), E.ENOSPC, 'the batch fails')
  t.equal(r.pending, true, 'its orphan still holds room')
  t.equal(r.flushes, 1, 'it counts as freed: its files may be gone (a retry is worth it)')
  r.flush()
  t.equal(r.flushes, 2, 'a flush retries it')
  t.match(logged, [{ level: 'warn', obj: { errno: E.ENOSPC, orphans: 1 } }], 'the failure logged once, not again by the retry')
  t.equal(logged.length, 1)
  full = false
  const second = r.add('b')
  r.flush()
  await second
  t.same(freed, [['b', 'a']], 'freed with the next batch')
  t.match(logged[1], { level: 'info', obj: { orphans: 2 } }, 'and the recovery said once')
  t.equal(r.pending, false, 'nothing held after')
  const third = r.add('c')
  r.flush()
  await third
  t.same(freed[1], ['c'], 'and not again')
  r.flush()
  t.equal(r.flushes, 4, 'a flush with nothing to free does not count')
  t.equal(logged.length, 2, 'success after success says nothing')
})

t.test('a full disk', { skip: process.getuid?.() !== 0 ? 'needs root to mount a tmpfs' : false }, async t => {
  const { tmp } = storeDirs(t, 'full')
  const disk = join(tmp, 'disk')
  mkdirSync(disk)
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'objfs-test-full', disk])
  t.teardown(() => { execFileSync('umount', ['-l', disk]) })
  const dir = join(disk, 'store')
  const s = await LocalStore.open(configFor(dir, { blockSize: BS }))
  t.teardown(async () => { await s.close().catch(() => {}) })
  const reserve = join(dir, 'reserve')
  t.equal(statSync(reserve).size, RESERVE_BYTES, 'a new store takes its reserve')

  const root = await s.root()
  const f = await file(s, root.id, 'f')
  let index = 0
  let stop: unknown
  while (stop === undefined) {
    try {
      await s.writeBlocks(f.id, [{ index, data: pattern(BS, index) }], (index + 1) * BS, f.mtime)
      index++
    } catch (err) {
      stop = err
    }
  }
  t.equal(toErrno(stop), E.ENOSPC, `writing stops with ENOSPC after ${index} blocks`)
  t.ok(index > 10, 'after the room there was')
  // Whatever room is left (less than one block) goes too.
  fillUp(disk, 'a')
  const refused = await file(s, root.id, 'g').then(() => 0, toErrno)
  t.equal(refused, E.ENOSPC, 'a create is ENOSPC: the reserve is not for it')

  await s.remove(root.id, 'f', false)
  t.pass('the remove works')
  t.notOk(existsSync(reserve), 'with the reserve')
  // What the remove left of the reserve's room goes too, as to a block
  // write racing the reclaim: freeing the orphan must need no room.
  fillUp(disk, 'b')
  await s.reclaim(f.id)
  await rejectsErrno(t, s.getattr(f.id), E.ENOENT, 'the orphan is freed')
  t.equal(statSync(reserve).size, RESERVE_BYTES, 'and the reserve is back')
  const g = await file(s, root.id, 'g')
  await s.writeBlocks(g.id, [{ index: 0, data: pattern(BS, 0) }], BS, g.mtime)
  t.pass('writing works again')
  await s.close()
})

/** Fill what room `disk` has left, to the last byte. */
function fillUp (disk: string, tag: string): void {
  for (const size of [BS, 512, 64, 1]) {
    for (let n = 0; ; n++) {
      try {
        writeFileSync(join(disk, `filler-${tag}-${size}-${n}`), Buffer.alloc(size, 1))
      } catch {
        break
      }
    }
  }
}
