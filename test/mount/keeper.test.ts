// The keeper (src/keeper): the mount outlives its serving process. kill -9
// of that process in the middle of rsync, of a long write, of a file held
// open for reading and writing; and `objfs upgrade` during a long write.
// The processes using the mount must see a pause and nothing else.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { defaultLogFile, stateDirOf } from '../../src/keeper/state.ts'
import { Rng, seeds } from '../fs/model.ts'
import { background, crashServer, dropCaches, mountObjfs, mountTier, objfsBin, q, run, servingPid, shOk, within, type Mount } from './harness.ts'

const NODE = process.execPath

/** Thousands of small files in nested directories and a few of several MiB, from a seed. */
function makeTree (root: string, seed: number): number {
  const rng = new Rng(seed)
  let files = 0
  for (let d = 0; d < 24; d++) {
    const dir = join(root, `d${d}`, d % 3 === 0 ? 'deep/er/still' : '')
    mkdirSync(dir, { recursive: true })
    for (let f = 0; f < 125; f++) {
      const data = Buffer.alloc(rng.int(200, 9000))
      for (let i = 0; i < data.length; i += 4) data.writeUInt32LE(rng.int(0, 2 ** 32 - 1), Math.min(i, data.length - 4))
      writeFileSync(join(dir, `f${f}.dat`), data)
      files++
    }
  }
  for (let b = 0; b < 3; b++) {
    const big = Buffer.alloc(12 * 1024 * 1024)
    for (let i = 0; i < big.length; i += 4096) big.writeUInt32LE(rng.int(0, 2 ** 32 - 1), i)
    writeFileSync(join(root, `big${b}.bin`), big)
    files++
  }
  return files
}

const sha = async (path: string): Promise<string> => (await shOk(`sha256sum < ${q(path)} | cut -c1-64`, { timeoutMs: 120_000 })).trim()

