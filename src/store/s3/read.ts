// Reads of committed objects: ranged GETs in chunks of 256 KiB, cached by
// (key, ETag, chunk) so that a changed object is never served from the
// cache of its old version, one request per chunk in flight (single
// flight), and a read-ahead window for sequential readers.
//
// A reader that starts anywhere gets exactly the chunks it asked for: `head`
// of a 10 GiB object is one GET of 256 KiB. Each read that continues where
// the previous one of that object ended doubles the window fetched ahead,
// up to 16 MiB, as one GET per contiguous run of missing chunks.
//
// Every GET carries If-Match with the ETag the caller believes current; a
// 412 means the object changed, and surfaces as StaleVersion so the store
// can look again and retry.
import { GetObjectCommand } from '@aws-sdk/client-s3'
import { LRUCache } from 'lru-cache'
import { logger } from '../../log.ts'
import { asFsError, isPreconditionFailed } from './client.ts'
import type { Session } from './session.ts'

const log = logger('s3-read')

export const CHUNK = 256 * 1024
const MAX_WINDOW = 64            // chunks: 16 MiB ahead
const CACHE_BYTES = 128 * 1024 * 1024

/** The object is no longer the version the caller named. */
export class StaleVersion extends Error {
  override name = 'StaleVersion'
}

/** A version of an object: its key, ETag and size. */
export interface Version {
  key: string
  etag: string
  size: number
}

interface Stream {
  /** Where the last read ended. */
  next: number
  /** Chunks to keep fetched ahead. */
  window: number
  /** The last chunk fetched (or in flight) ahead of the reader. */
  ahead: number
}

export class Reader {
  readonly #s: Session
  readonly #cache = new LRUCache<string, Uint8Array>({ maxSize: CACHE_BYTES, sizeCalculation: v => Math.max(1, v.byteLength) })
  readonly #inflight = new Map<string, Promise<Uint8Array>>()
  readonly #streams = new LRUCache<string, Stream>({ max: 4096 })

  constructor (s: Session) {
    this.#s = s
  }

  /** Bytes [start, end) of version `v` (the caller clips `end` to v.size). */
  async read (v: Version, start: number, end: number): Promise<Uint8Array> {
    if (end <= start) return new Uint8Array(0)
    const first = Math.floor(start / CHUNK)
    const last = Math.floor((end - 1) / CHUNK)
    const chunks = this.#ensure(v, first, last)
    this.#readAhead(v, start, end, last)
    const parts = await Promise.all(chunks)
    const out = new Uint8Array(end - start)
    for (let c = first; c <= last; c++) {
      const data = parts[c - first]
      const from = Math.max(start, c * CHUNK)
      const to = Math.min(end, c * CHUNK + data.byteLength)
      if (to > from) out.set(data.subarray(from - c * CHUNK, to - c * CHUNK), from - start)
    }
    return out
  }

  /** Seed the cache with content just uploaded, so reading it back costs nothing. */
  seed (v: Version, content: Uint8Array): void {
    for (let c = 0; c * CHUNK < content.byteLength; c++) {
      this.#cache.set(this.#name(v, c), content.slice(c * CHUNK, Math.min(content.byteLength, (c + 1) * CHUNK)))
    }
  }

  #name (v: Version, chunk: number): string {
    return `${v.etag}\0${chunk}\0${v.key}`
  }

  /** Promises for chunks first..last; missing ones are fetched as contiguous runs. */
  #ensure (v: Version, first: number, last: number): Array<Promise<Uint8Array>> {
    const out: Array<Promise<Uint8Array>> = []
    let runStart = -1
    const flush = (endChunk: number): void => {
      if (runStart < 0) return
      const run = this.#fetch(v, runStart, endChunk)
      for (let i = 0; i < run.length; i++) out[runStart + i - first] = run[i]
      runStart = -1
    }
    for (let c = first; c <= last; c++) {
      const name = this.#name(v, c)
      const hit = this.#cache.get(name)
      const pending = hit === undefined ? this.#inflight.get(name) : Promise.resolve(hit)
      if (pending !== undefined) {
        flush(c - 1)
        out[c - first] = pending
      } else if (runStart < 0) {
        runStart = c
      }
    }
    flush(last)
    return out
  }

  /** One ranged GET for chunks first..last; a promise per chunk. */
  #fetch (v: Version, first: number, last: number): Array<Promise<Uint8Array>> {
    const start = first * CHUNK
    const end = Math.min(v.size, (last + 1) * CHUNK)
    const all = this.#get(v, start, end)
    const out: Array<Promise<Uint8Array>> = []
    for (let c = first; c <= last; c++) {
      const name = this.#name(v, c)
      const p = all.then(data => {
        const from = c * CHUNK - start
        const chunk = data.slice(from, Math.min(data.byteLength, from + CHUNK))
        this.#cache.set(name, chunk)
        return chunk
      }).finally(() => { this.#inflight.delete(name) })
      this.#inflight.set(name, p)
      out.push(p)
    }
    return out
  }

  async #get (v: Version, start: number, end: number): Promise<Uint8Array> {
    if (end <= start) return new Uint8Array(0)
    try {
      const res = await this.#s.client.send(new GetObjectCommand({ Bucket: this.#s.bucket, Key: v.key, Range: `bytes=${start}-${end - 1}`, IfMatch: v.etag }))
      const body = res.Body === undefined ? new Uint8Array(0) : await res.Body.transformToByteArray()
      this.#s.backend.bytesFetched += body.byteLength
      return body
    } catch (err) {
      if (isPreconditionFailed(err)) throw new StaleVersion(`${v.key} changed on the server`)
      // A range starting at or past the end: the object is shorter than believed.
      if ((err as { name?: string }).name === 'InvalidRange') throw new StaleVersion(`${v.key} is shorter on the server`)
      throw asFsError(err)
    }
  }

  /**
   * Sequential readers: keep up to `window` chunks past this read fetched or
   * in flight, topped up in one GET once less than half of it is left, so
   * that read-ahead costs few large requests rather than one per chunk.
   */
  #readAhead (v: Version, start: number, end: number, last: number): void {
    const st = this.#streams.get(v.key)
    const sequential = st !== undefined && start >= st.next - CHUNK && start <= st.next + 2 * CHUNK
    const window = sequential ? Math.min(MAX_WINDOW, Math.max(2, st.window * 2)) : 1
    let ahead = sequential ? Math.max(st.ahead, last) : last
    const lastChunk = Math.ceil(v.size / CHUNK) - 1
    if (sequential && ahead - last < window / 2) {
      const to = Math.min(lastChunk, last + window)
      if (to > ahead) {
        for (const p of this.#ensure(v, ahead + 1, to)) {
          p.catch(err => { log.debug({ key: v.key, err: String(err) }, 'read-ahead failed') })
        }
        ahead = to
      }
    }
    this.#streams.set(v.key, { next: end, window, ahead })
  }
}
