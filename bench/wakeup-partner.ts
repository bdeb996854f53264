// The other thread of wakeup.ts's probe: bound to its CPU as the reader
// thread binds itself, it answers each odd turn with the next even one
// until told -1.
import { parentPort, workerData } from 'node:worker_threads'
import { bindThread, threadId } from '../src/channel/cpus.ts'

const { turn: shared, cpu } = workerData as { turn: SharedArrayBuffer, cpu: number }
const turn = new Int32Array(shared)
bindThread(threadId(), [cpu])
parentPort?.postMessage('ready')
for (let expect = 1; ; expect += 2) {
  let v
  while ((v = Atomics.load(turn, 0)) !== expect && v !== -1) Atomics.wait(turn, 0, v)
  if (v === -1) break
  Atomics.store(turn, 0, expect + 1)
  Atomics.notify(turn, 0)
}
