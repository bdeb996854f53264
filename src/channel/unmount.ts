// Getting rid of a FUSE mount whose daemon may be dead or hung.
//
// A hung daemon hangs every syscall that reaches it, including a stat of the
// mountpoint. So nothing here stats the mountpoint: mount state comes from
// /proc/self/mountinfo, paths are resolved through the parent directory, and
// umount runs with -c (no canonicalize: util-linux would stat the path) and
// -i (no /sbin/umount.<type> helper: ours would call back into objfs).
import { spawn } from 'node:child_process'
import { readFileSync, realpathSync, statSync, writeFileSync } from 'node:fs'
import { basename, dirname, join, resolve } from 'node:path'

const FUSECTL_DIR = '/sys/fs/fuse/connections'

/** One line of /proc/self/mountinfo (proc(5)); paths are unescaped. */
export interface MountInfo {
  mountId: number
  parentId: number
  major: number
  minor: number
  root: string
  mountpoint: string
  fstype: string
  source: string
}

export type ForceUnmountResult = 'unmounted' | 'lazy' | 'aborted' | 'not-mounted'

export interface ForceUnmountOptions {
  /** Bound on each umount(8) run; a hung one is killed. Default 10 s. */
  timeoutMs?: number
  log?: (msg: string) => void
  /**
   * The connection (connectionOf) the caller mounted: a mount of another
   * at the path is left alone, and this one, detached, is aborted.
   */
  connection?: Connection
}

/** The kernel escapes space, tab, newline and backslash as \ooo in mountinfo. */
export function unescapeMountPath (s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)))
}

export function parseMountinfo (text: string): MountInfo[] {
  const out: MountInfo[] = []
  for (const line of text.split('\n')) {
    if (line === '') continue
    const f = line.split(' ')
    // Optional fields (shared:N, master:N ...) end at a lone '-'.
    const sep = f.indexOf('-', 6)
    if (sep < 0 || f.length < sep + 3) continue
    const [major, minor] = f[2].split(':').map(Number)
    out.push({
      mountId: Number(f[0]),
      parentId: Number(f[1]),
      major,
      minor,
      root: unescapeMountPath(f[3]),
      mountpoint: unescapeMountPath(f[4]),
      fstype: f[sep + 1],
      source: unescapeMountPath(f[sep + 2])
    })
  }
  return out
}

export function readMountinfo (): MountInfo[] {
  return parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8'))
}

/**
 * Absolute, symlink-free path of a mountpoint without touching the
 * mountpoint itself: only its parent is resolved.
 */
export function resolveMountpoint (mountpoint: string): string {
  const abs = resolve(mountpoint)
  if (abs === '/') return abs
  try {
    return join(realpathSync(dirname(abs)), basename(abs))
  } catch {
    return abs
  }
}

/** The topmost mount at a path, or undefined. Later lines stack on earlier ones. */
export function findMount (mountpoint: string, mounts: MountInfo[] = readMountinfo()): MountInfo | undefined {
  const want = resolveMountpoint(mountpoint)
  let found: MountInfo | undefined
  for (const m of mounts) if (m.mountpoint === want) found = m
  return found
}

export function isMounted (mountpoint: string): boolean {
  return findMount(mountpoint) !== undefined
}

const isFuse = (m: MountInfo): boolean => m.fstype === 'fuse' || m.fstype === 'fuseblk' || m.fstype.startsWith('fuse.')

/**
 * The fusectl connection id of a FUSE mount, or null when the path is not a
 * FUSE mount. fusectl names a connection by the superblock's dev_t in the
 * kernel's encoding (major << 20 | minor); FUSE mounts get an anonymous
 * device with major 0, so in practice this is the minor number.
 */
export function fuseConnectionOf (mountpoint: string, mounts: MountInfo[] = readMountinfo()): number | null {
  const m = findMount(mountpoint, mounts)
  if (m === undefined || !isFuse(m)) return null
  return ((m.major << 20) | m.minor) >>> 0
}

/**
 * A FUSE connection, as fusectl names it. The id is the superblock's
 * device number, which the kernel gives to the next superblock as soon as
 * this one is gone: another FUSE mount then holds the id of one that ended,
 * and would pass for it (a keeper would wait for nothing, or abort a
 * stranger's mount). The new connection's fusectl directory is a new
 * inode, though: `ino` is the directory's when this one was recorded,
 * under the fusectl mount `fusectl` (a mount id: a fusectl mounted again
 * numbers its inodes anew). Without them only the id is known.
 */
export interface Connection { id: number, ino?: number, fusectl?: number }

/** The connection of the FUSE mount at a path, or null when the path is not a FUSE mount. */
export function connectionOf (mountpoint: string): Connection | null {
  const mounts = readMountinfo()
  const id = fuseConnectionOf(mountpoint, mounts)
  if (id === null) return null
  const ctl = fusectlMount(mounts)
  return (ctl === undefined ? undefined : shown(id, ctl)) ?? { id }
}

/**
 * Whether a FUSE connection still has its superblock, attached or detached
 * (`umount -l` with files open on it); undefined where fusectl is not
 * mounted to tell.
 */
export function connectionLive (conn: Connection): boolean | undefined {
  const ctl = fusectlMount()
  if (ctl === undefined) return undefined
  const now = shown(conn.id, ctl)
  return now !== undefined && sameConnection(now, conn)
}

