// One client of the load test (load.test.ts), run as its own process:
//
//   load-worker.ts writer|sharer FILE REGION_START REGION_BYTES SEED SECONDS
//   load-worker.ts reader FILE1,FILE2,... SEED SECONDS
//   load-worker.ts verify FILE REGION_START REGION_BYTES   (every byte must be the pattern)
//
// Every byte a writer puts at offset o of any file is pattern(o), never 0,
// so whatever the interleaving, any byte anybody reads is 0 (a hole, not
// yet written, cut by a truncate) or pattern(o). Writers rewrite their
// region in random pieces, fsync now and then, and read it back; a writer
// of a file of its own (not a sharer of a file) also cuts it back now and
// then. At the end each writes its whole region once more and fsyncs: the
// test then expects exactly the pattern there. Readers read random ranges
// of every file. The result is one JSON line: operations, bytes, and wrong
// bytes found (must be 0).
import { closeSync, fstatSync, fsyncSync, ftruncateSync, openSync, readSync, writeSync } from 'node:fs'
import { Rng } from '../fs/model.ts'

/** Byte at offset o: never 0, and different at neighbouring offsets. */
export const pattern = (o: number): number => ((o * 2654435761) >>> 24) % 255 + 1

const fill = (buf: Buffer, offset: number): Buffer => {
  for (let i = 0; i < buf.byteLength; i++) buf[i] = pattern(offset + i)
  return buf
}

/** Offsets in [at, at+n) whose byte is neither 0 nor the pattern. */
function wrong (buf: Buffer, at: number, n: number): number {
  let bad = 0
  for (let i = 0; i < n; i++) if (buf[i] !== 0 && buf[i] !== pattern(at + i)) bad++
  return bad
}

interface Result { role: string, ops: number, written: number, read: number, wrong: number, fsyncs: number, truncates: number }

function writer (own: boolean, file: string, start: number, bytes: number, rng: Rng, until: number): Result {
  const r: Result = { role: own ? 'writer' : 'sharer', ops: 0, written: 0, read: 0, wrong: 0, fsyncs: 0, truncates: 0 }
  const fd = openSync(file, 'r+')
  const buf = Buffer.alloc(1024 * 1024)
  try {
    while (Date.now() < until) {
      const at = start + rng.int(0, bytes - 1)
      const n = Math.min(rng.chance(0.3) ? 1024 * 1024 : rng.int(1, 256 * 1024), start + bytes - at)
      writeSync(fd, fill(buf.subarray(0, n), at), 0, n, at)
      r.written += n
      r.ops++
      if (rng.chance(0.05)) { fsyncSync(fd); r.fsyncs++ }
      // A private file is cut back now and then: the tail reads as zeros until rewritten.
      if (own && rng.chance(0.01)) { ftruncateSync(fd, rng.int(0, bytes)); r.truncates++ }
      if (rng.chance(0.1)) {
        const got = readSync(fd, buf, 0, n, at)
        r.read += got
        r.wrong += wrong(buf, at, got)
      }
    }
    for (let at = start; at < start + bytes; at += buf.byteLength) {
      const n = Math.min(buf.byteLength, start + bytes - at)
      writeSync(fd, fill(buf.subarray(0, n), at), 0, n, at)
      r.written += n
    }
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  return r
}

function reader (files: string[], rng: Rng, until: number): Result {
  const r: Result = { role: 'reader', ops: 0, written: 0, read: 0, wrong: 0, fsyncs: 0, truncates: 0 }
  const fds = files.map(f => openSync(f, 'r'))
  const buf = Buffer.alloc(1024 * 1024)
  try {
    while (Date.now() < until) {
      const fd = rng.pick(fds)
      const size = fstatSync(fd).size
      if (size === 0) continue
      const at = rng.int(0, size - 1)
      const got = readSync(fd, buf, 0, rng.int(1, buf.byteLength), at)
      r.read += got
      r.wrong += wrong(buf, at, got)
      r.ops++
    }
  } finally {
    for (const fd of fds) closeSync(fd)
  }
  return r
}

/** Bytes of the region that are not exactly the pattern. */
function verify (file: string, start: number, bytes: number): Result {
  const r: Result = { role: 'verify', ops: 0, written: 0, read: 0, wrong: 0, fsyncs: 0, truncates: 0 }
  const fd = openSync(file, 'r')
  const buf = Buffer.alloc(1024 * 1024)
  try {
    for (let at = start; at < start + bytes; at += buf.byteLength) {
      const n = Math.min(buf.byteLength, start + bytes - at)
      const got = readSync(fd, buf, 0, n, at)
      r.read += got
      r.wrong += n - got
      for (let i = 0; i < got; i++) if (buf[i] !== pattern(at + i)) r.wrong++
    }
  } finally {
    closeSync(fd)
  }
  return r
}

if (process.argv[1]?.endsWith('load-worker.ts') === true) {
  const [role, ...args] = process.argv.slice(2)
  const result = role === 'verify'
    ? verify(args[0], Number(args[1]), Number(args[2]))
    : role !== 'reader'
    ? writer(role === 'writer', args[0], Number(args[1]), Number(args[2]), new Rng(Number(args[3])), Date.now() + Number(args[4]) * 1000)
    : reader(args[0].split(','), new Rng(Number(args[1])), Date.now() + Number(args[2]) * 1000)
  process.stdout.write(`${JSON.stringify(result)}\n`)
}
