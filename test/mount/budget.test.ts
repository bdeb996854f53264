// A writer that has spent the dirty budget on a slow store waits for room;
// nobody else does: ls, stat, reads of other files and creates go on being
// answered while its writes wait, and the written file is whole once the
// store catches up. (The reader thread used to stop reading requests while
// the budget was spent, which held up every process using the mount.)
import { spawn } from 'node:child_process'
import { rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { dropCaches, mountObjfs, mountTier, q, shOk, tempDir, type Mount } from './harness.ts'

const DELAY_MS = 6000
/** "Promptly": well inside the store's delay. */
const PROMPT_MS = 2000
const MiB = 1024 * 1024
/** The smallest budget the option takes: four 1 MiB blocks. */
const BUDGET = 4 * MiB
/** 100,000-byte writes: none covers a whole block, so every byte goes through the budget (coalesce.ts). */
const CHUNK = 100_000
const CHUNKS = 100

const sleep = async (ms: number): Promise<void> => await new Promise(resolve => setTimeout(resolve, ms))

async function timed<T> (fn: () => Promise<T>): Promise<{ ms: number, value: T }> {
  const started = Date.now()
  const value = await fn()
  return { ms: Date.now() - started, value }
}

if (mountTier(t)) {
  t.test('a writer waiting for room in the dirty budget holds up no other request', async t => {
    const dir = tempDir(t)
    const rules = join(dir, 'faults')
    process.env.OBJFS_FAULTS = `@${rules}`
    let m: Mount
    try {
      m = await mountObjfs(t, { options: [`log_file=${join(dir, 'daemon.log')}`, `dirty_limit=${BUDGET / MiB}M`] })
    } finally {
      delete process.env.OBJFS_FAULTS
    }
    const M = q(m.mountpoint)
    const faults = (text: string): void => { if (text === '') rmSync(rules, { force: true }); else writeFileSync(rules, `${text}\n`) }
    t.teardown(() => faults(''))
    await shOk(`mkdir ${M}/d && echo other > ${M}/d/other && sync ${M}/d/other`)

    faults(`writeBlocks:delay=${DELAY_MS}`)
    const dd = spawn('dd', ['if=/dev/zero', `of=${m.mountpoint}/big`, `bs=${CHUNK}`, `count=${CHUNKS}`, 'status=none'], { stdio: 'ignore', detached: true })
    const exited = new Promise<string>(resolve => dd.on('exit', (code, signal) => resolve(signal ?? String(code))))
    t.teardown(() => { if (dd.exitCode === null && dd.signalCode === null && dd.pid !== undefined) try { process.kill(-dd.pid, 'SIGKILL') } catch {} })

    const early = await Promise.race([exited, sleep(1500).then(() => undefined)])
    if (early !== undefined) throw new Error(`dd ended (${early}) before its writes had to wait: the store was not slow`)
    const s = await m.stats()
    t.ok(s.dirtyBytes + MiB > s.dirtyLimit, `the budget is spent (${s.dirtyBytes} of ${s.dirtyLimit} bytes dirty): dd's next write waits for room`)

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
    t.equal(await Promise.race([exited, sleep(0).then(() => undefined)]), undefined, 'all while dd still waits')

    faults('')
    const how = await Promise.race([exited, sleep(4 * DELAY_MS).then(() => 'still running')])
    t.equal(how, '0', 'dd finished once the store caught up')
    await shOk(`sync ${M}/big`)
    t.equal(await shOk(`stat -c %s ${M}/big`), `${CHUNK * CHUNKS}\n`)
    t.equal(await shOk(`cmp -n ${CHUNK * CHUNKS} ${M}/big /dev/zero && echo same`), 'same\n', 'every byte written')
  })
}
