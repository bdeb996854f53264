// Block bytes cross threads without a copy (STYLE habit 11): writes pass
// SharedArrayBuffer views, reads come back moved. And an INTERRUPT's
// AbortSignal removes a call still waiting in the queue.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { Piscina } from 'piscina'
import t from 'tap'
import { errno as E, toErrno } from '../../src/errors.ts'
import { LocalStore } from '../../src/store/local/store.ts'
import type { ObjectAttr, StoreConfig } from '../../src/store/types.ts'
import { PooledStore } from '../../src/workers/pool.ts'
import type { WorkerSetup } from '../../src/workers/protocol.ts'

const BS = 4096
const S_IFREG = 0o100000
const S_IFDIR = 0o040000
const MTIME = { sec: 1_700_000_000, nsec: 0 }
const BIG = 5000

const tmp = mkdtempSync(join(tmpdir(), 'objfs-pool-'))
t.teardown(() => rmSync(tmp, { recursive: true, force: true }))
const storeConfig: StoreConfig = { url: `local:${join(tmp, 'store')}`, blockSize: BS, readOnly: false, create: true, options: {} }
const setup: WorkerSetup = { store: { ...storeConfig, create: false } }

/** A recognisable block: never all zeros. */
function pattern (n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n)
  for (let i = 0; i < n; i++) out[i] = (seed + i * 7) % 251 + 1
  return out
}

// The store the pools open: a file, and a directory big enough that
// listing it keeps a worker busy for a while.
const local = await LocalStore.open(storeConfig)
const root = await local.root()
const file: ObjectAttr = await local.create(root.id, 'file', { mode: S_IFREG | 0o644, uid: 0, gid: 0 })
const big: ObjectAttr = await local.create(root.id, 'big', { mode: S_IFDIR | 0o755, uid: 0, gid: 0 })
for (let i = 0; i < BIG; i++) await local.create(big.id, `entry-with-a-longish-name-${i}`, { mode: S_IFREG | 0o644, uid: 0, gid: 0 })
const capabilities = local.capabilities
await local.close()

function pooled (threads: number): PooledStore {
  const s = new PooledStore({ threads, setup, blockSize: BS, capabilities })
  t.teardown(async () => { await s.close() })
  return s
}

t.test('block writes from shared memory, block reads in buffers of their own', async t => {
  const s = pooled(2)
  const shared = new Uint8Array(new SharedArrayBuffer(BS))
  shared.set(pattern(BS, 3))
  await s.writeBlocks(file.id, [{ index: 0, data: shared.subarray(0, 3000) }], 3000, MTIME)
  t.equal((await s.getattr(file.id)).size, 3000, 'size recorded')

  const whole = await s.readBlock(file.id, 0, 0, 3000)
  t.same(whole, pattern(3000, 3), 'the stored bytes are the shared bytes')

  const part = await s.readBlock(file.id, 0, 100, 50)
  if (part === null) throw new Error('block 0 read as a hole')
  t.same(part, pattern(BS, 3).subarray(100, 150), 'a range inside the block')
  t.ok(part.buffer instanceof ArrayBuffer, 'an ArrayBuffer')
  t.notOk((part.buffer as unknown) instanceof SharedArrayBuffer, 'not shared memory')
  t.equal(part.byteOffset, 0, 'starting at 0')
  t.equal(part.byteLength, 50, 'exactly the bytes requested')
  t.equal(part.buffer.byteLength, 50, 'the buffer holds nothing else (not a pool slab, not the whole block)')

  const short = await s.readBlock(file.id, 0, 2900, 1000)
  t.equal(short?.byteLength, 100, 'a read past the stored block end is short')
  t.equal(short?.buffer.byteLength, 100, 'in a buffer of exactly that size')
  t.equal(await s.readBlock(file.id, 5, 0, 10), null, 'a hole reads as null')

  t.same(s.counters(), { readCalls: 4, bytesRead: 3000 + 50 + 100, writeCalls: 1, bytesWritten: 3000, metaCalls: 1 }, 'counters count calls and bytes')
})