if (mountTier(t)) {
  t.test('kill -9 of the serving process during rsync -a: rsync exits 0 and the tree is complete', async t => {
    for (const seed of seeds(1)) {
      const m = await mountObjfs(t)
      const src = join(m.scratch, 'tree')
      const files = makeTree(src, seed)
      const rng = new Rng(seed)
      const rsync = background(t, 'rsync', ['-a', `${src}/`, join(m.mountpoint, 'tree')])
      let finished = false
      void rsync.done.then(() => { finished = true })
      let crashes = 0
      for (let i = 0; i < 4 && !finished; i++) {
        await new Promise(resolve => setTimeout(resolve, rng.int(200, 900)))
        if (finished) break
        await crashServer(m.mountpoint)
        crashes++
      }
      const r = await rsync.done
      t.equal(r.code, 0, `rsync of ${files} files exits 0 across ${crashes} crashes of the serving process (seed ${seed})`, { out: r.out })
      t.ok(crashes >= 2, `the serving process was killed ${crashes} times while rsync ran`)
      const diff = await run('diff', ['-r', src, join(m.mountpoint, 'tree')], { timeoutMs: 300_000 })
      t.equal(diff.code, 0, 'every file and directory is there with the right bytes', { out: diff.stdout.slice(0, 2000) + diff.stderr.slice(0, 2000) })
      const again = await run('rsync', ['-a', '--itemize-changes', '--dry-run', `${src}/`, join(m.mountpoint, 'tree')], { timeoutMs: 300_000 })
      t.equal(again.stdout, '', 'a second rsync -a finds nothing to transfer (modes and times are right too)')
      await m.unmount()
      await m.remount()
      t.equal((await run('diff', ['-r', src, join(m.mountpoint, 'tree')], { timeoutMs: 300_000 })).code, 0, 'and so after a remount')
    }
  })

  t.test('objfs upgrade during a long sequential write: the checksum holds', async t => {
    const m = await mountObjfs(t)
    const src = join(m.scratch, 'big')
    await shOk(`head -c ${256 << 20} /dev/urandom > ${q(src)}`, { timeoutMs: 120_000 })
    // One open file, written 1 MiB at a time with short pauses, so the upgrades land mid-stream.
    const writer = background(t, NODE, ['-e', `
      const fs = require('node:fs')
      const src = fs.openSync(process.argv[1], 'r'), dst = fs.openSync(process.argv[2], 'w')
      const buf = Buffer.alloc(1 << 20)
      let n, at = 0
      const step = () => {
        if ((n = fs.readSync(src, buf, 0, buf.length, at)) === 0) { fs.closeSync(dst); return }
        fs.writeSync(dst, buf, 0, n, at); at += n
        setTimeout(step, 4)
      }
      step()
    `, src, join(m.mountpoint, 'big')])
    let upgrades = 0
    for (let i = 0; i < 3; i++) {
      await new Promise(resolve => setTimeout(resolve, 400))
      const before = servingPid(m.mountpoint)
      const r = await run(objfsBin, ['upgrade', m.mountpoint], { timeoutMs: 60_000 })
      t.equal(r.code, 0, `upgrade ${i + 1} succeeds`, { stderr: r.stderr })
      t.not(servingPid(m.mountpoint), before, 'a new serving process serves the mount')
      upgrades++
    }
    const w = await writer.done
    t.equal(w.code, 0, `the writer finished without an error across ${upgrades} upgrades`, { out: w.out })
    t.equal(await sha(join(m.mountpoint, 'big')), await sha(src), 'the file has the bytes written')
    await m.unmount()
    const state = stateDirOf({ stateDir: undefined, mountpoint: m.mountpoint })
    t.notOk(existsSync(state), `a clean unmount leaves no state behind (${state})`, { left: existsSync(state) ? readdirSync(state, { recursive: true }) : [] })
    await m.remount()
    t.equal(await sha(join(m.mountpoint, 'big')), await sha(src), 'and so after a remount')
  })

  t.test('kill -9 during a sequential write of whole blocks, some overwritten in part: the bytes hold', async t => {
    const m = await mountObjfs(t)
    // Whole 1 MiB blocks are stored before they are answered, with no
    // journal record; the partial overwrites are journaled, and a file with
    // records on disk has its whole blocks journaled too (coalesce.ts), or
    // replay after a crash would lay an older record over a newer block.
    // The writer keeps its own copy and compares at the end.
    const writer = background(t, NODE, ['-e', `
      const fs = require('node:fs')
      const MiB = 1 << 20, blocks = 160
      const model = Buffer.alloc(blocks * MiB)
      const fd = fs.openSync(process.argv[1], 'w')
      let i = 0
      const step = () => {
        if (i === blocks) {
          fs.fsyncSync(fd)
          fs.closeSync(fd)
          const back = fs.readFileSync(process.argv[1])
          console.log(back.equals(model) ? 'same ' + back.length : 'differs')
          return
        }
        const block = model.subarray(i * MiB, (i + 1) * MiB)
        for (let k = 0; k < MiB; k += 4096) block.writeUInt32LE((i * 7919 + k) >>> 0, k)
        fs.writeSync(fd, block, 0, MiB, i * MiB)
        if (i % 5 === 4) {
          const at = (i - 3) * MiB + 5000
          const part = Buffer.alloc(100, i)
          part.copy(model, at)
          fs.writeSync(fd, part, 0, 100, at)
          // Stored now; its record stays in the journal segment on disk.
          fs.fsyncSync(fd)
        }
        if (i % 5 === 0 && i > 0) {
          // The block overwritten in part one step ago, now whole: replay
          // must not lay that older record over it.
          const j = i - 4
          const again = model.subarray(j * MiB, (j + 1) * MiB)
          again.fill(i & 0xff)
          fs.writeSync(fd, again, 0, MiB, j * MiB)
        }
        i++
        setTimeout(step, 5)
      }
      step()
    `, join(m.mountpoint, 'blocks')])
    let finished = false
    void writer.done.then(() => { finished = true })
    let crashes = 0
    for (let i = 0; i < 3 && !finished; i++) {
      await new Promise(resolve => setTimeout(resolve, 300))
      if (finished) break
      await crashServer(m.mountpoint)
      crashes++
    }
    const w = await writer.done
    t.equal(w.code, 0, `the writer finished across ${crashes} crashes`, { out: w.out })
    t.ok(crashes >= 2, `the serving process was killed ${crashes} times while it wrote`)
    t.match(w.out, /same 167772160/, 'and read back what it wrote')
    await m.unmount()
    await m.remount()
    t.equal(await shOk(`stat -c %s ${q(join(m.mountpoint, 'blocks'))}`), '167772160\n', 'the size holds after a remount')
  })

  t.test('kill -9 while a file is open for reading and writing: the same descriptor goes on working', async t => {
    // Blocks larger than the first half: at the crash, all of it is still
    // buffered (acknowledged, not stored), so only the journal has it.
    const m = await mountObjfs(t, { options: ['block_size=16M'] })
    const file = join(m.mountpoint, 'open.bin')
    // Write a first half, wait for the crash, write the second half through
    // the same descriptor, then read the whole file back through it.
    const script = `
      const fs = require('node:fs')
      const fd = fs.openSync(process.argv[1], 'w+')
      const half = 6 << 20
      const pattern = i => { const b = Buffer.alloc(1 << 20); for (let j = 0; j < b.length; j += 4) b.writeUInt32LE((i * 2654435761 + j) >>> 0, j); return b }
      for (let i = 0; i < 6; i++) fs.writeSync(fd, pattern(i), 0, 1 << 20, i << 20)
      const first = Buffer.alloc(half); fs.readSync(fd, first, 0, half, 0)
      console.log('half')
      setTimeout(() => {
        for (let i = 6; i < 12; i++) fs.writeSync(fd, pattern(i), 0, 1 << 20, i << 20)
        const all = Buffer.alloc(2 * half)
        let got = 0
        while (got < all.length) { const n = fs.readSync(fd, all, got, all.length - got, got); if (n === 0) break; got += n }
        for (let i = 0; i < 12; i++) if (!all.subarray(i << 20, (i + 1) << 20).equals(pattern(i))) { console.log('mismatch in MiB ' + i); process.exit(1) }
        fs.fsyncSync(fd); fs.closeSync(fd)
        console.log('ok ' + got)
      }, 2500)
    `
    const child = background(t, NODE, ['-e', script, file])
    // The crash comes once the first half is written and read back.
    await child.printed('half', 60_000)
    await crashServer(m.mountpoint)
    const r = await child.done
    t.equal(r.code, 0, 'the process holding the file open wrote, read and closed it after the crash', { out: r.out })
    t.match(r.out, /ok 12582912/, 'and read back all 12 MiB as written')
    const size = (await shOk(`stat -c %s ${q(file)}`)).trim()
    t.equal(size, String(12 << 20), 'the file has its full size')
  })
}

