// Scratch directories of one target: a mountpoint and, for FUSE targets, the
// backing directory. Removed only once nothing below them is mounted, since a
// recursive delete through a live mount would walk into the filesystem under test.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { mounts } from '../proc.ts'

export interface Scratch {
  root: string
  mnt: string
  data: string
}

export function makeScratch (workdir: string, target: string): Scratch {
  const root = mkdtempSync(join(workdir, `objfs-bench-${target}-`))
  const s = { root, mnt: join(root, 'mnt'), data: join(root, 'data') }
  mkdirSync(s.mnt)
  mkdirSync(s.data)
  return s
}

export function removeScratch (s: Scratch, log: (msg: string) => void): void {
  const busy = mounts().find((m) => m.mountpoint === s.root || m.mountpoint.startsWith(s.root + '/'))
  if (busy !== undefined) {
    log(`left ${s.root} in place: ${busy.mountpoint} is still mounted`)
    return
  }
  rmSync(s.root, { recursive: true, force: true })
}
