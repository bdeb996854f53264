// The child process that does file work inside a mount for the harness:
//   child.ts mkdir|rm DIR
//   child.ts create|stat|unlink DIR COUNT    (empty files f0..f<COUNT-1>)
//   child.ts write|read FILE BYTES           (sequential, 1 MiB calls; used without fio)
// Prints {"seconds": S}: the timed loop only, excluding Node's start-up,
// which would otherwise dominate fast targets; the file steps add
// {"latencyUs": {p50, p90, p99}} of their single calls.
import { closeSync, fstatSync, fsyncSync, mkdirSync, openSync, readSync, rmSync, statSync, unlinkSync, writeSync } from 'node:fs'
import { randomFillSync } from 'node:crypto'
import { join } from 'node:path'
import { latencyOf, type Latency } from '../latency.ts'

const CHUNK = 1024 * 1024
// Random, so a store that compresses or deduplicates gains nothing; 64
// distinct chunks are reused round-robin to keep memory small.
const POOL_CHUNKS = 64

interface Timing {
  seconds: number
  latencyUs?: Latency
}

function timed (work: () => void): number {
  const t0 = performance.now()
  work()
  return (performance.now() - t0) / 1000
}

/**
 * Each call timed on its own: the median call and the slow tail say what a
 * mean hides (session 18: objfs's median unlink beat passthrough_ll's
 * while its mean lost to a tenth of calls several times slower).
 */
function files (op: string, dir: string, count: number): Timing {
  const names = Array.from({ length: count }, (_, i) => join(dir, `f${i}`))
  const calls = new Float64Array(count)
  const call = op === 'create'
    ? (n: string) => closeSync(openSync(n, 'wx'))
    : op === 'stat' ? (n: string) => { statSync(n) } : (n: string) => unlinkSync(n)
  const seconds = timed(() => {
    for (let i = 0; i < count; i++) {
      const t0 = performance.now()
      call(names[i])
      calls[i] = performance.now() - t0
    }
  })
  return { seconds, latencyUs: latencyOf(calls) }
}

function write (file: string, bytes: number): Timing {
  const pool = randomFillSync(Buffer.allocUnsafe(CHUNK * POOL_CHUNKS))
  const seconds = timed(() => {
    const fd = openSync(file, 'w')
    for (let off = 0, i = 0; off < bytes; off += CHUNK, i++) {
      const start = (i % POOL_CHUNKS) * CHUNK
      writeSync(fd, pool, start, Math.min(CHUNK, bytes - off))
    }
    fsyncSync(fd)
    closeSync(fd)
  })
  return { seconds }
}

function read (file: string, bytes: number): Timing {
  const buf = Buffer.allocUnsafe(CHUNK)
  const seconds = timed(() => {
    const fd = openSync(file, 'r')
    let total = 0
    for (let n = 1; n > 0; total += n) n = readSync(fd, buf, 0, CHUNK, null)
    const size = fstatSync(fd).size
    closeSync(fd)
    if (total !== bytes || size !== bytes) throw new Error(`read ${total} bytes of ${size}, expected ${bytes}`)
  })
  return { seconds }
}

function main (argv: string[]): Timing {
  const [op, path, n] = argv
  switch (op) {
    case 'mkdir': mkdirSync(path, { recursive: true }); return { seconds: 0 }
    case 'rm': rmSync(path, { recursive: true, force: true }); return { seconds: 0 }
    case 'create': case 'stat': case 'unlink': return files(op, path, Number(n))
    case 'write': return write(path, Number(n))
    case 'read': return read(path, Number(n))
    default: throw new Error(`unknown op ${op}`)
  }
}

process.stdout.write(JSON.stringify(main(process.argv.slice(2))) + '\n')
