// File data: block reads and writes, truncation, holes, and fsync.
//
// Ordering rule: a block's bytes are in the object's file before a row names
// them (write), and a row is gone before its bytes are (truncate, reclaim).
// A crash can leave bytes no row names, for fsck, never a row naming torn
// bytes. Bytes no row names read as a hole, and a short block zeroes the
// rest of its region (blocks.ts), so they never reappear.
import { FsError, errno as E } from '../../errors.ts'
import type { BlockWrite, ObjectAttr, SetAttr, Timespec } from '../types.ts'
import { checkExists, getKind, getRow, transaction, type Ctx } from './context.ts'
import { ALL } from './namespace.ts'
import { S_IFMT, checkCount, isDir, isReg, toAttr, type ObjectRow } from './rows.ts'
import { nowTimespec as now } from '../../time.ts'

function checkRegular (row: { mode: number }): void {
  if (isDir(row.mode)) throw new FsError(E.EISDIR)
  if (!isReg(row.mode)) throw new FsError(E.EINVAL, 'not a regular file')
}

/**
 * Blocks up to this many bytes are kept in their metadata row instead of a
 * file: 64 KiB, or a quarter block in stores of small blocks, where most
 * blocks are full and a file per block is the point.
 */
export const inlineMax = (blockSize: number): number => Math.min(64 * 1024, Math.floor(blockSize / 4))

export function writeBlocks (ctx: Ctx, id: string, blocks: BlockWrite[], minSize: number, mtime: Timespec): ObjectAttr {
  const { st, files, blockSize } = ctx
  checkCount(minSize, 'minSize')
  for (const b of blocks) {
    checkCount(b.index, 'block index')
    if (b.data.byteLength > blockSize) throw new FsError(E.EINVAL, `block ${b.index} holds ${b.data.byteLength} bytes, more than the block size ${blockSize}`)
  }
  checkRegular(getKind(st, id))
  // Small blocks live in their row: a host file costs an inode, a directory
  // entry and an open/close per access, most of the price of a small file.
  const small = inlineMax(blockSize)
  // A failed write leaves its bytes in the object's file, unnamed: cutting
  // them off could cut a concurrent write of a later block. A truncate or
  // the object's removal frees them, fsck offline.
  for (const b of blocks) if (b.data.byteLength > small) files.write(id, b.index, b.data)
  try {
    return transaction(ctx, () => {
      checkExists(st, id)
      for (const b of blocks) {
        const inline = b.data.byteLength <= small
        // A copy of its own: the view may be on a SharedArrayBuffer. slice()
        // copies at memcpy speed; Uint8Array.from went byte by byte (80 us for 16 KiB).
        st.insertBlock.run(id, b.index, inline ? b.data.slice() : null)
      }
      const t = now()
      st.growSize.run(minSize, mtime.sec, mtime.nsec, t.sec, t.nsec, id)
      return toAttr(getRow(st, id))
    })
  } catch (err) {
    // Reclaimed while we wrote: the file our write made again belongs to nobody.
    if (err instanceof FsError && err.errno === E.ENOENT) files.remove(id)
    throw err
  }
}

export function readBlock (ctx: Ctx, id: string, index: number, offset: number, length: number): Uint8Array | null {
  const row = blockRow(ctx, id, index, offset, length)
  if (row === null) return null
  if (row.inline === 1) return row.part === null ? new Uint8Array(0) : new Uint8Array(row.part)
  return ctx.files.read(id, index, offset, length)
}

/** readBlock into the start of `into`: the byte count, null for a hole. */
export function readBlockInto (ctx: Ctx, id: string, index: number, offset: number, length: number, into: Uint8Array): number | null {
  if (into.byteLength < length) throw new FsError(E.EINVAL, `a buffer of ${into.byteLength} bytes cannot take ${length}`)
  const row = blockRow(ctx, id, index, offset, length)
  if (row === null) return null
  if (row.inline === 1) {
    if (row.part === null) return 0
    into.set(row.part)
    return row.part.byteLength
  }
  return ctx.files.readInto(id, index, offset, length, into)
}

/** Where block `index` is, and its bytes in the range if they are in its row; null for a hole. */
function blockRow (ctx: Ctx, id: string, index: number, offset: number, length: number): { inline: number, part: Uint8Array | null } | null {
  checkCount(index, 'block index')
  checkCount(offset, 'offset')
  checkCount(length, 'length')
  if (offset + length > ctx.blockSize) throw new FsError(E.EINVAL, `range ${offset}+${length} exceeds the block size ${ctx.blockSize}`)
  const row = ctx.st.blockRange.get(offset, length, id, index) as { inline: number, part: Uint8Array | null } | undefined
  if (row === undefined) {
    // Only a hole costs the second query that tells a hole from a vanished object.
    checkExists(ctx.st, id)
    return null
  }
  return row
}

