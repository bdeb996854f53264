// A writer that has spent the dirty budget on a slow store waits for room;
// nobody else does: ls, stat, reads of other files and creates go on being
// answered while it waits. (The reader thread used to stop reading requests
// while the budget was spent, which held up every process using the mount.)
// A Ctrl-C ends the waiting writer at once, and what it wrote before stays.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { Driver } from './driver-client.ts'
import { dropCaches, mountTier, mountWithFaults, q, shOk, tempDir } from './harness.ts'

const DELAY_MS = 6000
/** "Promptly": well inside the store's delay. */
const PROMPT_MS = 2000
const MiB = 1024 * 1024
/** The smallest budget the option takes: four 1 MiB blocks. */
const BUDGET = 4 * MiB
/** Half a block in: no WRITE of the kernel's (1 MiB) covers a whole block, so every byte goes through the budget (coalesce.ts). */
const AT = MiB / 2
const SIZE = 8 * MiB

const sleep = async (ms: number): Promise<void> => await new Promise(resolve => setTimeout(resolve, ms))

async function timed<T> (fn: () => Promise<T>): Promise<{ ms: number, value: T }> {
  const started = Date.now()
  const value = await fn()
  return { ms: Date.now() - started, value }
}

if (mountTier(t)) {
  t.test('a writer waiting for room in the dirty budget holds up no other request', async t => {
    const dir = tempDir(t)
    const { m, faults } = await mountWithFaults(t, dir, [`log_file=${join(dir, 'daemon.log')}`, `dirty_limit=${BUDGET / MiB}M`])
    const M = q(m.mountpoint)
    const big = join(m.mountpoint, 'big')
    await shOk(`mkdir ${M}/d && echo other > ${M}/d/other && sync ${M}/d/other`)

    faults(`writeBlocks:delay=${DELAY_MS}`)
    const d = new Driver(t)
    const fd = (await d.ok({ op: 'open', path: big, create: true })).fd as number
    const write = d.send({ op: 'pwrite', fd, offset: AT, data: Buffer.alloc(SIZE, 9).toString('base64') })
    const early = await Promise.race([write, sleep(1500).then(() => undefined)])
    if (early !== undefined) throw new Error('the write ended before it had to wait: the store was not slow')
    const s = await m.stats()
    t.ok(s.dirtyBytes + MiB > s.dirtyLimit, `the budget is spent (${s.dirtyBytes} of ${s.dirtyLimit} bytes dirty): the writer waits for room`)

    const ls = await timed(async () => await shOk(`ls -l ${M}/d`))
    t.ok(ls.ms < PROMPT_MS, `ls -l answered in ${ls.ms} ms (a store write takes ${DELAY_MS} ms)`)
    t.match(ls.value, /other/)
    const stat = await timed(async () => await shOk(`stat -c %s ${M}/d/other`))
    t.ok(stat.ms < PROMPT_MS, `stat answered in ${stat.ms} ms`)
    await dropCaches()
    const cat = await timed(async () => await shOk(`cat ${M}/d/other`))
    t.ok(cat.ms < PROMPT_MS, `a cold read of another file answered in ${cat.ms} ms`)
    t.equal(cat.value, 'other\n')
    const made = await timed(async () => await shOk(`mkdir ${M}/d/new && touch ${M}/d/new/f`))
    t.ok(made.ms < PROMPT_MS, `mkdir and a create answered in ${made.ms} ms`)
    t.equal(await Promise.race([write, sleep(0).then(() => undefined)]), undefined, 'all while the writer still waits')

    // Ctrl-C: the WRITE waiting for room gives up (EINTR) instead of waiting out the store.
    const started = Date.now()
    d.signal('SIGINT')
    const how = await Promise.race([d.exited, sleep(DELAY_MS + 5000).then(() => 'still running')])
    const ms = Date.now() - started
    t.ok(ms < PROMPT_MS, `the writer ended ${ms} ms after SIGINT, the close at exit included`)
    t.equal(how, 'SIGINT', 'by its signal')
    t.ok((await m.stats()).errors.EINTR >= 1, 'its WRITE was answered EINTR')

    faults('')
    await shOk(`sync ${M}/big`)
    const got = readFileSync(big)
    t.ok(got.byteLength > AT && got.byteLength < AT + SIZE, `what was written before the signal is there: ${got.byteLength} bytes`)
    t.ok(got.subarray(0, AT).every(b => b === 0) && got.subarray(AT).every(b => b === 9), 'every byte of it')
    await shOk(`dd if=/dev/zero of=${M}/big bs=100000 count=100 status=none && sync ${M}/big`)
    t.equal(await shOk(`stat -c %s ${M}/big && cmp -n 10000000 ${M}/big /dev/zero && echo same`), '10000000\nsame\n', 'with the store fast again, a whole file written through the budget')
  })
}
