// kill -9 of the daemon: what fsync (and close, and rename after them)
// acknowledged is there after a forced unmount and a remount, and fsck
// finds the metadata consistent. Crashes come at quiet moments and in the
// middle of a stream of writes, at seeded random times (OBJFS_SEED replays,
// OBJFS_SOAK=1 crashes more often).
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import type { Test } from 'tap'
import { forceUnmount, isMounted } from '../../src/channel/unmount.ts'
import { Rng, seeds, soak } from '../fs/model.ts'
import { Driver } from './driver-client.ts'
import { crashDaemon, mountObjfs, mountTier, objfsBin, q, run, shOk, type Mount } from './harness.ts'

const ROUNDS = soak() ? 20 : 3

/** A bash script in its own process group, for as long as the test lets it run. */
function background (t: Test, script: string): { stop: () => void, done: Promise<string> } {
  const child = spawn('bash', ['-c', script], { stdio: 'ignore', detached: true })
  const done = new Promise<string>(resolve => child.on('exit', (code, signal) => resolve(signal ?? String(code))))
  const stop = (): void => { if (child.exitCode === null && child.signalCode === null) try { process.kill(-(child.pid as number), 'SIGKILL') } catch {} }
  t.teardown(stop)
  return { stop, done }
}

interface FsckResult { code: number | null, kinds: string[], out: string }

async function fsck (m: Mount, ...args: string[]): Promise<FsckResult> {
  const r = await run(objfsBin, ['fsck', m.storeDir, '--json', ...args], { timeoutMs: 120_000 })
  let kinds: string[] = []
  try {
    kinds = [...new Set((JSON.parse(r.stdout) as { findings: Array<{ kind: string }> }).findings.map(f => f.kind))].sort()
  } catch {}
  return { code: r.code, kinds, out: r.stdout + r.stderr }
}

/**
 * What a crash may leave and a later open or fsck --repair frees or
 * applies: block files written but never committed (or whose rows were
 * deleted before them), orphans an open file kept alive, and the redo log
 * of changes answered but not yet committed. Anything else is corruption.
 */
const LEFTOVERS = ['orphan-block-file', 'orphan-object', 'redo-log']

