// The random-operation model test (test/fs/model.ts) through a real kernel
// mount: a driver process makes the system calls (pwrite, pread, ftruncate,
// fallocate, rename, link, unlink while open, several handles and calls in
// flight on one file), the kernel's caches sit in between, and every read,
// size and link count is compared with the model; then the tree again after
// fsck and a remount. OBJFS_SEED=<seed> replays, OBJFS_SOAK=1 runs long.
import { join } from 'node:path'
import t from 'tap'
import { DIRS, FsModel, RENAME_NOREPLACE, Rng, describe, nextStep, seeds, soak, type Step } from '../fs/model.ts'
import { Driver, DriverError, type DriverAnswer } from './driver-client.ts'
import { mountObjfs, mountTier, objfsBin, q, run, shOk } from './harness.ts'

const BS = 16 * 1024
const OPS = Number(process.env.OBJFS_MODEL_OPS ?? (soak() ? 20_000 : 2000))
const SEEDS = soak() ? 10 : 2

class Mismatch extends Error {}

function same (what: string, got: Buffer | number, want: Uint8Array | number): void {
  if (typeof got === 'number' || typeof want === 'number') {
    if (got !== want) throw new Mismatch(`${what}: got ${String(got)}, the model says ${String(want)}`)
    return
  }
  if (got.byteLength !== want.byteLength) throw new Mismatch(`${what}: ${got.byteLength} bytes, the model says ${want.byteLength}`)
  const at = got.findIndex((b, i) => b !== want[i])
  if (at >= 0) throw new Mismatch(`${what}: byte ${at} is ${got[at]}, the model says ${want[at]}`)
}

const b64 = (d: Uint8Array): string => Buffer.from(d.buffer, d.byteOffset, d.byteLength).toString('base64')
const bytes = (a: { data?: unknown } | DriverAnswer): Buffer => Buffer.from(a.data as string, 'base64')

/** One step through the driver; the model has already applied it. Returns false for a step a mount cannot express. */
async function step (d: Driver, mp: string, m: FsModel, fds: Map<number, number>, s: Step, drops: { n: number }): Promise<boolean> {
  const p = (path: string): string => join(mp, path)
  const fd = (h: number): number => fds.get(h) as number
  switch (s.op) {
    case 'create': fds.set(s.h, (await d.ok({ op: 'open', path: p(s.path), create: true })).fd as number); return true
    case 'open': fds.set(s.h, (await d.ok({ op: 'open', path: p(s.path) })).fd as number); return true
    case 'close': await d.ok({ op: 'close', fd: fd(s.h) }); fds.delete(s.h); return true
    case 'write': same('bytes written', (await d.ok({ op: 'pwrite', fd: fd(s.h), offset: s.offset, data: b64(s.data) })).n as number, s.data.byteLength); return true
    case 'read': same('read', bytes(await d.ok({ op: 'pread', fd: fd(s.h), offset: s.offset, length: s.length })), m.read(s.h, s.offset, s.length)); return true
    case 'truncate': await d.ok({ op: 'ftruncate', fd: fd(s.h), size: s.size }); return true
    case 'fallocate': await d.ok({ op: 'fallocate', fd: fd(s.h), mode: s.mode, offset: s.offset, length: s.length }); return true
    case 'fsync': await d.ok({ op: 'fsync', fd: fd(s.h) }); return true
    case 'fstat': {
      const a = await d.ok({ op: 'fstat', fd: fd(s.h) })
      same('fstat size', a.size as number, m.handles.get(s.h)?.size ?? -1)
      same('fstat nlink', a.nlink as number, m.handles.get(s.h)?.nlink ?? -1)
      return true
    }
    case 'stat': {
      const a = await d.ok({ op: 'stat', path: p(s.path) })
      same('stat size', a.size as number, m.names.get(s.path)?.size ?? -1)
      same('stat nlink', a.nlink as number, m.names.get(s.path)?.nlink ?? -1)
      return true
    }
    // rename(2) has no RENAME_NOREPLACE in Node; the fake-kernel test covers it.
    case 'rename': if (s.flags === RENAME_NOREPLACE) return false; await d.ok({ op: 'rename', from: p(s.from), to: p(s.to) }); return true
    case 'link': await d.ok({ op: 'link', from: p(s.from), to: p(s.to) }); return true
    case 'unlink': await d.ok({ op: 'unlink', path: p(s.path) }); return true
    case 'concurrent': {
      const calls = s.ops.map(o => o.op === 'write'
        ? { op: 'pwrite' as const, fd: fd(o.h), offset: o.offset, data: b64(o.data) }
        : { op: 'pread' as const, fd: fd(o.h), offset: o.offset, length: o.length })
      const results = (await d.ok({ op: 'parallel', calls })).results as Array<{ n?: number, data?: string }>
      s.ops.forEach((o, i) => {
        if (o.op === 'write') same('concurrent write', results[i].n as number, o.data.byteLength)
        else same('concurrent read', bytes(results[i]), m.read(o.h, o.offset, o.length))
      })
      return true
    }
    case 'forget':
      // drop_caches costs a scan of every cache on the machine: one in four.
      if (drops.n++ % 4 === 0) await d.ok({ op: 'dropCaches' }, 120_000)
      return true
  }
}

