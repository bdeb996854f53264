// The request ring's pages on a real mount (src/channel/ring.ts). The kernel
// copies each request into a slot from inside the reader thread's read(2);
// a page fault there, with kill -9 of the daemon pending, fails the copy,
// and the kernel ends that request with EIO rather than resending it to the
// next serving process. So the slots are written once ahead of use, and
// again after each fork (the threads binding themselves to CPUs with
// taskset), which leaves every page copy-on-write.
import { readdirSync, readFileSync } from 'node:fs'
import t from 'tap'
import { mountObjfs, mountTier, q, servingPid, shOk } from './harness.ts'

const SLOTS = 32
/** Pages of one slot: a WRITE of max_write (1 MiB) and a page for headers. */
const SLOT_PAGES = 257

/** The thread blocked reading /dev/fuse: the reader. It may be polling for a moment. */
async function readerThread (pid: number): Promise<number> {
  const until = Date.now() + 10_000
  for (;;) {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        if (readFileSync(`/proc/${pid}/task/${tid}/wchan`, 'latin1') === 'fuse_dev_do_read') return Number(tid)
      } catch {}
    }
    if (Date.now() > until) throw new Error(`no thread of ${pid} is reading /dev/fuse`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

/** Minor page faults of one thread (field 10 of its stat), kernel copies into its buffers included. */
const minorFaults = (pid: number, tid: number): number =>
  Number(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'latin1').replace(/^.*\) /, '').split(' ')[7])

if (mountTier(t)) {
  t.test('the reader thread takes no page faults copying WRITEs into the ring, also after the daemon forked', async t => {
    const m = await mountObjfs(t, { options: [`slots=${SLOTS}`] })
    // Enough commits to start the checkpoint thread (checkpoint.ts START_AFTER_COMMITS), which forks
    // to bind itself where there are two CPUs or more, as the serving and reader threads did at start.
    await shOk(`cd ${q(m.mountpoint)} && for i in $(seq 100); do echo $i > f$i && sync f$i; done`, { timeoutMs: 120_000 })
    const pid = servingPid(m.mountpoint)
    if (pid === undefined) throw new Error('no serving process')
    const reader = await readerThread(pid)
    const before = minorFaults(pid, reader)
    // Four writers at once, 1 MiB a WRITE: the reader takes slot after slot, every page of each.
    await shOk(`cd ${q(m.mountpoint)} && for i in 1 2 3 4; do dd if=/dev/zero of=big$i bs=1M count=32 status=none & done; wait`, { timeoutMs: 120_000 })
    const faults = minorFaults(pid, reader) - before
    // Copy-on-write slots fault once a page: 8,224 for the whole ring (8,266 measured before the refault).
    t.ok(faults < SLOTS * SLOT_PAGES / 8, `${faults} page faults in the reader thread while it read 128 MiB of WRITEs (the ring has ${SLOTS * SLOT_PAGES} pages)`)
    t.equal((await shOk(`cat ${q(m.mountpoint)}/big* | wc -c`)).trim(), String(128 << 20), 'the files hold what was written')
    await m.unmount()
  })
}
