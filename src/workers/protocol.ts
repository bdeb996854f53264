// What crosses between the supervisor and the worker threads.
//
// A task is one ObjectStore call by method name. Results are a union and
// never a thrown error: structured clone drops error classes, so the errno
// travels as a number (STYLE habit 4). A block read returns the bytes
// themselves, moved (transferred) rather than copied; block writes pass
// SharedArrayBuffer-backed views, which cross threads without a copy.
import type { ObjectStore, StoreConfig } from '../store/types.ts'

/** The ObjectStore methods a worker executes. */
export type StoreMethod = Exclude<keyof ObjectStore, 'blockSize' | 'capabilities' | 'counters' | 'close'>

export interface StoreTask {
  method: StoreMethod
  args: unknown[]
  /** readBlock: copy the bytes here (shared memory) and return their count, instead of moving a new buffer. */
  into?: Uint8Array
}

/**
 * Close the worker's store instance (final sync, instance record). Sent once
 * per thread; `arrived` is a barrier: each task waits until all have
 * arrived, so no thread can take two of them and every thread takes one.
 */
export interface CloseTask {
  method: 'close'
  arrived: SharedArrayBuffer
  threads: number
}

export type TaskFailure = { ok: false, errno: number, message: string }
export type TaskResult = { ok: true, value: unknown } | TaskFailure

/** Sent once to every worker as piscina workerData. */
export interface WorkerSetup {
  store: StoreConfig
}
