// s3:// with no bucket: every bucket the credentials can list is a
// directory of the mount root. Ids are "bucket/" + the bucket's own id;
// each bucket is an S3Store (opened on first use) and this store only
// routes calls and rewrites ids. Buckets are not created, removed or
// renamed through the mount (EPERM), and nothing moves between buckets
// (EXDEV: mv falls back to copy and delete).
import { ListBucketsCommand } from '@aws-sdk/client-s3'
import { ConfigError, FsError, errno as E } from '../../errors.ts'
import type {
  BlockWrite, CreateSpec, ListPage, ObjectAttr, ObjectId, ObjectStore, RemoveResult, RenameResult,
  SetAttr, StaleEvent, StoreCapabilities, StoreConfig, StoreCounters, StoreStatfs, Timespec,
} from '../types.ts'
import { S_IFDIR } from './attrs.ts'
import { timespecOf as timeOf } from '../../time.ts'
import { asFsError, makeClient, newBackendCounters } from './client.ts'
import { compareKeys, inoOf } from './keys.ts'
import { parseS3Options, type S3Options } from './options.ts'
import { S3Store } from './store.ts'

const ROOT = '' as ObjectId

export class S3Buckets implements ObjectStore {
  readonly blockSize: number
  readonly capabilities: StoreCapabilities = { stableIds: false, hardLinks: false, unnamedFiles: true, blockWrites: false, inlineOnly: true }
  readonly #config: StoreConfig
  readonly #opts: S3Options
  readonly #client
  readonly #stores = new Map<string, Promise<S3Store>>()
  readonly #opened = Date.now()
  readonly #ready = new Map<string, S3Store>()
  /** onStale listeners, and what unsubscribes each from the buckets opened so far. */
  readonly #listeners = new Map<(e: StaleEvent) => void, number>()
  readonly #relays = new Map<(e: StaleEvent) => void, Array<() => void>>()

  private constructor (config: StoreConfig) {
    this.#config = config
    this.#opts = parseS3Options(config.options)
    this.blockSize = config.blockSize
    this.#client = makeClient(this.#opts, newBackendCounters())
  }

