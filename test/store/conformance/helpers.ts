// Shared pieces of the store conformance suite.
import { constants } from 'node:fs'
import type { Test } from 'tap'
import { errnoName } from '../../../src/errors.ts'
import type { ObjectAttr, ObjectId, ObjectStore } from '../../../src/store/types.ts'

export const { S_IFMT, S_IFREG, S_IFDIR, S_IFLNK, S_IFIFO, S_IFSOCK, S_IFCHR, S_IFBLK } = constants

/** One store under test, fresh for each subtest. */
export interface StoreFixture {
  store: ObjectStore
  /** Another instance on the same store, the way a second worker thread opens it. */
  openAgain (): Promise<ObjectStore>
  /** Close every instance still open and delete the store's data. */
  cleanup (): Promise<void>
}

export type StoreFactory = () => Promise<StoreFixture>

export type Body = (s: ObjectStore, fx: StoreFixture, t: Test) => Promise<void>

/** A subtest on a fresh store, always cleaned up. */
export function storeTest (t: Test, make: StoreFactory, name: string, body: Body): void {
  t.test(name, async t => {
    const fx = await make()
    try {
      await body(fx.store, fx, t)
    } finally {
      await fx.cleanup()
    }
  })
}

/** Assert a rejection with exactly this errno. */
export async function rejectsErrno (t: Test, p: Promise<unknown>, errno: number, what: string): Promise<void> {
  try {
    await p
  } catch (err) {
    const got = (err as { errno?: unknown }).errno
    t.equal(got, errno, `${what}: ${errnoName(errno)}`, { got: typeof got === 'number' ? errnoName(got) : err })
    return
  }
  t.fail(`${what}: expected ${errnoName(errno)}, it succeeded`)
}

/** Mark a subtest skipped when the store lacks a capability. */
export function skip (t: Test, reason: string): void {
  t.plan(0, reason)
}

export const file = async (s: ObjectStore, parent: ObjectId, name: string, mode = 0o644): Promise<ObjectAttr> =>
  await s.create(parent, name, { mode: S_IFREG | mode, uid: 1000, gid: 1000 })

export const mkdir = async (s: ObjectStore, parent: ObjectId, name: string): Promise<ObjectAttr> =>
  await s.create(parent, name, { mode: S_IFDIR | 0o755, uid: 1000, gid: 1000 })

/** The attributes behind a name, failing the test when it is absent. */
export async function must (s: ObjectStore, parent: ObjectId, name: string): Promise<ObjectAttr> {
  const attr = await s.lookup(parent, name)
  if (attr === null) throw new Error(`expected '${name}' to exist`)
  return attr
}

/** Current attributes of a directory found by id: refetched, since nlink and times move. */
export const nlinkOf = async (s: ObjectStore, id: ObjectId): Promise<number> => (await s.getattr(id)).nlink

/** A recognisable block: byte i is (seed + i) mod 251, never all zeros. */
export function pattern (length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length)
  for (let i = 0; i < length; i++) out[i] = (seed + i) % 251 + 1
  return out
}

/**
 * Read [offset, offset+length) of a file through readBlock, the way the
 * daemon does: holes and the part past a short block read as zeros.
 */
export async function readRange (s: ObjectStore, id: ObjectId, offset: number, length: number): Promise<Uint8Array> {
  const out = new Uint8Array(length)
  const bs = s.blockSize
  let pos = offset
  while (pos < offset + length) {
    const index = Math.floor(pos / bs)
    const within = pos - index * bs
    const n = Math.min(bs - within, offset + length - pos)
    const got = await s.readBlock(id, index, within, n)
    if (got !== null) out.set(got, pos - offset)
    pos += n
  }
  return out
}

/** A time well in the past, to see an operation move it forward. */
export const LONG_AGO = { sec: 1_000_000, nsec: 0 }

/** Seconds since the epoch of a Timespec, for comparisons. */
export const secs = (ts: { sec: number, nsec: number }): number => ts.sec + ts.nsec / 1e9
