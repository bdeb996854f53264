// Uploading a large file while it is still being written: once a staged
// file reaches stream_threshold, a multipart upload starts under its key
// and every part whose bytes are all written here goes up in the
// background (s.parts bounds how many at once), so that the commit at
// close only sends the last part and completes the upload.
//
// The staging file stays the truth (reads, rewrites, truncation): a part
// uploaded ahead is only a guess that its bytes will not change. Each part
// remembers the generation of its blocks (Staged.generation) when it was
// read; a write to it later makes it stale, and it is uploaded again (the
// same PartNumber replaces the earlier upload), ahead or at the commit.
//
// Memory and backpressure: parts ready but not uploaded (queued or
// uploading; a part's bytes are read from the staging file only when its
// upload starts) count against upload_buffer, per file at most half of it.
// A writer whose part would not fit waits in writeBlocks, which holds the
// coalescer's blocks, so that writes wait for room in the dirty budget.
//
// Failure: the SDK retries each part; a part that still fails aborts the
// whole upload (no parts left behind on the server) and sets the file's
// error, which the next flush or fsync reports (EIO). The file stays
// staged and is uploaded again, from scratch, at its next commit.
//
// A rename cannot move a multipart upload to another key: a file with one
// in progress is committed under its old key and copied (rename.ts). That
// is why streaming waits for stream_threshold: the temporary files that
// rsync and git rename are almost all smaller, and move for free.
import { toErrno } from '../../errors.ts'
import { logger } from '../../log.ts'
import type { Metadata } from './attrs.ts'
import { metadataOf } from './attrs.ts'
import { asFsError, quoteEtag } from './client.ts'
import type { PartRange } from './parts.ts'
import type { Session } from './session.ts'
import type { Staged } from './staging.ts'
import { abortUpload, createUpload, materialize, uploadPart } from './write.ts'

const log = logger('s3-write')

export interface UploadedPart {
  etag: string
  /** Staged.generation of the part's blocks when its bytes were read. */
  gen: number
  /** The part's end when uploaded: a part cut by a truncation is stale. */
  end: number
}

export class Stream {
  readonly key: string
  readonly metadata: Metadata
  readonly contentType: string | undefined
  /** The upload id; rejects when CreateMultipartUpload failed. */
  readonly created: Promise<string>
  /** The upload id once created: the file's manifest names it, for a successor to abort after a crash. */
  uploadId: string | undefined
  readonly uploaded = new Map<number, UploadedPart>()
  /** Parts queued or uploading; each promise settles (never rejects) when the task ends. */
  readonly running = new Map<number, Promise<void>>()
  /** Bytes of the parts in `running`: what this file takes of upload_buffer. */
  backlog = 0
  /** The failure that ended this upload. */
  failed: unknown
  /** Completing or aborted: no part may be queued, and a queued one that has not started skips. */
  closed = false
  readonly #s: Session
  #aborted: Promise<void> | undefined

  constructor (s: Session, st: Staged) {
    this.#s = s
    this.key = st.key
    this.metadata = metadataOf(st.attr, st.xattrs)
    this.contentType = st.contentType
    this.created = createUpload(s, this.key, this.metadata, this.contentType)
    // Failure is seen by whoever awaits it; the catch keeps it from being "unhandled" meanwhile.
    this.created.then(id => {
      this.uploadId = id
      if (st.stream === this) st.save()
    }).catch(() => {})
  }

  /** True when part `r`'s upload holds the bytes the file has there now. */
  holds (st: Staged, r: PartRange, bs: number): boolean {
    const u = this.uploaded.get(r.n)
    return u !== undefined && u.end === r.end && u.gen === st.generation(r.start / bs, r.end / bs) && !st.busyIn(r.start / bs, r.end / bs)
  }

  /**
   * End the upload: nothing more is queued, the parts running finish, then
   * AbortMultipartUpload (which must come after them, or a part landing
   * late would keep its storage). Idempotent.
   */
  async abort (): Promise<void> {
    this.closed = true
    this.#aborted ??= (async () => {
      await this.settled()
      const UploadId = await this.created.catch(() => undefined)
      if (UploadId !== undefined) await abortUpload(this.#s, this.key, UploadId)
    })()
    await this.#aborted
  }

  /** Every part task has ended. */
  async settled (): Promise<void> {
    while (this.running.size > 0) await Promise.all([...this.running.values()])
  }
}

/** The file's part `r` is all written here, in full blocks, and no write is under way in it. */
function ready (st: Staged, r: PartRange, bs: number): boolean {
  if (r.end > st.attr.size || st.busyIn(r.start / bs, r.end / bs)) return false
  for (let i = r.start / bs; i < r.end / bs; i++) if (st.blocks.get(i) !== bs) return false
  return true
}

/** Upload buffer of one file: half of upload_buffer, and at least two parts so that one can upload while the next fills. */
const perFile = (s: Session): number => Math.max(2 * s.layout.first, Math.floor(s.uploadBuffer / 2))

