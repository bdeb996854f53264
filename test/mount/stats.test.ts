// Seeing what the daemon does: `objfs stats` (human and --json), the
// Prometheus endpoint on the loopback port, and per-request debug logging
// that only appears when asked for.
import { existsSync, readFileSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import type { StatsSnapshot } from '../../src/metrics/snapshot.ts'
import { isMounted } from '../../src/channel/unmount.ts'
import { stateDirOf } from '../../src/keeper/state.ts'
import { crashDaemon, dropCaches, servingPid, mountObjfs, mountTier, objfsBin, q, run, shOk, tempDir, unmountAtEnd, waitForNoDaemon } from './harness.ts'

async function listen (port: number): Promise<Server> {
  const server = createServer()
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => resolve())
  })
  return server
}

async function freePort (): Promise<number> {
  const s = await listen(0)
  const port = (s.address() as { port: number }).port
  await new Promise(resolve => s.close(resolve))
  return port
}

async function statsJson (t: Test, mp: string): Promise<StatsSnapshot> {
  const r = await run(objfsBin, ['stats', '--json', mp], { timeoutMs: 30_000 })
  t.equal(r.code, 0, 'objfs stats --json', { stderr: r.stderr })
  return JSON.parse(r.stdout) as StatsSnapshot
}

/** One sample of a Prometheus text: the value of `name{labels}` (labels in the order written). */
function sample (text: string, name: string, labels = ''): number | undefined {
  const line = text.split('\n').find(l => l.startsWith(`${name}${labels} `))
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1))
}

/** Listening TCP sockets on `port` from /proc/net/tcp: local addresses in the kernel's hex. */
function listeners (port: number): string[] {
  const hex = port.toString(16).toUpperCase().padStart(4, '0')
  return readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)
    .map(l => l.trim().split(/\s+/))
    .filter(f => f.length > 3 && f[3] === '0A' && f[1].endsWith(`:${hex}`))
    .map(f => f[1])
}

