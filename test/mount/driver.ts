// A child process that performs file system calls on a mount for a test:
// one JSON request per stdin line, one JSON answer per stdout line. The test
// process itself never touches a mount (a hung daemon would hang it), so it
// talks to this driver and kills it when an answer is late.
//
//   request: { id, op, ...args }   answer: { id, ok: true, ...result } | { id, ok: false, errno, code }
import { spawnSync } from 'node:child_process'
import {
  closeSync, constants, fstatSync, fsyncSync, linkSync, openSync, read, readSync, renameSync, statSync,
  ftruncateSync, unlinkSync, write, writeFileSync, writeSync,
} from 'node:fs'
import { createInterface } from 'node:readline'
import { promisify } from 'node:util'

export type DriverRequest =
  | { op: 'open', path: string, create?: boolean }
  | { op: 'close', fd: number }
  | { op: 'pwrite', fd: number, offset: number, data: string }
  | { op: 'pread', fd: number, offset: number, length: number }
  | { op: 'ftruncate', fd: number, size: number }
  | { op: 'fallocate', fd: number, mode: number, offset: number, length: number }
  | { op: 'fsync', fd: number }
  | { op: 'fstat', fd: number }
  | { op: 'stat', path: string }
  | { op: 'rename', from: string, to: string }
  | { op: 'link', from: string, to: string }
  | { op: 'unlink', path: string }
  | { op: 'dropCaches' }
  /** Several calls in flight at once (the thread pool runs them in parallel). */
  | { op: 'parallel', calls: Array<{ op: 'pwrite', fd: number, offset: number, data: string } | { op: 'pread', fd: number, offset: number, length: number }> }

const { O_RDWR, O_CREAT, O_EXCL } = constants

function pread (fd: number, offset: number, length: number): Buffer {
  const buf = Buffer.alloc(length)
  let got = 0
  while (got < length) {
    const n = readSync(fd, buf, got, length - got, offset + got)
    if (n === 0) break
    got += n
  }
  return buf.subarray(0, got)
}

function pwrite (fd: number, offset: number, data: Buffer): number {
  let done = 0
  while (done < data.byteLength) done += writeSync(fd, data, done, data.byteLength - done, offset + done)
  return done
}

/** fallocate(1) on /proc/self/fd/N: Node has no fallocate, and the file may have no name left. */
function fallocate (fd: number, mode: number, offset: number, length: number): void {
  const flags = [(mode & 0x02) !== 0 ? '-p' : '', (mode & 0x10) !== 0 ? '-z' : '', (mode & 0x01) !== 0 && (mode & 0x02) === 0 ? '--keep-size' : ''].filter(f => f !== '')
  const r = spawnSync('fallocate', [...flags, '-o', String(offset), '-l', String(length), `/proc/${process.pid}/fd/${fd}`], { encoding: 'utf8' })
  if (r.status !== 0) throw Object.assign(new Error(`fallocate: ${r.stderr.trim()}`), { errno: -5, code: 'EIO' })
}

async function serve (r: DriverRequest): Promise<Record<string, unknown>> {
  switch (r.op) {
    case 'open': return { fd: openSync(r.path, r.create === true ? O_RDWR | O_CREAT | O_EXCL : O_RDWR, 0o644) }
    case 'close': closeSync(r.fd); return {}
    case 'pwrite': return { n: pwrite(r.fd, r.offset, Buffer.from(r.data, 'base64')) }
    case 'pread': return { data: pread(r.fd, r.offset, r.length).toString('base64') }
    case 'ftruncate': ftruncateSync(r.fd, r.size); return {}
    case 'fallocate': fallocate(r.fd, r.mode, r.offset, r.length); return {}
    case 'fsync': fsyncSync(r.fd); return {}
    case 'fstat': { const s = fstatSync(r.fd); return { size: s.size, nlink: s.nlink } }
    case 'stat': { const s = statSync(r.path); return { size: s.size, nlink: s.nlink } }
    case 'rename': renameSync(r.from, r.to); return {}
    case 'link': linkSync(r.from, r.to); return {}
    case 'unlink': unlinkSync(r.path); return {}
    case 'dropCaches': writeFileSync('/proc/sys/vm/drop_caches', '3'); return {}
    case 'parallel': {
      const results = await Promise.all(r.calls.map(async c => {
        if (c.op === 'pwrite') {
          const data = Buffer.from(c.data, 'base64')
          return { n: (await writeAt(c.fd, data, 0, data.byteLength, c.offset)).bytesWritten }
        }
        const buf = Buffer.alloc(c.length)
        const { bytesRead } = await readAt(c.fd, buf, 0, c.length, c.offset)
        return { data: buf.subarray(0, bytesRead).toString('base64') }
      }))
      return { results }
    }
  }
}

// On the libuv thread pool, so several run at once (the parent sets UV_THREADPOOL_SIZE).
const writeAt = promisify(write) as (fd: number, b: Buffer, off: number, len: number, pos: number) => Promise<{ bytesWritten: number }>
const readAt = promisify(read) as (fd: number, b: Buffer, off: number, len: number, pos: number) => Promise<{ bytesRead: number }>

// Only when run as the child, not when a test imports the request type.
if (process.argv[1]?.endsWith('driver.ts') === true) {
  const lines = createInterface({ input: process.stdin })
  for await (const line of lines) {
    const { id, ...r } = JSON.parse(line) as DriverRequest & { id: number }
    let out: Record<string, unknown>
    try {
      out = { id, ok: true, ...await serve(r as DriverRequest) }
    } catch (err) {
      const e = err as NodeJS.ErrnoException
      out = { id, ok: false, errno: typeof e.errno === 'number' ? -e.errno : 5, code: e.code ?? String(err) }
    }
    process.stdout.write(`${JSON.stringify(out)}\n`)
  }
}
