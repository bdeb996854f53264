// Taking over a connection: the keeper restarted the serving process, and
// the kernel still names nodeids and file handles the previous process
// issued. Before such a request reaches its handler, its unknown nodeids
// are resolved (by the store where nodeid = ino, else by the nodeid log)
// and its unknown handle rebuilt, so handlers keep their synchronous view
// of the inode table.
import {
  FATTR_FH, FUSE_BATCH_FORGET, FUSE_COPY_FILE_RANGE, FUSE_DESTROY, FUSE_FALLOCATE, FUSE_FLUSH, FUSE_FORGET, FUSE_FSYNC,
  FUSE_FSYNCDIR, FUSE_GETATTR, FUSE_GETATTR_FH, FUSE_INIT, FUSE_INTERRUPT, FUSE_LINK, FUSE_LSEEK, FUSE_READ,
  FUSE_READDIR, FUSE_READDIRPLUS, FUSE_RELEASE, FUSE_RELEASEDIR, FUSE_RENAME, FUSE_RENAME2, FUSE_SETATTR, FUSE_WRITE,
  IN_HEADER_SIZE,
} from '../channel/abi.ts'
import { logger } from '../log.ts'
import type { ObjectAttr } from '../store/types.ts'
import type { Fs } from './context.ts'

const log = logger('adopt')

/** Requests that name no inode, or only ones the kernel is letting go of. */
const NO_INODE = new Set([FUSE_INIT, FUSE_DESTROY, FUSE_INTERRUPT, FUSE_FORGET, FUSE_BATCH_FORGET])
/** Requests whose body starts with the fh of the header's nodeid. */
const FH_FIRST = new Set([FUSE_READ, FUSE_WRITE, FUSE_RELEASE, FUSE_FSYNC, FUSE_FLUSH, FUSE_READDIR, FUSE_RELEASEDIR, FUSE_FSYNCDIR, FUSE_FALLOCATE, FUSE_READDIRPLUS, FUSE_LSEEK, FUSE_COPY_FILE_RANGE])
/** Requests whose body starts with a second nodeid (LINK's old node, RENAME's new directory). */
const NODE_FIRST = new Set([FUSE_LINK, FUSE_RENAME, FUSE_RENAME2])

export interface Refs {
  nodeids: number[]
  /** fh values with the nodeid they belong to. */
  handles: Array<{ fh: number, nodeid: number }>
}

const u64 = (v: DataView, at: number): number => at + 8 <= v.byteLength ? Number(v.getBigUint64(at, true)) : 0
const u32 = (v: DataView, at: number): number => at + 4 <= v.byteLength ? v.getUint32(at, true) : 0

/** The nodeids and handles a request names (garbage yields zeros, which are skipped). */
function refsOf (bytes: Uint8Array): Refs {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const opcode = u32(v, 4)
  const nodeid = u64(v, 16)
  const refs: Refs = { nodeids: [], handles: [] }
  if (NO_INODE.has(opcode)) return refs
  const b = IN_HEADER_SIZE
  refs.nodeids.push(nodeid)
  if (NODE_FIRST.has(opcode)) refs.nodeids.push(u64(v, b))
  if (FH_FIRST.has(opcode)) refs.handles.push({ fh: u64(v, b), nodeid })
  if (opcode === FUSE_COPY_FILE_RANGE) {
    // fuse_copy_file_range_in: fh_in, off_in, nodeid_out, fh_out, ...
    refs.nodeids.push(u64(v, b + 16))
    refs.handles.push({ fh: u64(v, b + 24), nodeid: u64(v, b + 16) })
  }
  // fuse_getattr_in / fuse_setattr_in carry an fh at offset 8 when flagged.
  if (opcode === FUSE_GETATTR && (u32(v, b) & FUSE_GETATTR_FH) !== 0) refs.handles.push({ fh: u64(v, b + 8), nodeid })
  if (opcode === FUSE_SETATTR && (u32(v, b) & FATTR_FH) !== 0) refs.handles.push({ fh: u64(v, b + 8), nodeid })
  return refs
}

/** The object a nodeid of the previous process names (by ino, or by the nodeid log), or null. */
export type NodeidResolver = (nodeid: number) => Promise<ObjectAttr | null>

export class Adopter {
  readonly #fs: Fs
  readonly #resolve: NodeidResolver
  /** nodeids and handles taken over so far, for the log. */
  nodeids = 0
  handles = 0

  constructor (fs: Fs, resolve: NodeidResolver) {
    this.#fs = fs
    this.#resolve = resolve
  }

  /** What `bytes` names, if any of it is something this process has not issued (else null); synchronous. */
  unknown (bytes: Uint8Array): Refs | null {
    const refs = refsOf(bytes)
    const { table, handles } = this.#fs
    return refs.nodeids.some(n => n !== 0 && table.find(n) === undefined) || refs.handles.some(h => h.fh !== 0 && !handles.has(h.fh)) ? refs : null
  }

  /**
   * Resolve `refs` (from unknown()). Whatever cannot be resolved is left
   * unknown: the handler then answers ESTALE or EBADF, as for any stale name.
   */
  async resolve ({ nodeids, handles: fhs }: Refs): Promise<void> {
    const { table, handles } = this.#fs
    for (const n of nodeids) {
      if (n === 0 || table.find(n) !== undefined) continue
      try {
        const attr = await this.#resolve(n)
        // Looked up again: another request may have adopted it meanwhile.
        if (attr !== null && table.find(n) === undefined) {
          table.adopt(attr, n)
          this.nodeids++
        }
      } catch (err) {
        log.warn({ nodeid: n, err: String(err) }, 'could not resolve a nodeid of the previous process')
      }
    }
    for (const { fh, nodeid } of fhs) {
      const inode = table.find(nodeid)
      if (fh === 0 || inode === undefined || handles.has(fh)) continue
      handles.restore(fh, inode)
      // As opening does: an open handle keeps the inode through a FORGET.
      table.pin(inode)
      this.handles++
    }
  }
}
