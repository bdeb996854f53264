// The keeper with the S3 store, whose nodeids cannot be derived from the
// store: after kill -9 of the serving process, a directory held as a cwd
// and a file held open keep working, through the nodeid log; files closed
// and not yet uploaded are taken over by the new process (s3/recover.ts).
import { createHash } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3'
import t from 'tap'
import { deletePrefix, uniquePrefix } from '../s3-env.ts'
import { background, crashServer, mountObjfs, objfsBin, q, run, shOk } from './harness.ts'
import { s3Mounts } from './s3-mounts.ts'

t.setTimeout(300_000)

const s3 = await s3Mounts(t)
if (s3 !== undefined) {
  const { c, bucket } = s3

  t.test('kill -9 of the serving process: a cwd and an open file in an S3 mount go on working', async t => {
    const { m } = await s3.mountPrefix(t, 'keeper')
    const src = join(m.scratch, 'big')
    // fsync'ed: for S3 that is the durability point (a closed file is uploaded commit_delay later).
    await shOk(`head -c 5000000 /dev/urandom > ${q(src)} && mkdir -p ${q(m.mountpoint)}/d/e && cp ${q(src)} ${q(m.mountpoint)}/d/e/big && echo small > ${q(m.mountpoint)}/d/e/f1 && sync ${q(m.mountpoint)}/d/e/big ${q(m.mountpoint)}/d/e/f1`)
    const want = createHash('sha256').update(readFileSync(src)).digest('hex')
    // Holds d/e as its cwd and big open; reads part, waits for the crash, reads the rest.
    const holder = background(t, process.execPath, ['-e', `
      const fs = require('node:fs'), crypto = require('node:crypto')
      process.chdir(process.argv[1])
      const fd = fs.openSync('big', 'r')
      const buf = Buffer.alloc(5000000)
      let got = fs.readSync(fd, buf, 0, 1000000, 0)
      console.log('ready')
      setTimeout(() => {
        while (got < buf.length) { const n = fs.readSync(fd, buf, got, buf.length - got, got); if (n === 0) break; got += n }
        console.log(JSON.stringify({ sha: crypto.createHash('sha256').update(buf.subarray(0, got)).digest('hex'), list: fs.readdirSync('.').sort(), f1: fs.readFileSync('f1', 'utf8') }))
      }, 3000)
    `, join(m.mountpoint, 'd/e')])
    await holder.printed('ready', 60_000)
    await crashServer(m.mountpoint, 60_000)
    const { code, out } = await holder.done
    t.equal(code, 0, 'the process holding the cwd and the file finished', { out })
    const result = JSON.parse(out.split('\n').find(l => l.startsWith('{')) ?? '{}') as { sha?: string, list?: string[], f1?: string }
    t.equal(result.sha, want, 'the open file read to its end with the right bytes')
    t.same(result.list, ['big', 'f1'], 'the directory held as cwd lists')
    t.equal(result.f1, 'small\n', 'and a name in it opens')
    t.equal(await shOk(`cat ${q(m.mountpoint)}/d/e/f1`), 'small\n', 'the mount serves new lookups too')
  })

  t.test('kill -9 of the serving process: files written and closed, not yet uploaded, are kept and uploaded later', async t => {
    const prefix = uniquePrefix('keeper-staged')
    const cacheDir = mkdtempSync(join(tmpdir(), 'objfs-s3-keeper-'))
    t.teardown(async () => {
      await deletePrefix(c, bucket, `${prefix}/`)
      rmSync(cacheDir, { recursive: true, force: true })
    })
    const m = await mountObjfs(t, { source: `s3://${bucket}/${prefix}`, options: [`endpoint=${s3.env.endpoint}`, 'commit_delay=30', `cache_dir=${cacheDir}`] })
    const src = join(m.scratch, 'data')
    const mp = m.mountpoint
    // Written and closed (no fsync): staged, its upload 30 s away. One more renamed after close, as rsync does.
    await shOk(`head -c 3000000 /dev/urandom > ${q(src)} && mkdir ${q(mp)}/d && cp ${q(src)} ${q(mp)}/d/w && echo hello > ${q(mp)}/.t && mv ${q(mp)}/.t ${q(mp)}/final && chmod 600 ${q(mp)}/d/w`)
    const want = readFileSync(src)
    const stored = async (key: string): Promise<boolean> => await c.send(new HeadObjectCommand({ Bucket: bucket, Key: `${prefix}/${key}` })).then(() => true, () => false)
    t.notOk(await stored('d/w'), 'not uploaded before the crash')
    await crashServer(mp, 60_000)
    const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')
    t.equal(sha(readFileSync(join(mp, 'd/w'))), sha(want), 'the file reads back with its bytes after the crash')
    t.equal(await shOk(`stat -c '%s %a' ${q(mp)}/d/w`), `${want.byteLength} 600\n`, 'with its size and mode')
    t.equal(await shOk(`cat ${q(mp)}/final && ls -a ${q(mp)}`), 'hello\n.\n..\nd\nfinal\n', 'the renamed file under its final name only')
    t.notOk(await stored('d/w'), 'still staged: uploaded on the usual schedule, not at takeover')
    await m.unmount()
    const got = await c.send(new GetObjectCommand({ Bucket: bucket, Key: `${prefix}/d/w` }))
    const body = await (got.Body as { transformToByteArray: () => Promise<Uint8Array> }).transformToByteArray()
    t.equal(sha(body), sha(want), 'after objfs umount the object holds the bytes written before the crash')
    t.equal(got.Metadata?.mode, String(0o100600), 'and the mode')
    t.ok(await stored('final'), 'the renamed file is uploaded')
    t.notOk(await stored('.t'), 'under its final name only')
  })

  t.test('kill -9 while a file is being written: what the writer was told is written reaches the object', async t => {
    const { m, prefix } = await s3.mountPrefix(t, 'keeper-journal')
    const file = join(m.mountpoint, 'open.bin')
    // 3 MiB in 64 KiB writes (buffered by the coalescer, not yet staged), the
    // crash, 3 MiB more through the same descriptor, then close.
    const writer = background(t, process.execPath, ['-e', `
      const fs = require('node:fs')
      const fd = fs.openSync(process.argv[1], 'w')
      const chunk = i => { const b = Buffer.alloc(65536); for (let j = 0; j < b.length; j += 4) b.writeUInt32LE((i * 2654435761 + j) >>> 0, j); return b }
      for (let i = 0; i < 48; i++) fs.writeSync(fd, chunk(i), 0, 65536, i * 65536)
      console.log('half')
      setTimeout(() => {
        for (let i = 48; i < 96; i++) fs.writeSync(fd, chunk(i), 0, 65536, i * 65536)
        fs.closeSync(fd)
        console.log('closed')
      }, 2500)
    `, file])
    await writer.printed('half', 60_000)
    await crashServer(m.mountpoint, 60_000)
    const { code, out } = await writer.done
    t.equal(code, 0, 'the writer wrote and closed across the crash', { out })
    const want = Buffer.concat(Array.from({ length: 96 }, (_, i) => {
      const b = Buffer.alloc(65536)
      for (let j = 0; j < b.length; j += 4) b.writeUInt32LE((i * 2654435761 + j) >>> 0, j)
      return b
    }))
    await m.unmount()
    const got = await c.send(new GetObjectCommand({ Bucket: bucket, Key: `${prefix}/open.bin` }))
    const body = await (got.Body as { transformToByteArray: () => Promise<Uint8Array> }).transformToByteArray()
    t.equal(body.byteLength, want.byteLength, 'the object has the full size')
    t.ok(Buffer.from(body).equals(want), 'and every byte, the first half from the write journal')
  })

  // umount(8) returns before the daemon has uploaded the files closed and
  // still staged (commit_delay). Before a new mount waited for it, one at
  // the same place at once listed some of these files and not the big one.
  t.test('umount, then a new mount at the same place: the files the first daemon uploads at unmount are all there', async t => {
    const options = ['commit_delay=30']
    const { m } = await s3.mountPrefix(t, 'keeper-remount', options)
    const big = join(m.scratch, 'big')
    await shOk(`head -c 100000000 /dev/urandom > ${q(big)} && for i in $(seq 1 1500); do head -c 2000 /dev/urandom > ${q(m.mountpoint)}/f$i; done && cp ${q(big)} ${q(m.mountpoint)}/big`, { timeoutMs: 180_000 })
    await shOk(`umount ${q(m.mountpoint)}`, { timeoutMs: 30_000 })
    const r = await run(objfsBin, ['mount', m.source, m.mountpoint, '-o', [`endpoint=${s3.env.endpoint}`, ...options].join(',')], { timeoutMs: 180_000 })
    t.equal(r.code, 0, 'a new daemon mounts the same prefix at the same place', { stderr: r.stderr })
    t.equal(await shOk(`ls ${q(m.mountpoint)} | wc -l`), '1501\n', 'every file is listed at once')
    t.equal(await shOk(`cmp ${q(big)} ${q(m.mountpoint)}/big && echo same`, { timeoutMs: 120_000 }), 'same\n', 'the big one with its bytes')
    await m.unmount()
  })
}
