// Where a mount keeps what must outlive its serving process: the write
// journal, and a small file naming the keeper and its current serving
// process (for `objfs upgrade`). Under /run: it survives the death of a
// process, not a reboot, which is what the keeper protects against.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Config } from '../config.ts'

/** A mountpoint as one path component: /mnt/data -> mnt-data. */
export const escapeMountpoint = (mp: string): string => mp.replace(/^\/+/, '').replace(/[^A-Za-z0-9._-]/g, '-') || 'root'

export function stateDirOf (config: Pick<Config, 'stateDir' | 'mountpoint'>): string {
  return config.stateDir ?? join('/run/objfs', escapeMountpoint(config.mountpoint))
}

export interface KeeperState {
  keeper: number
  server: number
  /** Serving processes before the current one. */
  generation: number
}

export function writeKeeperState (config: Pick<Config, 'stateDir' | 'mountpoint'>, s: KeeperState): void {
  const dir = stateDirOf(config)
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    writeFileSync(join(dir, 'keeper.json.tmp'), JSON.stringify(s))
    renameSync(join(dir, 'keeper.json.tmp'), join(dir, 'keeper.json'))
  } catch {
    // Only `objfs upgrade` reads it, and says so when it is missing.
  }
}

export function readKeeperState (config: Pick<Config, 'stateDir' | 'mountpoint'>): KeeperState | undefined {
  try {
    return JSON.parse(readFileSync(join(stateDirOf(config), 'keeper.json'), 'utf8')) as KeeperState
  } catch {
    return undefined
  }
}
