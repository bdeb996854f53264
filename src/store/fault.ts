// A store that fails on purpose. TEST-ONLY: it exists so that tests can show
// what callers see when storage fails (the right errno, a daemon that keeps
// serving, nothing acknowledged lost), and it is selected by the environment
// alone, never by SOURCE or a mount option, so no user reaches it by accident:
//
//   OBJFS_FAULTS='writeBlocks:ENOSPC:after=3,readBlock:delay=2000'
//   OBJFS_FAULTS=@/path/rules    the rules in a file, re-read whenever it changes
//                                (a test turns faults on and off while mounted)
//
//   rule  := method[:part]...    method: an ObjectStore method, or * for all
//   part  := ERRNO               fail with it (EIO, ENOSPC, EACCES...)
//          | delay=MS            wait first (the call then fails or proceeds)
//          | after=N             let the first N matching calls through
//          | times=N             then affect N calls at most (default: all)
//          | index=N             only calls touching block N (readBlock,
//                                writeBlocks, dropBlocks)
//          | partial             writeBlocks: store the first half of the
//                                blocks, then fail (EIO unless ERRNO given):
//                                a multi-part upload that broke midway
//
// Counters are per store instance: a daemon has one per worker thread and
// one in the supervisor, so tests that count use workers=1 and inline_io=0.
import { readFileSync, statSync } from 'node:fs'
import { constants } from 'node:os'
import { ConfigError, FsError, errno as E } from '../errors.ts'
import { logger } from '../log.ts'
import type { BlockWrite, ObjectStore } from './types.ts'

const log = logger('fault')

export const FAULTS_ENV = 'OBJFS_FAULTS'

export interface FaultRule {
  method: string
  /** 0: no error, only the delay. */
  errno: number
  delayMs: number
  after: number
  /** 0: unlimited. */
  times: number
  index: number | undefined
  partial: boolean
  /** Matching calls seen, and calls affected, by this instance. */
  seen: number
  hits: number
}

const errnos = constants.errno as Record<string, number>

/** Parse a rule list; a ConfigError names the part it cannot read. */
export function parseFaults (text: string): FaultRule[] {
  const rules: FaultRule[] = []
  for (const raw of text.split(/[,\n]/)) {
    const spec = raw.trim()
    if (spec === '' || spec.startsWith('#')) continue
    const [method, ...parts] = spec.split(':')
    const rule: FaultRule = { method, errno: 0, delayMs: 0, after: 0, times: 0, index: undefined, partial: false, seen: 0, hits: 0 }
    for (const part of parts) {
      const [key, value] = part.split('=')
      const n = Number(value)
      const count = (): number => {
        if (!Number.isSafeInteger(n) || n < 0) throw new ConfigError(`${FAULTS_ENV}: '${part}' in '${spec}' needs a whole number`)
        return n
      }
      if (value === undefined && key === 'partial') rule.partial = true
      else if (value === undefined && errnos[key] !== undefined) rule.errno = errnos[key]
      else if (key === 'delay') rule.delayMs = count()
      else if (key === 'after') rule.after = count()
      else if (key === 'times') rule.times = count()
      else if (key === 'index') rule.index = count()
      else throw new ConfigError(`${FAULTS_ENV}: cannot read '${part}' in '${spec}'`)
    }
    if (rule.partial && rule.errno === 0) rule.errno = E.EIO
    rules.push(rule)
  }
  return rules
}

/** Rules given inline, or read from a file that may change under us. */
class RuleSource {
  readonly #file: string | undefined
  #stamp = ''
  #rules: FaultRule[]

  constructor (spec: string) {
    this.#file = spec.startsWith('@') ? spec.slice(1) : undefined
    this.#rules = this.#file === undefined ? parseFaults(spec) : []
  }