/** Every name: size, link count and bytes as the model says. */
async function verifyTree (d: Driver, mp: string, m: FsModel, when: string): Promise<void> {
  for (const [path, node] of m.names) {
    const a = await d.ok({ op: 'stat', path: join(mp, path) })
    same(`${when}: ${path} size`, a.size as number, node.size)
    same(`${when}: ${path} nlink`, a.nlink as number, node.nlink)
    const fd = (await d.ok({ op: 'open', path: join(mp, path) })).fd as number
    same(`${when}: ${path} bytes`, bytes(await d.ok({ op: 'pread', fd, offset: 0, length: node.size + 1 })), node.data)
    await d.ok({ op: 'close', fd })
  }
  const names = (await shOk(`cd ${q(mp)} && find . -type f | sed 's|^\\./||' | sort`)).split('\n').filter(l => l !== '')
  const want = [...m.names.keys()].sort()
  if (names.join('\n') !== want.join('\n')) throw new Mismatch(`${when}: the names are [${names.join(' ')}], the model says [${want.join(' ')}]`)
}

if (mountTier(t)) {
  for (const seed of seeds(SEEDS)) {
    t.test(`seed ${seed}: ${OPS} random operations on a mount (replay: OBJFS_SEED=${seed})`, async t => {
      const mnt = await mountObjfs(t, { options: [`block_size=${BS / 1024}K`] })
      const mp = mnt.mountpoint
      await shOk(`mkdir ${DIRS.slice(1).map(x => q(join(mp, x))).join(' ')}`)
      const d = new Driver(t)
      const m = new FsModel({ blockSize: BS, maxSize: 24 * BS, maxHandles: 10 })
      const rng = new Rng(seed)
      const fds = new Map<number, number>()
      const recent: string[] = []
      const drops = { n: 0 }
      let skipped = 0
      let i = 0
      try {
        for (; i < OPS; i++) {
          const s = nextStep(m, rng)
          recent.push(`${i}: ${describe(s)}`)
          if (recent.length > 12) recent.shift()
          m.apply(s)
          try {
            if (!await step(d, mp, m, fds, s, drops)) skipped++
            else if (s.errno !== undefined) throw new Mismatch(`succeeded; the model says errno ${s.errno}`)
          } catch (err) {
            if (!(err instanceof DriverError) || err.errno !== s.errno) throw err
          }
        }
        for (const [h, fd] of fds) { await d.ok({ op: 'close', fd }); m.apply({ op: 'close', h }) }
        await verifyTree(d, mp, m, 'mounted')
      } catch (err) {
        t.fail(`seed ${seed}, step ${i}: ${(err as Error).message}`, { recent })
        return
      }
      t.pass(`${OPS - skipped} operations as the model says (${skipped} a mount cannot express)`)

      await mnt.unmount()
      const fsck = await run(objfsBin, ['fsck', mnt.storeDir], { timeoutMs: 60_000 })
      t.equal(fsck.code, 0, 'fsck finds the store clean', { stdout: fsck.stdout, stderr: fsck.stderr })
      await mnt.remount()
      try {
        await verifyTree(d, mp, m, 'remounted')
        t.pass('the same after a remount')
      } catch (err) {
        t.fail(`seed ${seed}: ${(err as Error).message}`)
      }
    })
  }
}
