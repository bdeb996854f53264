// What the LocalStore test files share: a temporary directory of fresh
// store directories, the config that opens one, and a look at its block files.
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import { LocalStore } from '../../src/store/local/store.ts'
import type { StoreConfig } from '../../src/store/types.ts'
import { PooledStore } from '../../src/workers/pool.ts'

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

/**
 * The store of `config` as the daemon runs it: metadata (and reclaims) in an
 * instance of this thread, every block read and write in `threads` workers.
 */
export async function pooledStore (config: StoreConfig, threads: number): Promise<PooledStore> {
  const inline = await LocalStore.open(config)
  return new PooledStore({ threads, setup: { store: { ...config, create: false } }, blockSize: config.blockSize, capabilities: inline.capabilities, inline, inlineIoBytes: 0 })
}