if (mountTier(t)) {
  t.test('objfs stats and the Prometheus endpoint show the counters moving', async t => {
    const port = await freePort()
    const m = await mountObjfs(t, { options: [`metrics_port=${port}`] })
    t.same(listeners(port), ['0100007F:' + port.toString(16).toUpperCase().padStart(4, '0')], 'the endpoint listens on 127.0.0.1 only')

    const before = await statsJson(t, m.mountpoint)
    t.equal(before.mountpoint, m.mountpoint)
    t.equal(before.pid, servingPid(m.mountpoint), 'the counters come from the process serving the mount')

    await shOk(`
      head -c 3000000 /dev/urandom > ${q(m.mountpoint)}/data.bin
      for i in 1 2 3 4 5; do stat ${q(m.mountpoint)}/missing-$i >/dev/null 2>&1 || true; done
    `)
    // A write that does not fill its block stays buffered until the file is
    // closed. Every close(2) of a descriptor flushes, even the one exec does
    // for O_CLOEXEC, so the writer spawns nothing: it holds the file open
    // until the stats are taken.
    const during = join(m.scratch, 'during.json')
    const ready = join(m.scratch, 'written')
    const done = join(m.scratch, 'done')
    const writer = `
      const fs = require('node:fs')
      const fd = fs.openSync(${JSON.stringify(`${m.mountpoint}/partial`)}, 'w')
      fs.writeSync(fd, Buffer.alloc(100000, 1))
      fs.writeFileSync(${JSON.stringify(ready)}, '')
      const poll = setInterval(() => { if (fs.existsSync(${JSON.stringify(done)})) { fs.closeSync(fd); clearInterval(poll) } }, 20)`
    await shOk(`
      ${q(process.execPath)} -e ${q(writer)} &
      writer=$!
      for i in $(seq 400); do [ -e ${q(ready)} ] && break; sleep 0.05; done
      ${q(objfsBin)} stats --json ${q(m.mountpoint)} > ${q(during)}
      touch ${q(done)}
      wait $writer
    `)
    await dropCaches()
    await shOk(`cat ${q(m.mountpoint)}/data.bin > /dev/null`)
    const after = await statsJson(t, m.mountpoint)

    const mid = JSON.parse(readFileSync(during, 'utf8')) as StatsSnapshot
    t.ok(mid.dirtyBytes > 0, `dirty bytes while a partial block is buffered (${mid.dirtyBytes})`)
    t.equal(after.dirtyBytes, 0, 'and none once it is closed')
    t.ok(after.ops.write.calls > (before.ops.write?.calls ?? 0), 'write calls counted')
    t.ok(after.store.bytesWritten - before.store.bytesWritten >= 3_100_000, 'store bytes written')
    t.ok(after.store.writeCalls > before.store.writeCalls, 'store write requests')
    t.ok(after.store.bytesRead - before.store.bytesRead >= 3_000_000, 'store bytes read (page cache dropped)')
    t.ok(after.ops.read.calls > 0, 'read calls counted')
    t.ok(after.cache.negativeEntries - before.cache.negativeEntries >= 5, 'negative entries for the missing names')
    t.ok(after.cache.writeBufferMisses > before.cache.writeBufferMisses, 'block reads from the store')
    t.ok(after.pool.inlineCalls + after.pool.workerCalls > before.pool.inlineCalls + before.pool.workerCalls, 'store calls by where they ran')
    t.equal(after.pool.queued, 0, 'nothing queued when idle')
    for (const [op, c] of Object.entries(after.ops)) {
      t.equal(c.buckets.reduce((a, b) => a + b, 0), c.calls, `${op}: every call is in a latency bucket`)
    }

    const human = await run(objfsBin, ['stats', m.mountpoint], { timeoutMs: 30_000 })
    t.equal(human.code, 0)
    t.match(human.stdout, new RegExp(`^objfs ${m.source} on ${m.mountpoint}: daemon pid \\d+`))
    t.match(human.stdout, /^ {2}write +\d+ +0 /m, 'a row per operation')
    t.match(human.stdout, /^store +\d+ block reads? \(/m)

    const res = await fetch(`http://127.0.0.1:${port}/metrics`)
    t.equal(res.status, 200)
    t.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/)
    const text = await res.text()
    t.ok((sample(text, 'objfs_requests_total', '{op="write"}') ?? 0) >= after.ops.write.calls, 'write requests on the endpoint')
    t.ok((sample(text, 'objfs_store_written_bytes_total') ?? 0) >= after.store.bytesWritten, 'store bytes on the endpoint')
    t.equal(sample(text, 'objfs_request_duration_seconds_count', '{op="write"}'), sample(text, 'objfs_requests_total', '{op="write"}'))
    t.equal(sample(text, 'objfs_dirty_bytes'), 0)
    const json = await (await fetch(`http://127.0.0.1:${port}/stats`)).json() as StatsSnapshot
    t.equal(json.pid, after.pid, '/stats serves the same snapshot')
    t.equal((await fetch(`http://127.0.0.1:${port}/nope`)).status, 404)

    await m.unmount()
    t.same(listeners(port), [], 'the endpoint closes with the daemon')
  })

  t.test('a lone caller\'s replies are written by the reader thread, and with reader_spin=0 by the supervisor', async t => {
    // One process, one syscall after another: the reader polls for each
    // request once eight in a row came from it (reader-spin.ts), and the
    // supervisor hands it the reply (handover.ts). 300 lookups of missing
    // names, each a LOOKUP the kernel has not cached.
    const lookups = (mp: string): string =>
      `${q(process.execPath)} -e ${q(`const fs = require('node:fs'); for (let i = 0; i < 300; i++) fs.existsSync(${JSON.stringify(mp)} + '/missing-' + i)`)}`
    const on = await mountObjfs(t)
    const before = await statsJson(t, on.mountpoint)
    await shOk(lookups(on.mountpoint))
    const after = await statsJson(t, on.mountpoint)
    const handed = after.repliesByReader - before.repliesByReader
    // Not all: a reply that takes longer than the reader's poll (a
    // supervisor woken from sleep) is the supervisor's to write.
    t.ok(handed >= 30, `replies written by the reader thread (${handed} of 300)`)
    await on.unmount()

    const off = await mountObjfs(t, { options: ['reader_spin=0'] })
    await shOk(lookups(off.mountpoint))
    t.equal((await statsJson(t, off.mountpoint)).repliesByReader, 0, 'with reader_spin=0 the supervisor writes every reply')
    await off.unmount()
  })

  t.test('a metrics port in use fails the mount, mounting nothing', async t => {
    const busy = await listen(await freePort())
    t.teardown(() => { busy.close() })
    const port = (busy.address() as { port: number }).port
    const base = tempDir(t)
    const mnt = join(base, 'mnt')
    await shOk(`mkdir ${q(mnt)}`)
    unmountAtEnd(t, mnt)
    const r = await run(objfsBin, ['mount', `local:${base}/store`, mnt, '-o', `metrics_port=${port}`], { timeoutMs: 60_000 })
    t.not(r.code, 0)
    t.equal(r.stderr.trim().split('\n').length, 1, 'one line', { stderr: r.stderr })
    t.match(r.stderr, new RegExp(`metrics_port=${port}`))
    t.notOk(isMounted(mnt))
    t.same(await waitForNoDaemon(mnt, 5000), [])
    t.notOk(existsSync(stateDirOf({ stateDir: undefined, mountpoint: mnt })), 'and leaves no state directory behind')
  })

  t.test('objfs stats of a path that is not a live objfs mount', async t => {
    const dir = tempDir(t)
    const none = await run(objfsBin, ['stats', dir], { timeoutMs: 30_000 })
    t.equal(none.code, 2)
    t.match(none.stderr, /is not mounted/)
    const tmpfs = await run(objfsBin, ['stats', '/proc'], { timeoutMs: 30_000 })
    t.match(tmpfs.stderr, /is not an objfs mount \(it is proc\)/)

    const m = await mountObjfs(t)
    await crashDaemon(t, m.mountpoint)
    const stale = await run(objfsBin, ['stats', m.mountpoint], { timeoutMs: 30_000 })
    t.equal(stale.code, 1)
    t.match(stale.stderr, /is stale: its daemon is gone \(objfs umount/, 'a stale mount is named as such', { stderr: stale.stderr })
  })

  t.test('per-request debug lines with log_level=debug, none at info', async t => {
    const logs = tempDir(t)
    const lines = async (level: string): Promise<Array<Record<string, unknown>>> => {
      const file = join(logs, `${level}.log`)
      const m = await mountObjfs(t, { options: [`log_level=${level}`, `log_file=${file}`] })
      await shOk(`mkdir ${q(m.mountpoint)}/d && echo x > ${q(m.mountpoint)}/d/f && cat ${q(m.mountpoint)}/d/f && ls ${q(m.mountpoint)}/d`)
      await m.unmount()
      return readFileSync(file, 'utf8').split('\n').filter(l => l !== '').map(l => JSON.parse(l) as Record<string, unknown>)
    }
    const debug = (await lines('debug')).filter(l => l.unique !== undefined)
    const ops = new Set(debug.map(l => l.op))
    for (const op of ['mkdir', 'create', 'write', 'read', 'lookup']) t.ok(ops.has(op), `a debug line for ${op}`)
    t.ok(debug.every(l => l.level === 20), 'all at level debug')
    t.ok(debug.filter(l => l.msg === 'ok').every(l => typeof l.ms === 'number'), 'answers carry their time')
    const info = await lines('info')
    t.ok(info.some(l => l.msg === 'mounted'), 'the info log is there')
    t.same(info.filter(l => l.unique !== undefined), [], 'but has no per-request lines')
  })
}