export function setattr (ctx: Ctx, id: string, changes: SetAttr): ObjectAttr {
  if (changes.size !== undefined) checkCount(changes.size, 'size')
  const { st, files } = ctx
  let cutTo: number | undefined
  const attr = transaction(ctx, () => {
    const row = getRow(st, id)
    if (!Object.values(changes).some(v => v !== undefined)) return toAttr(row)
    const t = now()
    const next: ObjectRow = { ...row }
    if (changes.mode !== undefined) next.mode = (row.mode & S_IFMT) | (changes.mode & 0o7777)
    if (changes.uid !== undefined) next.uid = changes.uid
    if (changes.gid !== undefined) next.gid = changes.gid
    if (changes.size !== undefined) {
      checkRegular(row)
      if (changes.size < row.size) {
        cutTo = shrink(ctx, id, changes.size)
        // The rows it dropped took their bytes with them (the triggers).
        next.stored = getRow(st, id).stored
      }
      next.size = changes.size
    }
    // truncate(2) marks the data modified; an explicit mtime wins.
    const mtime = changes.mtime ?? (changes.size !== undefined ? t : undefined)
    if (changes.atime !== undefined) { next.atime_s = changes.atime.sec; next.atime_ns = changes.atime.nsec }
    if (mtime !== undefined) { next.mtime_s = mtime.sec; next.mtime_ns = mtime.nsec }
    const ctime = changes.ctime ?? t
    next.ctime_s = ctime.sec
    next.ctime_ns = ctime.nsec
    st.updateAttrs.run(next.mode, next.uid, next.gid, next.size,
      next.atime_s, next.atime_ns, next.mtime_s, next.mtime_ns, next.ctime_s, next.ctime_ns, id)
    return toAttr(next)
  })
  // The kernel holds the inode's lock and setattr flushed first: no write
  // of this file is under way to be cut with the blocks past the size.
  if (cutTo !== undefined) files.cut(id, cutTo)
  return attr
}

/**
 * Inside the setattr transaction: drop the rows of blocks wholly past
 * `size`, and zero the last block past it now, so a later extension reads
 * zeros there, not the old bytes. Zeroing before commit means a crash can
 * lose bytes the user was truncating away anyway, never resurrect them.
 * Returns where the object's file is to be cut once committed (bytes no
 * row names read as a hole meanwhile): 0, the file goes, if no block is
 * left in it.
 */
function shrink (ctx: Ctx, id: string, size: number): number {
  const { st, files, blockSize } = ctx
  st.deleteBlocksIn.run(id, Math.ceil(size / blockSize), ALL)
  const tail = size % blockSize
  const last = Math.floor(size / blockSize)
  if (tail !== 0 && st.hasBlock.get(id, last) !== undefined) {
    // Cut in its row, or zeroed in the file.
    if (Number(st.cutInline.run(tail, id, last).changes) === 0) files.zeroFrom(id, last, tail)
    st.markDirty.run(id, last)
  }
  return st.anyInFile.get(id) === undefined ? 0 : size
}

/**
 * Punch whole blocks; times change as for fallocate(PUNCH_HOLE). Their
 * bytes stay in the object's file until a truncate or its removal (Node
 * has no fallocate): without a row they read as a hole.
 */
export function dropBlocks (ctx: Ctx, id: string, first: number, last: number): void {
  checkCount(first, 'first')
  checkCount(last, 'last')
  const { st } = ctx
  transaction(ctx, () => {
    checkExists(st, id)
    if (last < first) return
    if (st.blocksIn.get(id, first, last) === undefined) return
    st.deleteBlocksIn.run(id, first, last)
    const t = now()
    st.touchMtime.run(t.sec, t.nsec, t.sec, t.nsec, id)
  })
}

export function seekBlock (ctx: Ctx, id: string, from: number, limit: number, data: boolean): number | null {
  checkCount(from, 'from')
  checkCount(limit, 'limit')
  const { st } = ctx
  checkExists(st, id)
  if (from >= limit) return null
  if (data) return (st.firstData.get(id, from, limit) as { idx: number | null }).idx
  if (st.hasBlock.get(id, from) === undefined) return from
  const gap = (st.firstGap.get(id, from) as { idx: number }).idx
  return gap < limit ? gap : null
}

/**
 * fsync: the data files of the dirty blocks first, then the metadata. Blocks
 * are claimed before the fsync, so a write committed meanwhile stays dirty
 * for the next sync; a failed fsync gives the claim back.
 */
export function sync (ctx: Ctx, id: string | null): void {
  const { st, files } = ctx
  const claimed = transaction(ctx, () =>
    (id === null ? st.claimAllDirty.all() : st.claimDirty.all(id)) as Array<{ id: string, idx: number }>)
  try {
    files.fsync(claimed.map(b => b.id))
  } catch (err) {
    transaction(ctx, () => { for (const b of claimed) st.markDirty.run(b.id, b.idx) })
    throw err
  }
  durableCommit(ctx)
}

/**
 * With synchronous=NORMAL a commit survives a crash of the process but not
 * of the machine: the WAL is fsynced only at checkpoints. A commit made
 * under synchronous=FULL fsyncs the WAL, and with it every commit before
 * it, from any connection. So commit one tiny change under FULL.
 */
function durableCommit (ctx: Ctx): void {
  const { db, st } = ctx
  db.exec('PRAGMA synchronous = FULL')
  try {
    transaction(ctx, () => { st.bumpSyncSeq.run() })
  } finally {
    db.exec('PRAGMA synchronous = NORMAL')
  }
}