  /** Refuses (one line) when the bucket list cannot be read: same checks as one bucket. */
  static async open (config: StoreConfig): Promise<S3Buckets> {
    const b = new S3Buckets(config)
    await b.#buckets().catch(err => {
      b.#client.destroy()
      throw new ConfigError(`cannot list the buckets at ${b.#opts.endpoint ?? 'AWS S3'}: ${(err as Error).message.split('\n')[0]}`)
    })
    return b
  }

  async #buckets (): Promise<string[]> {
    try {
      const r = await this.#client.send(new ListBucketsCommand({}))
      return (r.Buckets ?? []).map(b => b.Name ?? '').filter(n => n !== '').sort(compareKeys)
    } catch (err) {
      throw asFsError(err)
    }
  }

  async #store (bucket: string): Promise<S3Store> {
    let s = this.#stores.get(bucket)
    if (s === undefined) {
      s = S3Store.open({ ...this.#config, url: `s3://${bucket}` }, { bucket, prefix: '' })
      this.#stores.set(bucket, s)
      s.then(st => {
        this.#ready.set(bucket, st)
        for (const [listener, ms] of this.#listeners) this.#relay(bucket, st, listener, ms)
      }, () => { this.#stores.delete(bucket) })
    }
    return await s
  }

  /** Which bucket an id is in, and its id there. */
  async #route (id: string): Promise<[S3Store, string, string]> {
    const slash = id.indexOf('/')
    if (id === '' || slash < 0) throw new FsError(E.EPERM, 'the mount root holds only buckets')
    const bucket = id.slice(0, slash)
    return [await this.#store(bucket), bucket, id.slice(slash + 1)]
  }

  #out (bucket: string, a: ObjectAttr): ObjectAttr {
    // Each bucket's own root is ino 1 there; here it is one directory among many.
    return { ...a, id: `${bucket}/${a.id}` as ObjectId, ino: a.ino === 1 ? inoOf(bucket, '') : a.ino }
  }

  #rootAttr (): ObjectAttr {
    const t = timeOf(this.#opened)
    return { id: ROOT, ino: 1, mode: S_IFDIR | this.#opts.dirMode, nlink: 2, uid: this.#opts.uid, gid: this.#opts.gid, size: 0, rdev: 0, atime: t, mtime: t, ctime: t }
  }

  async root (): Promise<ObjectAttr> { return this.#rootAttr() }

  async lookup (parent: ObjectId, name: string): Promise<ObjectAttr | null> {
    if (parent !== ROOT) {
      const [s, bucket, inner] = await this.#route(parent)
      const a = await s.lookup(inner as ObjectId, name)
      return a === null ? null : this.#out(bucket, a)
    }
    if (!(await this.#buckets()).includes(name)) return null
    const s = await this.#store(name)
    return this.#out(name, await s.root())
  }

  async getattr (id: ObjectId): Promise<ObjectAttr> {
    if (id === ROOT) return this.#rootAttr()
    const [s, bucket, inner] = await this.#route(id)
    return this.#out(bucket, await s.getattr(inner as ObjectId))
  }

  async list (dir: ObjectId, after: string | null, limit: number): Promise<ListPage> {
    if (dir !== ROOT) {
      const [s, bucket, inner] = await this.#route(dir)
      const page = await s.list(inner as ObjectId, after, limit)
      return { ...page, entries: page.entries.map(e => ({ ...e, attr: this.#out(bucket, e.attr) })) }
    }
    const names = (await this.#buckets()).filter(n => after === null || compareKeys(n, after) > 0)
    const page = names.slice(0, limit)
    const t = timeOf(this.#opened)
    const entries = page.map(name => ({
      name,
      attr: { id: `${name}/` as ObjectId, ino: inoOf(name, ''), mode: S_IFDIR | this.#opts.dirMode, nlink: 2, uid: this.#opts.uid, gid: this.#opts.gid, size: 0, rdev: 0, atime: t, mtime: t, ctime: t },
      partial: { typeKnown: true },
    }))
    return { entries, next: page.length < names.length ? page[page.length - 1] : null }
  }

  async create (parent: ObjectId, name: string, spec: CreateSpec): Promise<ObjectAttr> {
    const [s, bucket, inner] = await this.#route(parent)
    return this.#out(bucket, await s.create(inner as ObjectId, name, spec))
  }

  async createUnnamed (parent: ObjectId, spec: CreateSpec): Promise<ObjectAttr> {
    const [s, bucket, inner] = await this.#route(parent)
    return this.#out(bucket, await s.createUnnamed(inner as ObjectId, spec))
  }

  async link (): Promise<ObjectAttr> { throw new FsError(E.EPERM, 'hard links are not supported on S3') }

  async remove (parent: ObjectId, name: string, dir: boolean): Promise<RemoveResult> {
    const [s, bucket, inner] = await this.#route(parent)
    return this.#outRemoved(bucket, await s.remove(inner as ObjectId, name, dir))
  }

  #outRemoved (bucket: string, r: RemoveResult): RemoveResult {
    const id = (x: ObjectId): ObjectId => `${bucket}/${x}` as ObjectId
    return { ...r, id: id(r.id), orphan: r.orphan === undefined ? undefined : id(r.orphan) }
  }

  async reclaim (id: ObjectId): Promise<void> {
    if (id === ROOT) return
    const [s, , inner] = await this.#route(id)
    await s.reclaim(inner as ObjectId)
  }

  async rename (parent: ObjectId, name: string, newParent: ObjectId, newName: string, flags: number): Promise<RenameResult> {
    const [s, bucket, inner] = await this.#route(parent)
    const [, newBucket, newInner] = await this.#route(newParent)
    if (bucket !== newBucket) throw new FsError(E.EXDEV, 'a rename cannot move an object to another bucket')
    const r = await s.rename(inner as ObjectId, name, newInner as ObjectId, newName, flags)
    const id = (x: ObjectId): ObjectId => `${bucket}/${x}` as ObjectId
    return {
      replaced: r.replaced === undefined ? undefined : this.#outRemoved(bucket, r.replaced),
      moved: r.moved?.map(m => ({ ...m, from: id(m.from), to: id(m.to) })),
    }
  }

  async setattr (id: ObjectId, changes: SetAttr): Promise<ObjectAttr> {
    const [s, bucket, inner] = await this.#route(id)
    return this.#out(bucket, await s.setattr(inner as ObjectId, changes))
  }

  async readlink (id: ObjectId): Promise<string> { const [s, , inner] = await this.#route(id); return await s.readlink(inner as ObjectId) }
  async readBlock (id: ObjectId, index: number, offset: number, length: number): Promise<Uint8Array | null> { const [s, , inner] = await this.#route(id); return await s.readBlock(inner as ObjectId, index, offset, length) }

  async writeBlocks (id: ObjectId, blocks: BlockWrite[], minSize: number, mtime: Timespec): Promise<ObjectAttr> {
    const [s, bucket, inner] = await this.#route(id)
    return this.#out(bucket, await s.writeBlocks(inner as ObjectId, blocks, minSize, mtime))
  }

  async dropBlocks (id: ObjectId, first: number, last: number): Promise<void> { const [s, , inner] = await this.#route(id); await s.dropBlocks(inner as ObjectId, first, last) }
  async seekBlock (id: ObjectId, from: number, limit: number, data: boolean): Promise<number | null> { return data && from < limit ? from : null }
  async sync (id: ObjectId): Promise<void> { const [s, , inner] = await this.#route(id); await s.sync(inner as ObjectId) }
  async flush (id: ObjectId): Promise<void> { const [s, , inner] = await this.#route(id); await s.flush(inner as ObjectId) }
  async getxattr (id: ObjectId, name: string): Promise<Uint8Array> { const [s, , inner] = await this.#route(id); return await s.getxattr(inner as ObjectId, name) }
  async setxattr (id: ObjectId, name: string, value: Uint8Array, flags: number): Promise<void> { const [s, , inner] = await this.#route(id); await s.setxattr(inner as ObjectId, name, value, flags) }
  async listxattr (id: ObjectId): Promise<string[]> {
    if (id === ROOT) return []
    const [s, , inner] = await this.#route(id)
    return await s.listxattr(inner as ObjectId)
  }
  async removexattr (id: ObjectId, name: string): Promise<void> { const [s, , inner] = await this.#route(id); await s.removexattr(inner as ObjectId, name) }

  async statfs (): Promise<StoreStatfs> {
    const blocks = Math.floor(2 ** 50 / this.blockSize)
    return { bsize: this.blockSize, blocks, bfree: blocks, bavail: blocks, files: 2 ** 32, ffree: 2 ** 32, namelen: 255 }
  }

  /** Changes by other clients in every bucket, opened now or later, with this store's ids. */
  onStale (listener: (e: StaleEvent) => void, cacheMs: number): () => void {
    this.#listeners.set(listener, cacheMs)
    this.#relays.set(listener, [])
    for (const [bucket, st] of this.#ready) this.#relay(bucket, st, listener, cacheMs)
    return () => {
      this.#listeners.delete(listener)
      for (const off of this.#relays.get(listener) ?? []) off()
      this.#relays.delete(listener)
    }
  }

  #relay (bucket: string, st: S3Store, listener: (e: StaleEvent) => void, cacheMs: number): void {
    const id = (x: ObjectId): ObjectId => `${bucket}/${x}` as ObjectId
    this.#relays.get(listener)?.push(st.onStale(e => { listener({ ...e, id: id(e.id), parent: id(e.parent) }) }, cacheMs))
  }

  /** Summed over the buckets opened so far. */
  counters (): StoreCounters {
    const sum: StoreCounters = { readCalls: 0, bytesRead: 0, writeCalls: 0, bytesWritten: 0, metaCalls: 0 }
    const backend: Record<string, number> = {}
    const byOperation: Record<string, number> = {}
    for (const s of this.#ready.values()) {
      const c = s.counters()
      for (const k of ['readCalls', 'bytesRead', 'writeCalls', 'bytesWritten', 'metaCalls'] as const) sum[k] += c[k]
      for (const [k, v] of Object.entries(c.backend ?? {})) {
        if (typeof v === 'number') backend[k] = (backend[k] ?? 0) + v
        else for (const [op, n] of Object.entries(v)) byOperation[op] = (byOperation[op] ?? 0) + n
      }
    }
    return { ...sum, backend: { ...backend, byOperation } }
  }

  async close (): Promise<void> {
    const stores = await Promise.allSettled([...this.#stores.values()])
    for (const r of stores) if (r.status === 'fulfilled') await r.value.close()
    this.#client.destroy()
  }
}