/** Mount with extra environment for the daemon (test-only switches: OBJFS_FAULTS, OBJFS_TEST_NO_RESEND). */
async function mountWithEnv (t: Test, env: Record<string, string>, options: string[] = []): Promise<Mount> {
  const saved = Object.fromEntries(Object.keys(env).map(k => [k, process.env[k]]))
  Object.assign(process.env, env)
  try {
    return await mountObjfs(t, { options })
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k]
      else process.env[k] = v
    }
  }
}

if (mountTier(t)) {
  t.test('a read in flight at the crash is resent by the kernel and answered by the next process', async t => {
    const m = await mountWithEnv(t, { OBJFS_FAULTS: 'readBlock:delay=2000:times=1' })
    const src = join(m.scratch, 'data')
    await shOk(`head -c 3000000 /dev/urandom > ${q(src)} && cp ${q(src)} ${q(m.mountpoint)}/data`)
    await dropCaches()
    const reader = background(t, 'sh', ['-c', `sha256sum < ${q(join(m.mountpoint, 'data'))} | cut -c1-64`])
    await new Promise(resolve => setTimeout(resolve, 600))
    await crashServer(m.mountpoint)
    const r = await reader.done
    t.equal(r.code, 0, 'the reader was not failed by the crash')
    t.equal(r.out.trim(), await sha(src), 'and read every byte right')
  })

  t.test('a kernel that cannot resend: the keeper answers what the dead process held', async t => {
    const m = await mountWithEnv(t, { OBJFS_FAULTS: 'readBlock:delay=2000:times=1', OBJFS_TEST_NO_RESEND: '1' })
    await shOk(`head -c 1000000 /dev/urandom > ${q(m.mountpoint)}/data`)
    await dropCaches()
    const reader = background(t, 'cat', [join(m.mountpoint, 'data')])
    // Long enough for the keeper to have heard which requests the serving process holds.
    await new Promise(resolve => setTimeout(resolve, 900))
    await crashServer(m.mountpoint)
    // Unanswered, the read would block until the connection is aborted. Answered
    // with EIO, cat fails, or the kernel retries a failed read-ahead and succeeds.
    const r = await within(reader.done, 60_000)
    t.not(r, 'timeout', `the blocked read returned (${r === 'timeout' ? 'hung' : `status ${r.code}`})`)
    const log = readFileSync(defaultLogFile(m.mountpoint), 'utf8')
    const swept = /"answered":(\d+).*answered EIO to the requests the dead process left/.exec(log)
    t.ok(swept !== null && Number(swept[1]) >= 1, `the keeper answered ${swept?.[1] ?? 'no'} abandoned request(s)`)
    t.equal((await shOk(`stat -c %s ${q(m.mountpoint)}/data`)).trim(), '1000000', 'and the mount goes on serving')
  })
}