/** Whether a connection found now is the one recorded: by the id alone where either lacks the inode. */
export function sameConnection (now: Connection | null, recorded: Connection): boolean {
  if (now === null || now.id !== recorded.id) return false
  if (now.ino === undefined || recorded.ino === undefined || now.fusectl !== recorded.fusectl) return true
  return now.ino === recorded.ino
}

const fusectlMount = (mounts: MountInfo[] = readMountinfo()): MountInfo | undefined =>
  mounts.findLast(m => m.mountpoint === FUSECTL_DIR && m.fstype === 'fusectl')

/** Connection `id` as the fusectl mount `ctl` shows it now; undefined when it has no such connection. */
function shown (id: number, ctl: MountInfo): Connection | undefined {
  try {
    return { id, ino: statSync(join(FUSECTL_DIR, String(id))).ino, fusectl: ctl.mountId }
  } catch {
    return undefined
  }
}

/** fusectl is not mounted on every machine; the abort file needs it. */
export async function ensureFusectl (log: (msg: string) => void): Promise<void> {
  if (fusectlMount() !== undefined) return
  const r = await runBounded('mount', ['-t', 'fusectl', 'fusectl', FUSECTL_DIR], 10_000)
  if (r.code !== 0) log(`mounting fusectl failed: ${r.stderr.trim()}`)
}

/**
 * Abort a FUSE connection: every pending and future request fails with
 * ENOTCONN, so processes stuck in the mount wake up and the daemon's read
 * of /dev/fuse returns ENODEV.
 */
export async function abortConnection (conn: number, log: (msg: string) => void = () => {}): Promise<boolean> {
  await ensureFusectl(log)
  const file = join(FUSECTL_DIR, String(conn), 'abort')
  try {
    writeFileSync(file, '1')
    return true
  } catch (err) {
    // The connection ended on its own in the meantime: nothing left to abort.
    log(`abort of fuse connection ${conn} failed: ${(err as Error).message}`)
    return false
  }
}

/**
 * Unmount, escalating: umount, then umount -l (detach now, clean up when the
 * last user leaves), then abort the FUSE connection so a hung daemon cannot
 * keep anybody waiting. Never throws for a mount that is already gone.
 */
export async function forceUnmount (mountpoint: string, opts: ForceUnmountOptions = {}): Promise<ForceUnmountResult> {
  const timeoutMs = opts.timeoutMs ?? 10_000
  const log = opts.log ?? (() => {})
  const path = resolveMountpoint(mountpoint)
  const own = opts.connection
  if (own !== undefined && !sameConnection(connectionOf(path), own)) {
    // The path holds another mount or none: ours was detached (umount -l)
    // and lives on while files are open on it, or it is gone.
    if (connectionLive(own) !== true) return 'not-mounted'
    return await abortConnection(own.id, log) ? 'aborted' : 'not-mounted'
  }
  if (!isMounted(path)) return 'not-mounted'
  // After a lazy unmount the mount leaves mountinfo, and with it the only
  // record of the connection: read it first.
  const conn = connectionOf(path)

  const plain = await runBounded('umount', ['-i', '-c', path], timeoutMs)
  if (plain.code === 0 && !isMounted(path)) return 'unmounted'
  log(`umount ${path}: ${plain.timedOut ? `no answer in ${timeoutMs} ms` : plain.stderr.trim()}`)
  if (!isMounted(path)) return 'unmounted'

  const lazy = await runBounded('umount', ['-l', '-i', '-c', path], timeoutMs)
  if (lazy.code !== 0 && isMounted(path)) {
    log(`umount -l ${path}: ${lazy.timedOut ? 'timed out' : lazy.stderr.trim()}`)
  }
  if (conn === null) {
    if (isMounted(path)) throw new Error(`cannot unmount ${path}`)
    return 'lazy'
  }
  // A healthy daemon sees the detached superblock die and its connection
  // disappears by itself; one that lingers belongs to a stuck daemon.
  await ensureFusectl(log)
  const aborted = !(await connectionGone(conn, 1000)) && await abortConnection(conn.id, log)
  if (isMounted(path)) {
    // Aborted connections unmount cleanly; one more try before giving up.
    await runBounded('umount', ['-l', '-i', '-c', path], timeoutMs)
    if (isMounted(path)) throw new Error(`cannot unmount ${path}`)
  }
  return aborted ? 'aborted' : 'lazy'
}

async function connectionGone (conn: Connection, waitMs: number): Promise<boolean> {
  const until = Date.now() + waitMs
  while (connectionLive(conn) === true) {
    if (Date.now() >= until) return false
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  return true
}

interface Bounded { code: number | null, stderr: string, timedOut: boolean }

/** Run a command, SIGKILLing its process group and moving on when it overstays. */
function runBounded (cmd: string, args: string[], timeoutMs: number): Promise<Bounded> {
  return new Promise(resolve => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true })
    let stderr = ''
    let timedOut = false
    child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s })
    const timer = setTimeout(() => {
      timedOut = true
      // Never -0: that would signal our own process group.
      if (child.pid !== undefined) try { process.kill(-child.pid, 'SIGKILL') } catch {}
      // An umount blocked in the kernel (writeback to a hung daemon) ignores
      // SIGKILL until the connection is aborted: do not wait for it.
      child.stderr.destroy()
      child.unref()
      resolve({ code: null, stderr, timedOut })
    }, timeoutMs)
    child.on('error', err => {
      clearTimeout(timer)
      resolve({ code: null, stderr: err.message, timedOut })
    })
    child.on('close', code => {
      clearTimeout(timer)
      resolve({ code, stderr, timedOut })
    })
  })
}
