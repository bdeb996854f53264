// Mounting without libfuse: open /dev/fuse and let mount(8) perform the
// mount(2) with that descriptor as its fd 3. `-i` keeps mount(8) from
// handing fuse.* types to /sbin/mount.fuse (fuse3's helper would try to run
// a program named after the subtype, and ours would call back into objfs).
import { spawn } from 'node:child_process'
import { closeSync, openSync, writeFileSync } from 'node:fs'
import type { Config } from '../config.ts'
import { ConfigError } from '../errors.ts'
import { findMount } from './unmount.ts'

export interface MountRequest {
  source: string
  mountpoint: string
  subtype: string
  allowOther: boolean
  defaultPermissions: boolean
  readOnly: boolean
  /** Generic VFS flags for mount(8): nosuid, nodev, noatime... */
  flags: string[]
  maxRead?: number
}

/** The mount a configuration asks for. */
export function mountRequestOf (c: Pick<Config, 'fsname' | 'source' | 'mountpoint' | 'allowOther' | 'defaultPermissions' | 'readOnly' | 'mountFlags'>): MountRequest {
  return {
    source: c.fsname ?? c.source,
    mountpoint: c.mountpoint,
    subtype: 'objfs',
    allowOther: c.allowOther,
    defaultPermissions: c.defaultPermissions,
    readOnly: c.readOnly,
    flags: c.mountFlags,
  }
}

/** Mount and return the connected /dev/fuse descriptor; INIT arrives on it next. */
export async function mountFuse (m: MountRequest): Promise<number> {
  const fd = openFuse()
  try {
    await mountOn(fd, m)
  } catch (err) {
    closeSync(fd)
    throw err
  }
  return fd
}

/** A /dev/fuse descriptor, not yet connected to a mount. */
export function openFuse (): number {
  try {
    return openSync('/dev/fuse', 'r+')
  } catch (err) {
    throw new ConfigError(`cannot open /dev/fuse: ${(err as Error).message} (objfs mounts as root)`)
  }
}

/**
 * Mount with `fd` as the connection. Any process holding the same open
 * /dev/fuse (the keeper's serving process, which got it at its start) then
 * receives INIT on it.
 */
export async function mountOn (fd: number, m: MountRequest): Promise<void> {
  const uid = process.getuid?.() ?? 0
  const gid = process.getgid?.() ?? 0
  const opts = [`fd=3`, `rootmode=40000`, `user_id=${uid}`, `group_id=${gid}`]
  if (m.defaultPermissions) opts.push('default_permissions')
  if (m.allowOther) opts.push('allow_other')
  if (m.readOnly) opts.push('ro')
  opts.push(...m.flags)
  const args = ['-i', '-t', `fuse.${m.subtype}`, '-o', opts.join(','), m.source, m.mountpoint]
  await run('mount', args, fd)
}

function run (cmd: string, args: string[], fd: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe', fd] })
    let stderr = ''
    child.stderr?.setEncoding('utf8').on('data', (d: string) => { stderr += d })
    child.on('error', err => reject(new ConfigError(`cannot run ${cmd}: ${err.message}`)))
    child.on('close', code => {
      if (code === 0) resolve()
      else reject(new ConfigError(`mount failed: ${stderr.trim().split('\n').pop() ?? `${cmd} exited ${code}`}`))
    })
  })
}

/**
 * Raise the kernel's read-ahead for the mount. INIT can only lower it below
 * the bdi default (128 KiB); the bdi's sysfs knob is how a larger window is
 * set, and with max_pages the kernel then sends reads of up to 1 MiB.
 */
export function setReadahead (mountpoint: string, bytes: number): boolean {
  const m = findMount(mountpoint)
  if (m === undefined) return false
  try {
    writeFileSync(`/sys/class/bdi/${m.major}:${m.minor}/read_ahead_kb`, String(Math.max(4, Math.floor(bytes / 1024))))
    return true
  } catch {
    return false
  }
}
