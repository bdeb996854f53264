// What the LocalStore test files share: a temporary directory of fresh
// store directories, the config that opens one, and a look at its data files.
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { DatabaseSync } from 'node:sqlite'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import { LocalStore } from '../../src/store/local/store.ts'
import type { StoreConfig } from '../../src/store/types.ts'
import { PooledStore } from '../../src/workers/pool.ts'

export const BS = 4096

export const configFor = (dir: string, over: Partial<StoreConfig> = {}): StoreConfig =>
  ({ url: `local:${dir}`, blockSize: BS, readOnly: false, create: true, options: {}, ...over })

/** A new, empty store at `dir`, then `sql` run on its database by another connection: state made by hand. */
export async function storeAltered (dir: string, sql: string): Promise<void> {
  await (await LocalStore.open(configFor(dir))).close()
  const db = new DatabaseSync(join(dir, 'objfs.db'))
  try {
    db.exec(sql)
  } finally {
    db.close()
  }
}

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

/** The data files of the store in `dir`. */
export const blockFiles = (dir: string): string[] =>
  existsSync(join(dir, 'blocks')) ? tree(join(dir, 'blocks')).filter(p => statSync(join(dir, 'blocks', p)).isFile()) : []

// The on-disk layout, spelled out here rather than taken from layout.ts, so
// that the tests pin it down instead of following whatever the code says.
/** An object's data file (format 5): block i at i * block size. */
export const dataPathIn = (dir: string, id: string): string => join(dir, 'blocks', id.slice(0, 2), id)
/** Where formats 1-4 kept one block. */
export const legacyPathIn = (dir: string, id: string, idx: number): string => `${dataPathIn(dir, id)}.${idx}`

/**
 * Lay the store in `dir` out as formats 1-4 did: a file per block,
 * `blocks/<ab>/<uuid>.<idx>`, as long as the block's bytes, and no data
 * files. Only the files; the caller sets the format in the database.
 */
export function toLegacyBlockFiles (dir: string, blockSize: number): void {
  const db = new DatabaseSync(join(dir, 'objfs.db'))
  const rows = db.prepare('SELECT id, idx FROM blocks WHERE data IS NULL').all() as Array<{ id: string, idx: number }>
  db.close()
  const ids = new Set<string>()
  for (const { id, idx } of rows) {
    const path = dataPathIn(dir, id)
    const fd = openSync(path, 'r')
    const buf = new Uint8Array(blockSize)
    const got = readSync(fd, buf, 0, blockSize, idx * blockSize)
    closeSync(fd)
    writeFileSync(legacyPathIn(dir, id, idx), buf.subarray(0, got), { mode: 0o600 })
    ids.add(path)
  }
  for (const path of ids) rmSync(path)
}

/**
 * The store of `config` as the daemon runs it: metadata (and reclaims) in an
 * instance of this thread, every block read and write in `threads` workers.
 */
export async function pooledStore (config: StoreConfig, threads: number): Promise<PooledStore> {
  const inline = await LocalStore.open(config)
  return new PooledStore({ threads, setup: { store: { ...config, create: false } }, blockSize: config.blockSize, capabilities: inline.capabilities, inline, inlineIoBytes: 0 })
}
