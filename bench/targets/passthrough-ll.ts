// libfuse's passthrough_ll example: the low-level libfuse API over a
// directory, multithreaded, with libfuse's own defaults (1 s entry and attr
// timeouts, no writeback cache). The C reference for what a FUSE daemon can
// do on this machine, and the bar issue 3's goals are set against.
//
// It keeps an O_PATH fd open per inode the kernel knows: on a large tree it
// can run into the open-files limit, which shows as a failed workload.
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'
import { describeFailure, findExecutable, runChild } from '../child.ts'
import { fuseTarget } from './fuse.ts'
import { NotRunnable, type TargetEnv } from './types.ts'

// Debian's libfuse3-dev ships the examples' sources, not binaries.
export const SOURCE = '/usr/share/doc/libfuse3-dev/examples/passthrough_ll.c'
const CACHE = fileURLToPath(new URL('../.cache/', import.meta.url))
// -O2: libfuse itself is an optimised build; the example's loop should be too.
const CFLAGS = '-O2'
const BUILD_TIMEOUT_MS = 120_000

let binary: string | undefined

/** The compiled example, cached under bench/.cache keyed by the source's sha256. */
async function build (env: TargetEnv): Promise<void> {
  if (!existsSync(SOURCE)) throw new NotRunnable(`${SOURCE} not found (apt-get install libfuse3-dev)`)
  for (const tool of ['cc', 'pkg-config']) {
    if (findExecutable(tool) === undefined) throw new NotRunnable(`${tool} not found, needed to build passthrough_ll`)
  }
  const sha = createHash('sha256').update(readFileSync(SOURCE)).digest('hex')
  const bin = join(CACHE, `passthrough_ll-${sha.slice(0, 16)}${CFLAGS}`)
  if (!existsSync(bin)) {
    mkdirSync(CACHE, { recursive: true })
    const tmp = `${bin}.${process.pid}.tmp`
    env.log(`building ${bin} from ${SOURCE}`)
    const script = `cc ${CFLAGS} $(pkg-config --cflags fuse3) "$1" $(pkg-config --libs fuse3) -o "$2"`
    const r = await runChild('sh', ['-c', script, 'sh', SOURCE, tmp], { timeoutMs: BUILD_TIMEOUT_MS, signal: env.signal })
    if (r.code !== 0) {
      rmSync(tmp, { force: true })
      throw new NotRunnable(describeFailure('building passthrough_ll', r))
    }
    renameSync(tmp, bin)
  }
  binary = bin
}

export const passthroughLl = fuseTarget({
  name: 'passthrough_ll',
  prepare: build,
  // Daemonizes once the mount is live (fuse_daemonize after fuse_session_mount).
  mountArgv: (s) => [binary ?? 'passthrough_ll', '-o', `source=${s.data}`, s.mnt],
  unmountArgv: (s) => ['fusermount3', '-u', s.mnt],
})
