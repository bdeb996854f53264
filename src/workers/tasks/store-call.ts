// Worker entry: each worker thread opens its own instance of the store (the
// local store's SQLite connection is per thread) and executes calls by name.
import { workerData } from 'node:worker_threads'
import { Piscina } from 'piscina'
import { leaveServingCpu } from '../../channel/cpus.ts'
import { openStore } from '../../store/registry.ts'
import { toErrno } from '../../errors.ts'
import type { ObjectId, ObjectStore } from '../../store/types.ts'
import type { CloseTask, StoreTask, TaskResult, WorkerSetup } from '../protocol.ts'

const setup = workerData as WorkerSetup
leaveServingCpu()
let opened: Promise<ObjectStore> | undefined

/**
 * This thread's instance. A failed open is not kept: opening writes to
 * the store, and a thread first opening on a full disk failed every call
 * it ever got, room freed or not. Such a call fails with ENOSPC (toErrno):
 * the caller learns why, and the pool tries it again once room is freed.
 */
async function instance (): Promise<ObjectStore> {
  opened ??= openStore({ ...setup.store, create: false }).catch((err: unknown) => {
    opened = undefined
    throw err
  })
  return await opened
}

// Opened as the thread starts, with the mount, rather than at the thread's
// first call, which may come once the disk is full. A failure here is
// met again by that first call.
instance().catch(() => {})

export default async function storeCall (task: StoreTask | CloseTask): Promise<TaskResult | Uint8Array> {
  if (task.method === 'close') return await close(task)
  try {
    const store = await instance()
    if (task.into !== undefined) return { ok: true, value: await readInto(store, task.args as ReadArgs, task.into) }
    const fn = store[task.method] as (...args: unknown[]) => Promise<unknown>
    const value = await fn.apply(store, task.args)
    // Block bytes go back transferred, not cloned: one buffer, no copy.
    if (value instanceof Uint8Array) return Piscina.move(value) as unknown as Uint8Array
    return { ok: true, value }
  } catch (err) {
    return { ok: false, errno: toErrno(err), message: err instanceof Error ? err.message : String(err) }
  }
}

type ReadArgs = [ObjectId, number, number, number]

/** A readBlock into shared memory: the byte count, null for a hole. A store without readBlockInto pays a copy. */
async function readInto (store: ObjectStore, [id, index, offset, length]: ReadArgs, into: Uint8Array): Promise<number | null> {
  if (store.readBlockInto !== undefined) return await store.readBlockInto(id, index, offset, length, into)
  const got = await store.readBlock(id, index, offset, length)
  if (got === null) return null
  into.set(got)
  return got.byteLength
}

async function close (task: CloseTask): Promise<TaskResult> {
  const arrived = new Int32Array(task.arrived)
  Atomics.add(arrived, 0, 1)
  Atomics.notify(arrived, 0)
  const until = Date.now() + 5000
  for (let n; (n = Atomics.load(arrived, 0)) < task.threads && Date.now() < until;) Atomics.wait(arrived, 0, n, 100)
  try {
    if (opened !== undefined) await (await opened).close()
    opened = undefined
    return { ok: true, value: null }
  } catch (err) {
    return { ok: false, errno: toErrno(err), message: err instanceof Error ? err.message : String(err) }
  }
}
