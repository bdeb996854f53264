// What a staged file is beyond its bytes, on local disk next to its staging
// file (`N.stage` -> `N.manifest`), so that a serving process started by
// the keeper after a crash can take the file over and commit it (recover.ts).
//
// Durability is against the death of the process, not of the machine: a
// write(2) that returned is in the page cache and survives kill -9, so the
// manifest is written to a temporary name and renamed over, without fsync.
// Written synchronously: it is a few hundred bytes, and a synchronous
// write cannot interleave with another save of the same file, so the file
// on disk is always the latest state saved, whatever order saves came in.
//
// When it is saved (Staged.save): at creation, whenever the block map or
// the size changes (what a read after the crash needs), on every attribute,
// xattr or key change, and at flush; a write that only rewrites bytes of
// blocks already staged saves nothing until the next flush (its mtime may
// then lag after a crash).
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import type { ObjectAttr } from '../types.ts'
import { Staged, type Base } from './staging.ts'

export interface Manifest {
  v: 1
  /** Save order, across processes: the later of two manifests for one key wins. */
  seq: number
  key: string
  attr: ObjectAttr
  /** name -> base64 value. */
  xattrs: Array<[string, string]>
  contentType: string | undefined
  base: Base | null
  baseLimit: number
  onServer: boolean
  /** Blocks written here: [index, content length]. */
  blocks: Array<[number, number]>
  /** A multipart upload begun while the file was written (stream.ts): aborted by a successor. */
  uploadId: string | undefined
}

export const STAGE_SUFFIX = '.stage'
export const MANIFEST_SUFFIX = '.manifest'
export const manifestPath = (stagePath: string): string => stagePath.slice(0, -STAGE_SUFFIX.length) + MANIFEST_SUFFIX
export const stagePathOf = (path: string): string => path.slice(0, -MANIFEST_SUFFIX.length) + STAGE_SUFFIX

let lastSeq = 0
/** Increasing within a process, and from one process to its successor (they do not overlap in time). */
const nextSeq = (): number => {
  lastSeq = Math.max(lastSeq + 1, Date.now() * 1000)
  return lastSeq
}

export function writeManifest (st: Staged, uploadId: string | undefined): void {
  const m: Manifest = {
    v: 1,
    seq: nextSeq(),
    key: st.key,
    attr: st.attr,
    xattrs: [...st.xattrs].map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
    contentType: st.contentType,
    base: st.base,
    baseLimit: st.baseLimit,
    onServer: st.onServer,
    blocks: [...st.blocks],
    uploadId,
  }
  const path = manifestPath(st.path)
  const tmp = `${path}.tmp`
  writeFileSync(tmp, JSON.stringify(m), { mode: 0o600 })
  renameSync(tmp, path)
}

const xattrsOf = (m: Manifest): Map<string, Uint8Array> =>
  new Map(m.xattrs.map(([k, v]) => [k, new Uint8Array(Buffer.from(v, 'base64'))]))

/** The inverse of writeManifest: the staged file at `stagePath` as its manifest left it (recover.ts). */
export function restore (stagePath: string, m: Manifest): Staged {
  const st = new Staged(m.key, m.attr, stagePath, m.base, m.onServer, xattrsOf(m), m.contentType)
  st.baseLimit = m.baseLimit
  st.restore(m.blocks)
  return st
}

export function dropManifest (stagePath: string): void {
  rmSync(manifestPath(stagePath), { force: true })
}

/** The manifest at `path`, or undefined when it is not one (torn, or from another version). */
export function readManifest (path: string): Manifest | undefined {
  try {
    const m = JSON.parse(readFileSync(path, 'utf8')) as Manifest
    return m.v === 1 && typeof m.key === 'string' && Array.isArray(m.blocks) ? m : undefined
  } catch {
    return undefined
  }
}
