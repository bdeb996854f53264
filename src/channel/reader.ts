// The reader thread: the only place that blocks in read(2) on /dev/fuse.
// One request per read, each into a free SharedArrayBuffer slot.
import { readSync } from 'node:fs'
import { workerData } from 'node:worker_threads'
import { logger } from '../log.ts'
import { bindThread, threadId } from './cpus.ts'
import { decodeInHeader } from './decode.ts'
import { LoneCallerBoard } from './follow.ts'
import { Handover, wireUnique } from './handover.ts'
import { ReaderSpin } from './reader-spin.ts'
import { writeReply } from './reply-write.ts'
import { Ring, type RingBuffers } from './ring.ts'

export interface ReaderSetup {
  fd: number
  ring: RingBuffers
  /** Where the supervisor hands a polled-for request's reply (handover.ts). */
  handover: SharedArrayBuffer
  /** How long to poll for a request to be served before reading the next (reader-spin.ts); 0: never. */
  spinUs: number
  /** The CPUs this thread may use (cpus.ts); undefined: any. */
  cpus?: number[]
  /** With serve_cpu=auto: where to name the lone callers polled for (follow.ts). */
  loneCallers?: SharedArrayBuffer
}

const log = logger('reader')
const setup = workerData as ReaderSetup
const ring = new Ring(setup.ring)
const handover = new Handover(setup.handover)
const spin = new ReaderSpin(setup.spinUs)
const board = setup.loneCallers === undefined ? undefined : new LoneCallerBoard(setup.loneCallers)

if (setup.cpus !== undefined) {
  try {
    const tid = threadId()
    board?.reader(tid)
    bindThread(tid, setup.cpus)
  } catch (err) {
    log.warn({ err: (err as Error).message, cpus: setup.cpus }, 'could not keep the reader thread off the serving thread\'s CPU')
  }
}

// read(2) on /dev/fuse: EINTR (a signal), EAGAIN and ENOENT (the request was
// interrupted and withdrawn before we read it) mean "read again"; ENODEV
// means the filesystem was unmounted. Anything else ends the session.
const RETRY = new Set(['EINTR', 'EAGAIN', 'ENOENT'])

/** The lone caller to poll for, or 0 not to poll: a header that does not decode is the supervisor's to answer. */
function lonePid (bytes: Uint8Array): number {
  if (!spin.on) return 0
  try {
    const h = decodeInHeader(bytes)
    return spin.worth(h.opcode, h.pid) ? h.pid : 0
  } catch {
    return 0
  }
}

for (;;) {
  const slot = ring.acquire()
  if (slot < 0) break
  let n: number
  try {
    n = readSync(setup.fd, ring.slot(slot), 0, ring.slotSize, null)
  } catch (err) {
    ring.unacquire(slot)
    const e = err as NodeJS.ErrnoException
    if (e.code !== undefined && RETRY.has(e.code)) continue
    ring.close(typeof e.errno === 'number' ? -e.errno : 5)
    break
  }
  if (n === 0) {
    ring.unacquire(slot)
    ring.close(19) // ENODEV: end of file on the device means the connection is gone
    break
  }
  // Decided and offered before publishing: from then on the slot's bytes
  // are the supervisor's, and it may answer at once.
  const bytes = ring.slot(slot).subarray(0, n)
  const pid = lonePid(bytes)
  const poll = pid !== 0
  const unique = poll ? wireUnique(bytes) : 0n
  if (poll) handover.offer(unique)
  const tail = ring.publish(slot, n)
  if (poll) {
    pollAndAnswer(tail, unique)
    // Answered first, and only named: the serving thread looks (follow.ts).
    board?.saw(pid)
  }
}

/** Poll until the request is served; write its reply if the supervisor handed it over. */
function pollAndAnswer (tail: number, unique: bigint): void {
  spin.poll(() => handover.handed() !== 0 || ring.servedUpTo(tail))
  let length = handover.handed()
  if (length === 0) {
    if (handover.withdraw(unique)) return
    length = handover.waitHanded()
  }
  writeReply(setup.fd, [handover.reply(length)], log)
  handover.written()
}
