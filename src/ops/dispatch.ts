// From request bytes to exactly one reply (none for FORGET and
// BATCH_FORGET). Whatever a handler throws becomes an errno here, and only
// here; a request that cannot be decoded still gets EIO, so the kernel is
// never left waiting (fuser's reply Drop, go-fuse's recover).
import { FUSE_INTERRUPT, IN_HEADER_SIZE, opcodeName } from '../channel/abi.ts'
import { decodeInHeader, decodeInterruptIn, isResent, type InHeader } from '../channel/decode.ts'
import { replyError, replyHeaderFor } from '../channel/encode.ts'
import { errno as E, isBug, toErrno } from '../errors.ts'
import { logger } from '../log.ts'
import type { Fs, Reply, Req } from './context.ts'
import { serveResent } from './resend.ts'
import { opTable } from './table.ts'
import type { OpStats } from './stats.ts'

const log = logger('dispatch')

export type Send = (parts: Uint8Array[]) => void

export class Dispatcher {
  readonly #fs: Fs
  readonly #send: Send
  readonly #stats: OpStats
  /** Requests being served, by unique, for INTERRUPT (a resent one's is negative, as its INTERRUPT names it). */
  readonly #inFlight = new Map<number, AbortController>()
  readonly #debug: boolean

  constructor (fs: Fs, send: Send, stats: OpStats) {
    this.#fs = fs
    this.#send = send
    this.#stats = stats
    this.#debug = log.isLevelEnabled('debug')
  }

  get inFlight (): number {
    return this.#inFlight.size
  }

  /** Serve one request; `done` frees its slot once no part of the request bytes is needed any more. */
  handle (bytes: Uint8Array, done: () => void): void {
    let h: InHeader
    try {
      h = decodeInHeader(bytes)
    } catch (err) {
      // Without a whole header there is no unique to answer to.
      log.error({ err: String(err), length: bytes.byteLength }, 'undecodable request header dropped')
      done()
      return
    }
    if (h.opcode === FUSE_INTERRUPT) {
      this.#interrupt(h, bytes)
      done()
      return
    }
    const spec = opTable.get(h.opcode)
    if (spec === undefined) {
      if (this.#debug) log.debug({ unique: h.unique, op: opcodeName(h.opcode) }, 'not implemented')
      this.#reply(h, E.ENOSYS, null)
      done()
      return
    }
    let body: unknown
    try {
      body = spec.decode(bytes.subarray(IN_HEADER_SIZE, h.len - h.total_extlen * 8), this.#fs.negotiated)
    } catch (err) {
      log.error({ unique: h.unique, op: spec.name, err: String(err) }, 'undecodable request')
      if (spec.noReply !== true) this.#reply(h, E.EIO, null)
      done()
      return
    }
    const ac = new AbortController()
    const req: Req = { unique: h.unique, opcode: h.opcode, nodeid: h.nodeid, uid: h.uid, gid: h.gid, pid: h.pid, signal: ac.signal }
    const started = performance.now()
    this.#inFlight.set(h.unique, ac)
    const finish = (errno: number, reply: Reply, err?: unknown): void => {
      this.#inFlight.delete(h.unique)
      done()
      const ms = performance.now() - started
      this.#stats.record(spec.name, ms, errno)
      if (errno !== 0) this.#logFailure(h, spec.name, errno, err)
      else if (this.#debug) log.debug({ unique: h.unique, op: spec.name, nodeid: h.nodeid, ms }, 'ok')
      if (spec.noReply !== true) this.#reply(h, errno, reply)
      req.afterReply?.()
    }
    let result: Reply | Promise<Reply>
    try {
      // A resent request may have been done by the process that died (resend.ts).
      result = isResent(h.unique) ? serveResent(this.#fs, req, body, spec.handler) : spec.handler(this.#fs, req, body)
    } catch (err) {
      finish(toErrno(err), null, err)
      return
    }
    if (result instanceof Promise) result.then(r => finish(0, r), err => finish(toErrno(err), null, err))
    else finish(0, result)
  }

  #reply (h: InHeader, errno: number, reply: Reply): void {
    if (errno !== 0) {
      this.#send([replyError(h.unique, errno)])
      return
    }
    // Empty parts left out: after writev(2) libuv writes what it thinks is
    // left, an empty buffer, with a write(2) of its own (EINVAL from /dev/fuse).
    const parts = reply === null ? [] : Array.isArray(reply) ? reply : [reply]
    let len = 0
    for (const p of parts) len += p.byteLength
    const out = [replyHeaderFor(h.unique, len)]
    for (const p of parts) if (p.byteLength > 0) out.push(p)
    this.#send(out)
  }

  /**
   * Cancel the target if its store calls are still queued (they end with
   * EINTR); a running call finishes and answers normally. The INTERRUPT
   * itself gets no reply, except EAGAIN when the target is unknown, which
   * makes the kernel send it again later (fuse.rst, "Interrupting").
   */
  #interrupt (h: InHeader, bytes: Uint8Array): void {
    let target: number
    try {
      target = decodeInterruptIn(bytes.subarray(IN_HEADER_SIZE, h.len)).unique
    } catch {
      return
    }
    const ac = this.#inFlight.get(target)
    if (ac !== undefined) ac.abort()
    else this.#send([replyError(h.unique, E.EAGAIN)])
  }

  #logFailure (h: InHeader, op: string, errno: number, err: unknown): void {
    // Routine answers (no such file, exists, not empty...) are debug; store faults are errors,
    // logged once: by the layer that saw them, or here (an error marked `logged` was, already).
    const logged = (err as { logged?: unknown } | undefined)?.logged === true
    if ((errno === E.EIO || errno === E.ENOSPC) && !logged) log.warn({ unique: h.unique, op, nodeid: h.nodeid, errno, err: String(err) }, 'request failed')
    else if (this.#debug) log.debug({ unique: h.unique, op, nodeid: h.nodeid, errno, err: String(err) }, 'request failed')
    if (isBug(err)) log.error({ op, err }, 'unexpected failure (bug)')
  }
}
