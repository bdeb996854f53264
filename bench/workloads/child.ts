// The child process that does file work inside a mount for the harness:
//   child.ts mkdir|rm DIR
//   child.ts create|stat|unlink DIR COUNT    (empty files f0..f<COUNT-1>)
//   child.ts write|read FILE BYTES           (sequential, 1 MiB calls; used without fio)
// Prints {"seconds": S}: the timed loop only, excluding Node's start-up,
// which would otherwise dominate fast targets.
import { closeSync, fstatSync, fsyncSync, mkdirSync, openSync, readSync, rmSync, statSync, unlinkSync, writeSync } from 'node:fs'
import { randomFillSync } from 'node:crypto'
import { join } from 'node:path'

const CHUNK = 1024 * 1024
// Random, so a store that compresses or deduplicates gains nothing; 64
// distinct chunks are reused round-robin to keep memory small.
const POOL_CHUNKS = 64

function timed (work: () => void): number {
  const t0 = performance.now()
  work()
  return (performance.now() - t0) / 1000
}

function files (op: string, dir: string, count: number): number {
  const names = Array.from({ length: count }, (_, i) => join(dir, `f${i}`))
  return timed(() => {
    if (op === 'create') for (const n of names) closeSync(openSync(n, 'wx'))
    else if (op === 'stat') for (const n of names) statSync(n)
    else for (const n of names) unlinkSync(n)
  })
}

function write (file: string, bytes: number): number {
  const pool = randomFillSync(Buffer.allocUnsafe(CHUNK * POOL_CHUNKS))
  return timed(() => {
    const fd = openSync(file, 'w')
    for (let off = 0, i = 0; off < bytes; off += CHUNK, i++) {
      const start = (i % POOL_CHUNKS) * CHUNK
      writeSync(fd, pool, start, Math.min(CHUNK, bytes - off))
    }
    fsyncSync(fd)
    closeSync(fd)
  })
}

function read (file: string, bytes: number): number {
  const buf = Buffer.allocUnsafe(CHUNK)
  return timed(() => {
    const fd = openSync(file, 'r')
    let total = 0
    for (let n = 1; n > 0; total += n) n = readSync(fd, buf, 0, CHUNK, null)
    const size = fstatSync(fd).size
    closeSync(fd)
    if (total !== bytes || size !== bytes) throw new Error(`read ${total} bytes of ${size}, expected ${bytes}`)
  })
}

function main (argv: string[]): number {
  const [op, path, n] = argv
  switch (op) {
    case 'mkdir': mkdirSync(path, { recursive: true }); return 0
    case 'rm': rmSync(path, { recursive: true, force: true }); return 0
    case 'create': case 'stat': case 'unlink': return files(op, path, Number(n))
    case 'write': return write(path, Number(n))
    case 'read': return read(path, Number(n))
    default: throw new Error(`unknown op ${op}`)
  }
}

process.stdout.write(JSON.stringify({ seconds: main(process.argv.slice(2)) }) + '\n')
