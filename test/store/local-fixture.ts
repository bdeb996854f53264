// What the LocalStore test files share: a temporary directory of fresh
// store directories, the config that opens one, and a look at its block files.
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import type { StoreConfig } from '../../src/store/types.ts'

export const BS = 4096

export const configFor = (dir: string, over: Partial<StoreConfig> = {}): StoreConfig =>
  ({ url: `local:${dir}`, blockSize: BS, readOnly: false, create: true, options: {}, ...over })

/** A temporary directory removed when `t` ends; `freshDir` names a new store directory in it. */
export function storeDirs (t: Test, prefix: string): { tmp: string, freshDir: () => string } {
  const tmp = mkdtempSync(join(tmpdir(), `objfs-${prefix}-`))
  t.teardown(() => rmSync(tmp, { recursive: true, force: true }))
  let serial = 0
  return { tmp, freshDir: () => join(tmp, `s${serial++}`) }
}

/** Every file below `dir`, relative, sorted. */
export function tree (dir: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[]).sort()
}

/** The block files of the store in `dir`. */
export const blockFiles = (dir: string): string[] =>
  existsSync(join(dir, 'blocks')) ? tree(join(dir, 'blocks')).filter(p => statSync(join(dir, 'blocks', p)).isFile()) : []
