// A failing store under a real mount (the test-only fault wrapper, its rules
// in a file the test rewrites while mounted): writers get ENOSPC from fsync
// and close, readers get EIO, a write that stores half its blocks fails
// without harming anything else, the daemon keeps serving meanwhile, every
// failure is logged once, and nothing acknowledged before is lost.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { Driver } from './driver-client.ts'
import { dropCaches, mountTier, mountWithFaults, objfsBin, q, run, sh, shOk, tempDir } from './harness.ts'

const ENOSPC = 28
const EIO = 5

/** Log lines (JSON) of the daemon, parsed. */
const logLines = (file: string): Array<Record<string, unknown>> =>
  readFileSync(file, 'utf8').split('\n').filter(l => l.startsWith('{')).map(l => JSON.parse(l) as Record<string, unknown>)

if (mountTier(t)) {
  t.test('a failing store: errno to the caller, service to everyone else, nothing acknowledged lost', async t => {
    const dir = tempDir(t)
    const log = join(dir, 'daemon.log')
    const { m, faults } = await mountWithFaults(t, dir, ['block_size=64K', `log_file=${log}`])
    const M = q(m.mountpoint)

    // Acknowledged: fsync'ed before anything fails.
    await shOk(`head -c 3000000 /dev/urandom > ${M}/good && sync ${M}/good && mkdir ${M}/dir && echo small > ${M}/dir/small`)
    const good = await shOk(`sha256sum < ${M}/good`)

    t.test('ENOSPC on block writes reaches fsync and close', async t => {
      faults('writeBlocks:ENOSPC')
      const dd = await sh(`dd if=/dev/urandom of=${M}/full bs=64K count=40 conv=fsync status=none`)
      t.not(dd.code, 0, 'dd conv=fsync fails')
      t.match(dd.stderr, /No space left on device/, 'with ENOSPC')
      const d = new Driver(t)
      const fd = (await d.ok({ op: 'open', path: `${m.mountpoint}/closed`, create: true })).fd as number
      await d.ok({ op: 'pwrite', fd, offset: 0, data: Buffer.alloc(200_000, 7).toString('base64') })
      t.match(await d.call({ op: 'close', fd }), { ok: false, errno: ENOSPC }, 'close(2) returns ENOSPC')

      // Everyone else is still served, reads included.
      t.equal(await shOk(`sha256sum < ${M}/good`), good, 'other files read back')
      t.equal(await shOk(`mkdir ${M}/dir2 && ls ${M} | sort | tr '\\n' ' '`), 'closed dir dir2 full good ', 'metadata calls work')
      t.equal(await shOk(`cat ${M}/dir/small`), 'small\n')
      faults('')
      await shOk(`dd if=/dev/urandom of=${M}/full bs=64K count=40 conv=fsync status=none`)
      t.pass('the same write succeeds once the store has room')
    })

    t.test('EIO on block reads reaches the reader', async t => {
      faults('readBlock:EIO')
      await dropCaches()
      const cat = await sh(`cat ${M}/good > /dev/null`)
      t.not(cat.code, 0, 'cat fails')
      t.match(cat.stderr, /Input\/output error/, 'with EIO')
      t.match(await shOk(`stat -c %s ${M}/good && ls ${M}/dir`), /^3000000\nsmall\n$/, 'stat and readdir still answer')
      faults('')
      t.equal(await shOk(`sha256sum < ${M}/good`), good, 'the data was never harmed')
    })

    t.test('a write that stores half its blocks, then fails', async t => {
      // 4 blocks, fsync'ed; then a byte in each (the blocks stay open, so fsync stores all four in one call).
      await shOk(`head -c 262144 /dev/urandom > ${M}/parts && sync ${M}/parts`)
      faults('writeBlocks:EIO:partial')
      const d = new Driver(t)
      const fd = (await d.ok({ op: 'open', path: `${m.mountpoint}/parts` })).fd as number
      for (let b = 0; b < 4; b++) await d.ok({ op: 'pwrite', fd, offset: b * 65536 + 100, data: Buffer.from('XXXX').toString('base64') })
      t.match(await d.call({ op: 'fsync', fd }), { ok: false, errno: EIO }, 'fsync reports EIO')
      await d.call({ op: 'close', fd })
      faults('')
      await dropCaches()
      const marks = await shOk(`for b in 0 1 2 3; do dd if=${M}/parts bs=1 skip=$((b * 65536 + 100)) count=4 status=none; echo; done`)
      const blocks = marks.split('\n').slice(0, 4)
      t.same(blocks.map(x => x === 'XXXX'), [true, true, false, false], 'the first half of the blocks landed, the rest kept the old bytes')
      t.equal(await shOk(`stat -c %s ${M}/parts`), '262144\n', 'the size is intact')
      t.equal(await shOk(`sha256sum < ${M}/good`), good, 'other data untouched')
    })

    t.test('each failure is logged once, by the layer that saw it', async t => {
      const lines = logLines(log)
      const stored = lines.filter(l => l.msg === 'storing written data failed')
      const failed = lines.filter(l => l.msg === 'request failed')
      t.ok(lines.some(l => l.msg === 'TEST-ONLY fault injection is active on this store'), 'the fault wrapper announced itself')
      // full (dd), closed (driver), parts: one line per file whose stored data was lost.
      t.equal(stored.filter(l => l.errno === ENOSPC).length, 2, 'one line per file that could not be stored (ENOSPC)', { stored })
      t.equal(stored.filter(l => l.errno === EIO).length, 1, 'and for the partial write (EIO)')
      t.same(failed.filter(l => l.op === 'fsync' || l.op === 'flush'), [], 'fsync and close reporting a stored failure do not log it again')
      t.ok(failed.some(l => l.op === 'read' && l.errno === EIO), 'a failed read is logged by the dispatcher, the only layer that saw it')
      t.notOk(lines.some(l => l.msg === 'unexpected failure (bug)'), 'no failure was a surprise')
    })

    t.test('after the failures: nothing acknowledged is lost, the store is consistent', async t => {
      await m.unmount()
      const fsck = await run(objfsBin, ['fsck', m.storeDir], { timeoutMs: 60_000 })
      t.equal(fsck.code, 0, 'fsck: clean', { stdout: fsck.stdout })
      await m.remount()
      t.equal(await shOk(`sha256sum < ${M}/good`), good, 'the fsync\'ed file')
      t.equal(await shOk(`cat ${M}/dir/small`), 'small\n', 'the closed file')
    })
  })
}
