// The test-only fault wrapper itself: rules parse or are refused with a
// reason, fire exactly as written, change at runtime through a rules file,
// and an idle wrapper is invisible (the conformance suite passes through it).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { errno as E } from '../../src/errors.ts'
import { setLogLevel } from '../../src/log.ts'
import { parseFaults, withEnvFaults, withFaults } from '../../src/store/fault.ts'
import { LocalStore } from '../../src/store/local/store.ts'
import type { ObjectStore, StoreConfig } from '../../src/store/types.ts'
import { conformance, type StoreFixture } from './conformance.ts'
import { LONG_AGO, file, pattern, readRange, rejectsErrno } from './conformance/helpers.ts'

setLogLevel('silent')
const BS = 4096
const tmp = mkdtempSync(join(tmpdir(), 'objfs-fault-'))
t.teardown(() => rmSync(tmp, { recursive: true, force: true }))
let serial = 0
const configFor = (dir: string, create = true): StoreConfig => ({ url: `local:${dir}`, blockSize: BS, readOnly: false, create, options: {} })

async function faulty (spec: string): Promise<{ s: ObjectStore, inner: LocalStore }> {
  const inner = await LocalStore.open(configFor(join(tmp, `s${serial++}`)))
  const s = withFaults(inner, spec)
  t.teardown(async () => await inner.close())
  return { s, inner }
}

const block = (index: number, length = BS) => ({ index, data: pattern(length, index) })

t.test('rules parse, and bad ones are refused with the part named', async t => {
  t.match(parseFaults('writeBlocks:ENOSPC:after=3, readBlock:delay=2000:index=4,*:EIO:times=1'), [
    { method: 'writeBlocks', errno: E.ENOSPC, after: 3, times: 0, delayMs: 0, index: undefined, partial: false },
    { method: 'readBlock', errno: 0, delayMs: 2000, index: 4 },
    { method: '*', errno: E.EIO, times: 1 },
  ])
  t.match(parseFaults('writeBlocks:partial'), [{ errno: E.EIO, partial: true }], 'a partial write fails with EIO unless told')
  t.same(parseFaults('# a comment\n\n'), [])
  t.throws(() => parseFaults('readBlock:ENOTANERRNO'), { code: 'OBJFS_ERR_CONFIG', message: /ENOTANERRNO/ })
  t.throws(() => parseFaults('readBlock:after=-1'), { message: /after=-1/ })
  t.throws(() => parseFaults('readBlock:delay=soon'), { message: /delay=soon/ })
})

t.test('after, times and index fire exactly as written', async t => {
  const { s } = await faulty('writeBlocks:ENOSPC:after=2:times=2,readBlock:EIO:index=1')
  const f = await file(s, (await s.root()).id, 'f')
  await s.writeBlocks(f.id, [block(0)], BS, LONG_AGO)
  await s.writeBlocks(f.id, [block(1)], 2 * BS, LONG_AGO)
  await rejectsErrno(t, s.writeBlocks(f.id, [block(2)], 3 * BS, LONG_AGO), E.ENOSPC, 'the third write')
  await rejectsErrno(t, s.writeBlocks(f.id, [block(2)], 3 * BS, LONG_AGO), E.ENOSPC, 'the fourth write')
  await s.writeBlocks(f.id, [block(2)], 3 * BS, LONG_AGO)
  t.pass('the fifth write passes: times=2 is spent')
  t.same(await s.readBlock(f.id, 0, 0, 10), pattern(10, 0), 'block 0 reads')
  await rejectsErrno(t, s.readBlock(f.id, 1, 0, 10), E.EIO, 'block 1 does not')
  t.equal((await s.getattr(f.id)).size, 3 * BS, 'failed writes changed nothing')
})

t.test('delay holds the call, then lets it through', async t => {
  const { s } = await faulty('getattr:delay=300')
  const root = await s.root()
  const started = Date.now()
  t.equal((await s.getattr(root.id)).ino, 1)
  t.ok(Date.now() - started >= 290, `held ${Date.now() - started} ms`)
})

t.test('a partial write stores the first half of the blocks, then fails', async t => {
  const { s, inner } = await faulty('writeBlocks:ENOSPC:partial')
  const f = await file(s, (await s.root()).id, 'f')
  await rejectsErrno(t, s.writeBlocks(f.id, [block(0), block(1), block(2), block(3, 100)], 3 * BS + 100, LONG_AGO), E.ENOSPC, 'the write')
  t.equal((await inner.getattr(f.id)).size, 2 * BS, 'blocks 0 and 1 landed, and the size covers them only')
  t.same(await readRange(inner, f.id, 0, 2 * BS), new Uint8Array([...pattern(BS, 0), ...pattern(BS, 1)]))
  t.equal(await inner.readBlock(f.id, 2, 0, 10), null, 'block 2 did not')
})

t.test('rules from a file change while the store is open', async t => {
  const rules = join(tmp, 'rules')
  const { s } = await faulty(`@${rules}`)
  const root = await s.root()
  t.equal((await s.getattr(root.id)).ino, 1, 'no file: no faults')
  writeFileSync(rules, 'getattr:EACCES\n')
  await rejectsErrno(t, s.getattr(root.id), E.EACCES, 'rules written')
  writeFileSync(rules, 'getattr:EIO:times=1\n')
  await rejectsErrno(t, s.getattr(root.id), E.EIO, 'rules changed: counters start afresh')
  t.equal((await s.getattr(root.id)).ino, 1, 'times=1 spent')
  writeFileSync(rules, 'getattr:bogus\n')
  t.equal((await s.getattr(root.id)).ino, 1, 'unreadable rules inject nothing (and are logged)')
  rmSync(rules)
  t.equal((await s.getattr(root.id)).ino, 1, 'file gone: faults gone')
})

t.test('only the environment turns it on', async t => {
  const inner = await LocalStore.open(configFor(join(tmp, `s${serial++}`)))
  t.teardown(async () => await inner.close())
  const saved = process.env.OBJFS_FAULTS
  t.teardown(() => { if (saved === undefined) delete process.env.OBJFS_FAULTS; else process.env.OBJFS_FAULTS = saved })
  delete process.env.OBJFS_FAULTS
  t.equal(withEnvFaults(inner), inner, 'unset: the store itself')
  process.env.OBJFS_FAULTS = 'root:EIO'
  await rejectsErrno(t, withEnvFaults(inner).root(), E.EIO, 'set: behind the rules')
})

t.test('the room a store holds back is freed through the wrapper as without it', async t => {
  const { s } = await faulty('*:EIO')
  const root = await s.root().catch(() => undefined)
  t.equal(root, undefined, 'store calls meet the rules')
  t.equal(s.heldFreed, 0, 'a getter reads the store itself')
  t.equal(s.freeHeld?.(), false, 'freeHeld answers at once, not with a promise')
  t.equal(s.tidy?.(), false, 'so does tidy')
})

// Rules that never fire: every call passes through the proxy untouched.
conformance(t, 'LocalStore behind an idle fault wrapper', async (): Promise<StoreFixture> => {
  const dir = join(tmp, `s${serial++}`)
  const open: ObjectStore[] = []
  const wrap = async (create: boolean): Promise<ObjectStore> => {
    const s = withFaults(await LocalStore.open(configFor(dir, create)), 'noSuchMethod:EIO,readBlock:EIO:index=999999')
    open.push(s)
    return s
  }
  return {
    store: await wrap(true),
    openAgain: async () => await wrap(false),
    cleanup: async () => {
      for (const s of open) await s.close()
      rmSync(dir, { recursive: true, force: true })
    },
  }
})
