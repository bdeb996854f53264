// The notifier (src/channel/notify.ts): notifications go out, one write
// each, from a thread of their own, so that a write the kernel holds up
// never holds up the main thread; past its bound the queue drops.
import { spawnSync } from 'node:child_process'
import { closeSync, mkdtempSync, openSync, readFileSync, readSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { encodeNotifyInvalEntry, encodeNotifyInvalInode } from '../../src/channel/encode.ts'
import { Notifier } from '../../src/channel/notify.ts'

const settle = async (what: () => boolean, ms = 10_000): Promise<boolean> => {
  const until = Date.now() + ms
  while (!what() && Date.now() < until) await new Promise(resolve => setTimeout(resolve, 10))
  return what()
}

t.test('a stale object: INVAL_ENTRY for a name gone, INVAL_INODE for the object, in that order', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'objfs-notify-'))
  const path = join(dir, 'out')
  const fd = openSync(path, 'w')
  const n = new Notifier(fd)
  t.teardown(() => { n.close(); closeSync(fd); rmSync(dir, { recursive: true, force: true }) })
  n.stale(7, 1, 'gone.txt', true)
  n.stale(9, 1, 'changed.txt', false)
  n.stale(undefined, undefined, 'never-given.txt', true)
  t.ok(await settle(() => n.sent === 3), 'three notifications written')
  const want = Buffer.concat([encodeNotifyInvalEntry(1, 'gone.txt'), encodeNotifyInvalInode(7, 0, 0), encodeNotifyInvalInode(9, 0, 0)])
  t.same(readFileSync(path), want, 'the entry and the inode of the gone name, the inode of the changed one; nothing for what the kernel was never given')
})

t.test('a write the kernel holds up blocks the notifier thread, never the main thread', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'objfs-notify-'))
  const fifo = join(dir, 'fifo')
  if (!t.equal(spawnSync('mkfifo', [fifo]).status, 0, 'a FIFO stands in for /dev/fuse')) return
  // Read and write: opening does not wait for a peer, and nobody drains it until we do.
  const fd = openSync(fifo, 'r+')
  const n = new Notifier(fd)
  t.teardown(() => { n.close(); closeSync(fd); rmSync(dir, { recursive: true, force: true }) })
  const one = encodeNotifyInvalInode(1, 0, 0).byteLength
  // A pipe holds 64 KiB: more than that, and more than the queue holds, blocks the writer.
  const posted = 8000
  for (let i = 0; i < posted; i++) n.invalInode(i + 2)
  const started = Date.now()
  await new Promise(resolve => setTimeout(resolve, 300))
  t.ok(Date.now() - started < 2000, 'the main thread kept running while the writes were stuck')
  // Until the pipe is full: then the count stops moving.
  let last = -1
  while (n.sent !== last) {
    last = n.sent
    await new Promise(resolve => setTimeout(resolve, 300))
  }
  t.ok(n.sent * one > 32768, `the notifier wrote until the pipe was full (${n.sent} notifications, ${n.sent * one} bytes)`)
  t.ok(n.sent < posted, 'then it was stuck in write(2)')
  t.ok(n.dropped > 0, `what did not fit the queue was dropped (${n.dropped})`)
  // Drain the pipe: the stuck thread goes on.
  const buf = Buffer.alloc(65536)
  let read = 0
  const expect = (posted - n.dropped) * one
  while (read < expect) read += readSync(fd, buf, 0, Math.min(buf.byteLength, expect - read), null)
  t.ok(await settle(() => n.sent === posted - n.dropped), `every queued notification went out once the reader drained (${n.sent})`)
})