t.test('the worker task moves the block it read: its own copy is detached', async t => {
  // piscina's test-is-buffer-transferred, applied to the real task
  // (src/workers/tasks/store-call.ts) run by a thin probe that keeps a
  // reference to what the task returned and reports on it afterwards.
  const probeFile = join(tmp, 'probe.mjs')
  const taskUrl = new URL('../../src/workers/tasks/store-call.ts', import.meta.url).href
  writeFileSync(probeFile, `
    import storeCall from ${JSON.stringify(taskUrl)}
    const kValue = Symbol.for('Piscina.valueOf')
    let moved, movedLength = -1, shared
    export default async function probe (task) {
      if (task.method === 'probe') return { movedLength, nowLength: moved ? moved.byteLength : -1, sharedIsSAB: shared ? shared.buffer instanceof SharedArrayBuffer : null }
      if (task.method === 'poke') { shared[0] = task.args[0]; return null }
      if (task.method === 'writeBlocks') shared = task.args[1][0].data
      const result = await storeCall(task)
      const value = result == null ? undefined : result[kValue]
      if (value instanceof Uint8Array) { moved = value.buffer; movedLength = moved.byteLength }
      return result
    }`)
  const pool = new Piscina({ filename: pathToFileURL(probeFile).href, minThreads: 1, maxThreads: 1, workerData: setup, execArgv: ['--disable-warning=ExperimentalWarning'] })
  t.teardown(async () => { await pool.destroy() })

  const got = await pool.run({ method: 'readBlock', args: [file.id, 0, 0, 3000] }) as Uint8Array
  t.ok(got instanceof Uint8Array, 'the bytes arrive as a Uint8Array')
  t.equal(got.byteLength, 3000)
  t.ok(got.buffer instanceof ArrayBuffer, 'an ArrayBuffer of its own on this side')
  const after = await pool.run({ method: 'probe', args: [] }) as { movedLength: number, nowLength: number, sharedIsSAB: boolean | null }
  t.equal(after.movedLength, 3000, 'the worker held 3000 bytes when it returned them')
  t.equal(after.nowLength, 0, 'and holds nothing now: the buffer was transferred, not cloned')

  // Writes: the worker sees this thread's memory itself.
  const mine = new Uint8Array(new SharedArrayBuffer(BS)).fill(7)
  await pool.run({ method: 'writeBlocks', args: [file.id, [{ index: 1, data: mine }], 2 * BS, MTIME] })
  t.equal((await pool.run({ method: 'probe', args: [] }) as { sharedIsSAB: boolean }).sharedIsSAB, true, 'the worker got a SharedArrayBuffer view')
  await pool.run({ method: 'poke', args: [0xee] })
  t.equal(mine[0], 0xee, 'a byte the worker wrote shows here: one memory, no copy')
})

t.test('an aborted call still queued rejects with EINTR and never reaches the store', async t => {
  const s = pooled(1)
  await s.root() // the worker is up
  // One thread takes 2 calls off the queue (concurrency = threads * 2); more wait in the p-queue.
  const busy = [s.list(big.id, null, BIG), s.list(big.id, null, BIG), s.list(big.id, null, BIG)]
  const ac = new AbortController()
  const queued = s.create(root.id, 'never', { mode: S_IFREG | 0o644, uid: 0, gid: 0 }, { signal: ac.signal })
  t.ok(s.queued >= 2, `calls are waiting (${s.queued})`)
  ac.abort()
  const err = await queued.then(() => undefined, (e: unknown) => e)
  t.ok(err !== undefined, 'the call rejected')
  t.equal(toErrno(err), E.EINTR, 'as EINTR')
  const pages = await Promise.all(busy)
  t.same(pages.map(p => p.entries.length), [BIG, BIG, BIG], 'the calls ahead of it completed')
  t.equal(await s.lookup(root.id, 'never'), null, 'the store never ran it')
})

t.test('an already-aborted signal never reaches the store', async t => {
  const s = pooled(1)
  const ac = new AbortController()
  ac.abort()
  const err = await s.create(root.id, 'never-either', { mode: S_IFREG | 0o644, uid: 0, gid: 0 }, { signal: ac.signal }).then(() => undefined, (e: unknown) => e)
  t.equal(toErrno(err), E.EINTR)
  t.equal(await s.lookup(root.id, 'never-either'), null)
})

t.test('an abort after the call was handed to piscina lets it finish', async t => {
  const s = pooled(1)
  await s.root()
  // The list runs in the only worker; the create is handed to piscina
  // behind it (the p-queue runs two at a time): past the point of cancelling.
  const running = s.list(big.id, null, BIG)
  const ac = new AbortController()
  const handed = s.create(root.id, 'ran', { mode: S_IFREG | 0o644, uid: 0, gid: 0 }, { signal: ac.signal })
  await new Promise(resolve => setImmediate(resolve))
  ac.abort()
  const outcome = await handed.then(a => `created ${a.mode.toString(8)}`, (e: unknown) => `rejected: errno ${toErrno(e)}`)
  await running
  const there = await s.lookup(root.id, 'ran')
  t.ok(there !== null, 'the store did create it')
  t.equal(outcome, `created ${(S_IFREG | 0o644).toString(8)}`, `so the caller must be told it succeeded (got: ${outcome})`)
})

t.test('a read for a request lands in a pooled shared buffer, lent until the reply and the call are done', async t => {
  const s = pooled(1)
  const shared = new Uint8Array(new SharedArrayBuffer(BS))
  shared.set(pattern(BS, 9))
  await s.writeBlocks(file.id, [{ index: 0, data: shared }], BS, MTIME)

  const req: { afterReply?: () => void } = {}
  const got = await s.readBlock(file.id, 0, 10, 100, { reply: req })
  if (got === null) throw new Error('block 0 read as a hole')
  t.same(got, pattern(BS, 9).subarray(10, 110), 'the bytes read')
  t.ok(got.buffer instanceof SharedArrayBuffer, 'in shared memory: nothing moved to this thread')
  t.type(req.afterReply, 'function', 'the request is told when to give the buffer back')

  const other = await s.readBlock(file.id, 0, 0, 10, { reply: {} })
  t.not(other?.buffer, got.buffer, 'not lent again before the reply was sent')
  req.afterReply?.()
  const again = await s.readBlock(file.id, 0, 0, 10, { reply: {} })
  t.equal(again?.buffer, got.buffer, 'lent again once the reply was sent')
})
