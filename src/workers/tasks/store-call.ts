// Worker entry: each worker thread opens its own instance of the store (the
// local store's SQLite connection is per thread) and executes calls by name.
import { workerData } from 'node:worker_threads'
import { Piscina } from 'piscina'
import { openStore } from '../../store/registry.ts'
import { toErrno } from '../../errors.ts'
import type { ObjectStore } from '../../store/types.ts'
import type { StoreTask, TaskResult, WorkerSetup } from '../protocol.ts'

const setup = workerData as WorkerSetup
let opened: Promise<ObjectStore> | undefined

export default async function storeCall (task: StoreTask): Promise<TaskResult | Uint8Array> {
  try {
    opened ??= openStore({ ...setup.store, create: false })
    const store = await opened
    const fn = store[task.method] as (...args: unknown[]) => Promise<unknown>
    const value = await fn.apply(store, task.args)
    // Block bytes go back transferred, not cloned: one buffer, no copy.
    if (value instanceof Uint8Array) return Piscina.move(value) as unknown as Uint8Array
    return { ok: true, value }
  } catch (err) {
    return { ok: false, errno: toErrno(err), message: err instanceof Error ? err.message : String(err) }
  }
}