  /** The current rules; a changed file starts them (and their counters) afresh. */
  get rules (): FaultRule[] {
    if (this.#file === undefined) return this.#rules
    let stamp = 'absent'
    try {
      const st = statSync(this.#file)
      stamp = `${st.mtimeMs}:${st.size}:${st.ino}`
    } catch {}
    if (stamp !== this.#stamp) {
      this.#stamp = stamp
      try {
        this.#rules = stamp === 'absent' ? [] : parseFaults(readFileSync(this.#file, 'utf8'))
      } catch (err) {
        log.error({ file: this.#file, err: String(err) }, 'unreadable fault rules; injecting none')
        this.#rules = []
      }
    }
    return this.#rules
  }
}

/** The block indexes a call touches, for index= rules. */
function indexesOf (method: string, args: unknown[]): number[] {
  if (method === 'readBlock') return [args[1] as number]
  if (method === 'writeBlocks') return (args[1] as BlockWrite[]).map(b => b.index)
  if (method === 'dropBlocks') {
    const [first, last] = [args[1] as number, args[2] as number]
    return last - first < 1024 ? Array.from({ length: Math.max(0, last - first + 1) }, (_, i) => first + i) : [first, last]
  }
  return []
}

const sleep = async (ms: number): Promise<void> => await new Promise(resolve => setTimeout(resolve, ms))

/** The rules that fire for this call; each rule's counters move once per matching call. */
function firing (rules: FaultRule[], method: string, args: unknown[]): FaultRule[] {
  const out: FaultRule[] = []
  for (const r of rules) {
    if (r.method !== '*' && r.method !== method) continue
    if (r.index !== undefined && !indexesOf(method, args).includes(r.index)) continue
    r.seen++
    if (r.seen <= r.after) continue
    if (r.times > 0 && r.hits >= r.times) continue
    r.hits++
    out.push(r)
  }
  return out
}

/** Half the blocks stored for real, then the failure (a multipart upload that broke). */
async function partialWrite (inner: ObjectStore, args: unknown[], errno: number): Promise<never> {
  const [id, blocks, , mtime] = args as Parameters<ObjectStore['writeBlocks']>
  const kept = blocks.slice(0, Math.floor(blocks.length / 2))
  if (kept.length > 0) {
    const end = Math.max(...kept.map(b => b.index * inner.blockSize + b.data.byteLength))
    await inner.writeBlocks(id, kept, end, mtime)
  }
  throw new FsError(errno, `injected fault: writeBlocks stored ${kept.length} of ${blocks.length} blocks`)
}

// Not store calls a rule could name, and synchronous: passed through as they are.
const SYNC = new Set(['counters', 'close', 'freeHeld', 'hold', 'tidy'])

/** `inner` behind the rules of `spec` (see the top of this file). */
export function withFaults (inner: ObjectStore, spec: string): ObjectStore {
  const source = new RuleSource(spec)
  log.warn({ spec }, 'TEST-ONLY fault injection is active on this store')
  return new Proxy(inner, {
    get (target, prop) {
      // Getters and methods see the store itself as `this`: its private fields are not the proxy's.
      const value = Reflect.get(target, prop) as unknown
      if (typeof value !== 'function') return value
      const fn = value as (...a: unknown[]) => Promise<unknown>
      if (typeof prop !== 'string' || SYNC.has(prop)) return fn.bind(target)
      return async (...args: unknown[]): Promise<unknown> => {
        // The same read, whichever buffer it fills: rules name it readBlock.
        const fire = firing(source.rules, prop === 'readBlockInto' ? 'readBlock' : prop, args)
        if (fire.length === 0) return await fn.apply(target, args)
        for (const r of fire) if (r.delayMs > 0) await sleep(r.delayMs)
        const failing = fire.find(r => r.errno !== 0)
        if (failing === undefined) return await fn.apply(target, args)
        if (failing.partial && prop === 'writeBlocks') return await partialWrite(target, args, failing.errno)
        throw new FsError(failing.errno, `injected fault: ${prop}`)
      }
    },
  })
}

/** The store itself, or behind the rules of OBJFS_FAULTS when a test set it. */
export function withEnvFaults (store: ObjectStore): ObjectStore {
  const spec = process.env[FAULTS_ENV]
  if (spec === undefined || spec === '') return store
  return withFaults(store, spec)
}
