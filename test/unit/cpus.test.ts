// Where the serving thread and the reader thread run (src/channel/cpus.ts):
// the CPU list format, the placement chosen from serve_cpu, and binding
// real threads with taskset, including a thread that inherits a bound
// thread's CPU and moves itself back.
import { BroadcastChannel, Worker } from 'node:worker_threads'
import t from 'tap'
import { FORKED_CHANNEL, bindThread, cpusAllowed, parseCpuList, placementOf, threadCpus, threadId } from '../../src/channel/cpus.ts'
import { ConfigError } from '../../src/errors.ts'

t.test('the kernel\'s CPU list format', async t => {
  t.same(parseCpuList('0-3,8,10-11'), [0, 1, 2, 3, 8, 10, 11])
  t.same(parseCpuList('5'), [5])
  t.same(parseCpuList('1,0,1'), [0, 1], 'sorted, each once')
  t.throws(() => parseCpuList('a-b'), /not a CPU list/)
  t.throws(() => parseCpuList(''), /not a CPU list/)
  t.same(cpusAllowed('Name:\tnode\nCpus_allowed:\t3\nCpus_allowed_list:\t0-1\nMems_allowed:\t1\n'), [0, 1])
  t.throws(() => cpusAllowed('Name:\tnode\n'), /Cpus_allowed_list/)
})

t.test('serve_cpu: the serving thread on one CPU, the reader on the others', async t => {
  t.same(placementOf('auto', [0, 1]), { serving: [1], reader: [0], all: [0, 1], follow: true }, 'auto takes the last CPU, and may move off a lone caller\'s')
  t.same(placementOf('auto', [0, 1, 2, 3]), { serving: [3], reader: [0, 1, 2], all: [0, 1, 2, 3], follow: true })
  t.same(placementOf(0, [0, 1]), { serving: [0], reader: [1], all: [0, 1], follow: false }, 'a CPU asked for stays')
  t.same(placementOf(2, [1, 2, 5]), { serving: [2], reader: [1, 5], all: [1, 2, 5], follow: false })
  t.equal(placementOf('off', [0, 1]), undefined, 'off leaves both to the scheduler')
  t.equal(placementOf('auto', [3]), undefined, 'one CPU: nothing to keep apart')
  t.throws(() => placementOf(7, [0, 1]), new ConfigError('serve_cpu=7: the daemon may use CPUs 0,1 only'))
  t.throws(() => placementOf(0, [0]), ConfigError, 'a CPU of its own needs a second one for the reader')
})

/** In a worker thread's source: the CPUs it may use. */
const CPUS_THERE = 'm.threadCpus()'

/** Run `body` (a function's source, given the module's exports) in a worker thread; its return value comes back. */
async function inThread (body: string, env: NodeJS.ProcessEnv = process.env): Promise<unknown> {
  const cpus = new URL('../../src/channel/cpus.ts', import.meta.url).href
  const code = `const { parentPort } = require('node:worker_threads');
    import(${JSON.stringify(cpus)}).then(m => parentPort.postMessage((${body})(m)), e => parentPort.postMessage({ error: String(e) }))`
  const w = new Worker(code, { eval: true, env })
  const [result] = await Promise.race([
    new Promise<unknown[]>(resolve => w.once('message', m => resolve([m]))),
    new Promise<unknown[]>((resolve, reject) => w.once('error', reject)),
  ])
  await w.terminate()
  return result
}

t.test('binding threads', { skip: threadCpus().length < 2 ? 'needs two CPUs this process may use' : false }, async t => {
  const all = threadCpus()
  const [first, second] = all
  t.equal(threadId(), process.pid, 'the main thread\'s id is the process id')

  // This (main) thread on one CPU, as the daemon's serving thread.
  bindThread(threadId(), [first])
  t.teardown(() => { bindThread(process.pid, all) })
  t.same(threadCpus(), [first], 'the calling thread is bound')

  const plain = await inThread(`(m) => ({ tid: m.threadId(), cpus: ${CPUS_THERE} })`) as { tid: number, cpus: number[] }
  t.not(plain.tid, process.pid, 'a worker thread has an id of its own')
  t.same(plain.cpus, [first], 'a thread started by a bound thread inherits its CPU')

  const back = await inThread(`(m) => { m.leaveServingCpu(); return ${CPUS_THERE} }`,
    { ...process.env, OBJFS_DAEMON_CPUS: all.join(',') })
  t.same(back, all, 'leaveServingCpu moves it back to the daemon\'s CPUs')

  const stays = await inThread(`(m) => { m.leaveServingCpu(); return ${CPUS_THERE} }`,
    Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'OBJFS_DAEMON_CPUS')))
  t.same(stays, [first], 'outside a daemon that bound its serving thread, it does nothing')

  const other = await inThread(`(m) => { m.bindThread(m.threadId(), [${second}]); return ${CPUS_THERE} }`)
  t.same(other, [second], 'a worker thread binds itself, as the reader does')
  t.same(threadCpus(), [first], 'without moving the thread that started it')

  t.throws(() => bindThread(threadId(), [4095]), /taskset: /, 'a CPU that does not exist: taskset\'s reason')
  t.same(threadCpus(), [first], 'and the thread stays where it was')
})

t.test('bindThread says on FORKED_CHANNEL that the process forked, from any thread', async t => {
  // taskset is a child process: the fork leaves the session's ring copy-on-write (ring.ts refault).
  const heard: number[] = []
  const channel = new BroadcastChannel(FORKED_CHANNEL)
  t.teardown(() => { channel.close() })
  channel.onmessage = (e: unknown) => { heard.push((e as { data: number }).data) }
  const here = threadCpus()
  bindThread(threadId(), here)
  const tid = await inThread(`(m) => { m.bindThread(m.threadId(), m.threadCpus()); return m.threadId() }`) as number
  const until = Date.now() + 5000
  while (heard.length < 2 && Date.now() < until) await new Promise(resolve => setTimeout(resolve, 10))
  t.same(heard.sort((a, b) => a - b), [process.pid, tid].sort((a, b) => a - b), 'one word from the main thread, one from a worker thread, each naming the thread it bound')
})