/**
 * After writeBlocks staged `indexes` (in the file's exclusive section):
 * start streaming once the file is large enough, and queue every part the
 * write completed. Waits while the upload buffer is full.
 */
export async function streamAhead (s: Session, st: Staged, indexes: number[]): Promise<void> {
  if (st.removed || st.retired || st.error !== 0) return
  const bs = s.blockSize
  const layout = s.layout
  let candidates: number[]
  if (st.stream === undefined) {
    if (st.attr.size < s.opts.streamThreshold || st.attr.size <= 2 * layout.first) return
    candidates = Array.from({ length: layout.partAt(st.attr.size - 1) + 1 }, (_, n) => n)
  } else {
    candidates = [...new Set(indexes.map(i => layout.partAt(i * bs)))].sort((a, b) => a - b)
  }
  for (const n of candidates) {
    const r = layout.part(n)
    const stream = st.stream
    if (stream !== undefined && (stream.running.has(n) || stream.holds(st, r, bs))) continue
    if (!ready(st, r, bs)) continue
    if (stream === undefined) st.stream = new Stream(s, st)
    const cur = st.stream as Stream
    await room(s, cur, r.end - r.start)
    // Only part tasks ran meanwhile (writes wait for this section): the part is as it was.
    if (cur.closed || cur.failed !== undefined || st.stream !== cur) return
    queue(s, st, cur, r)
  }
}

/**
 * Wait until `bytes` more fit in this file's and the session's upload
 * buffer (or the upload ended). A part larger than a buffer still goes
 * when nothing else is in it.
 */
async function room (s: Session, stream: Stream, bytes: number): Promise<void> {
  const full = (): boolean =>
    (stream.backlog > 0 && stream.backlog + bytes > perFile(s)) || (s.uploadBacklog > 0 && s.uploadBacklog + bytes > s.uploadBuffer)
  while (!stream.closed && stream.failed === undefined && full()) {
    await new Promise<void>(resolve => s.uploadWaiters.push(resolve))
  }
}

function queue (s: Session, st: Staged, stream: Stream, r: PartRange): void {
  const bytes = r.end - r.start
  stream.backlog += bytes
  s.uploadBacklog += bytes
  s.backend.uploadBacklogPeak = Math.max(s.backend.uploadBacklogPeak, s.uploadBacklog)
  const task = s.parts.add(async () => { await uploadAhead(s, st, stream, r) })
    .catch(err => { fail(s, st, stream, err) })
    .finally(() => {
      stream.running.delete(r.n)
      stream.backlog -= bytes
      s.uploadBacklog -= bytes
      // Written again while it was read or uploaded: it goes again, if whole and no write is under way (else that write queues it).
      if (!stream.closed && stream.failed === undefined && st.stream === stream && ready(st, r, s.blockSize) && !stream.holds(st, r, s.blockSize)) {
        queue(s, st, stream, r)
      }
      const w = s.uploadWaiters
      s.uploadWaiters = []
      for (const wake of w) wake()
    })
  stream.running.set(r.n, task)
}

async function uploadAhead (s: Session, st: Staged, stream: Stream, r: PartRange): Promise<void> {
  if (stream.closed || stream.failed !== undefined) return
  const UploadId = await stream.created
  const bs = s.blockSize
  if (stream.closed || !ready(st, r, bs)) return
  const gen = st.generation(r.start / bs, r.end / bs)
  const body = await materialize(s, st, r.start, r.end)
  // A write started while we read: these bytes may be torn, and the part goes again.
  if (gen !== st.generation(r.start / bs, r.end / bs) || st.busyIn(r.start / bs, r.end / bs)) return
  s.backend.uploadMemory += body.byteLength
  s.backend.uploadMemoryPeak = Math.max(s.backend.uploadMemoryPeak, s.backend.uploadMemory)
  try {
    // Kept quoted, as completion sends it; an empty answer is none.
    const etag = quoteEtag(await uploadPart(s, stream.key, UploadId, r.n + 1, body))
    if (etag === undefined) throw new Error(`UploadPart ${r.n + 1} answered no ETag`)
    s.backend.partsAhead++
    stream.uploaded.set(r.n, { etag, gen, end: r.end })
  } finally {
    s.backend.uploadMemory -= body.byteLength
  }
}

/** A part failed after the SDK's retries: the upload is aborted and the file's next flush or fsync reports it. */
function fail (s: Session, st: Staged, stream: Stream, err: unknown): void {
  if (stream.failed !== undefined) return
  stream.failed = err
  const e = asFsError(err)
  const errno = toErrno(e)
  if (st.stream === stream) {
    st.stream = undefined
    st.error = errno
  }
  log.error({ key: stream.key, errno, err: e.message }, 'uploading a part of a file being written failed; the upload is aborted, and the next flush or fsync reports it')
  void stream.abort()
}