if (mountTier(t)) {
  t.test('fsync, close and rename survive kill -9 at a quiet moment', async t => {
    const m = await mountObjfs(t)
    const M = q(m.mountpoint)
    await shOk(`
      head -c 5000000 /dev/urandom > ${q(m.scratch)}/big
      dd if=${q(m.scratch)}/big of=${M}/fsynced bs=1M conv=fsync status=none
      mkdir -p ${M}/dir/sub && echo closed > ${M}/dir/sub/closed
      printf 'new version' > ${M}/tmp && sync ${M}/tmp && mv ${M}/tmp ${M}/renamed
      ln ${M}/renamed ${M}/dir/hardlink && ln -s ../renamed ${M}/dir/symlink && chmod 640 ${M}/dir/sub/closed
    `, { timeoutMs: 120_000 })
    const expected = await shOk(`cd ${M} && find . -printf '%p %y %m %n %s %l\\n' | sort && find . -type f | sort | xargs sha256sum`)
    // An unlinked file still open in a process: an orphan the crash strands.
    const d = new Driver(t)
    const fd = (await d.ok({ op: 'open', path: `${m.mountpoint}/doomed`, create: true })).fd as number
    await d.ok({ op: 'pwrite', fd, offset: 0, data: Buffer.alloc(300_000, 1).toString('base64') })
    await d.ok({ op: 'fsync', fd })
    await d.ok({ op: 'unlink', path: `${m.mountpoint}/doomed` })
    // Written, not closed or fsync'ed: no promise either way.
    await d.ok({ op: 'open', path: `${m.mountpoint}/unsynced`, create: true })

    await crashDaemon(t, m.mountpoint)
    d.kill()
    t.ok(['aborted', 'lazy', 'unmounted'].includes(await forceUnmount(m.mountpoint, { timeoutMs: 10_000 })), 'the dead mount comes down')
    t.notOk(isMounted(m.mountpoint))

    const before = await fsck(m)
    t.same(before.kinds.filter(k => !LEFTOVERS.includes(k)), [], 'fsck right after the crash: nothing but leftovers', { out: before.out })
    t.ok(before.kinds.includes('orphan-object'), 'the open unlinked file is an orphan now that its daemon is dead', { out: before.out })

    await m.remount()
    t.equal(await shOk(`cd ${M} && find . -printf '%p %y %m %n %s %l\\n' | grep -v '^./unsynced ' | sort && find . -type f ! -name unsynced | sort | xargs sha256sum`), expected, 'every fsync\'ed, closed and renamed file, with its links and modes')
    await m.unmount()
    const after = await fsck(m)
    t.same(after, { code: 0, kinds: [], out: after.out }, 'fsck after the remount: clean (the orphan was reclaimed by the mount)')
  })

  t.test('kill -9 in the middle of a stream of acknowledged writes', async t => {
    const m = await mountObjfs(t, { options: ['block_size=256K'] })
    const M = q(m.mountpoint)
    const S = q(m.scratch)
    const acked = join(m.scratch, 'acked')
    for (const seed of seeds(1)) {
      const rng = new Rng(seed)
      for (let round = 0; round < ROUNDS; round++) {
        // Each file is written once: fsync'ed, or only closed, or fsync'ed and renamed; acknowledged after.
        const writer = background(t, `
          i=0
          while :; do
            f=r${round}-$i
            head -c $(( (RANDOM * 32768 + RANDOM) % 1500000 )) /dev/urandom > ${S}/$f
            sum=$(sha256sum < ${S}/$f | cut -c1-64)
            case $((i % 3)) in
              0) dd if=${S}/$f of=${M}/$f bs=64K conv=fsync status=none 2>/dev/null && echo "$f $sum" >> ${q(acked)} ;;
              1) cp ${S}/$f ${M}/$f 2>/dev/null && echo "$f $sum" >> ${q(acked)} ;;
              2) cp ${S}/$f ${M}/tmp-$f 2>/dev/null && sync ${M}/tmp-$f 2>/dev/null && mv ${M}/tmp-$f ${M}/$f 2>/dev/null && echo "$f $sum" >> ${q(acked)} ;;
            esac
            rm -f ${S}/$f
            i=$((i + 1))
          done
        `)
        const at = rng.int(300, 2500)
        await new Promise(resolve => setTimeout(resolve, at))
        await crashDaemon(t, m.mountpoint)
        // Stop the writer before the mount comes down: it must not write into the bare mountpoint.
        writer.stop()
        t.equal(await writer.done, 'SIGKILL', `round ${round} (seed ${seed}): crashed after ${at} ms`)
        await forceUnmount(m.mountpoint, { timeoutMs: 10_000 })
        const check = await fsck(m)
        t.same(check.kinds.filter(k => !LEFTOVERS.includes(k)), [], `round ${round}: nothing but leftovers after the crash (${check.kinds.join(', ') || 'none'})`, { out: check.out })
        await m.remount()
        const lines = readFileSync(acked, 'utf8').trim().split('\n').filter(l => l.startsWith(`r${round}-`))
        const want = lines.join('\n')
        const got = lines.length === 0 ? '' : await shOk(`cd ${M} && for f in ${lines.map(l => l.split(' ')[0]).join(' ')}; do echo "$f $(sha256sum < $f | cut -c1-64)"; done`, { timeoutMs: 120_000 })
        t.equal(got.trim(), want, `round ${round}: all ${lines.length} acknowledged files intact`)
      }
    }
    await m.unmount()
    const repaired = await fsck(m, '--repair')
    t.same(repaired.kinds.filter(k => !LEFTOVERS.includes(k)), [], 'only leftovers to repair', { out: repaired.out })
    const clean = await fsck(m)
    t.same([clean.code, clean.kinds], [0, []], 'and then clean', { out: clean.out })
  })
}
