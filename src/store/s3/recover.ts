// Staging directories across processes: each serving process stages in a
// directory of its own under cache_dir, named by its pid and marked with an
// owner file (pid, keeper pid, session). What happens to one whose process
// is gone:
//
// - a successor under the same keeper, on the same bucket and prefix,
//   takes it over (resumed takeover): the directory is renamed to its own
//   in one step, so that a crash of the successor at any point leaves it
//   whole for the next one, and every staged file is re-created from its
//   manifest (manifest.ts), to be committed on the normal schedule;
// - one whose keeper still lives is left alone: that keeper's next serving
//   process takes it over (another mount's crash, seen by this one);
// - any other (no keeper, or the keeper died too, as for a fresh mount) is
//   removed, as before keepers: its data never reached S3 and the store
//   may have changed since, so a fresh mount does not upload it (the same
//   rule as the write journal's, README "The keeper").
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { logger } from '../../log.ts'
import { alive } from '../../liveness.ts'
import type { StoreConfig } from '../types.ts'
import { MANIFEST_SUFFIX, dropManifest, readManifest, stagePathOf, type Manifest } from './manifest.ts'
import type { Session } from './session.ts'
import { abortUpload } from './write.ts'

const log = logger('s3')

const OWNER = 'owner.json'

type Takeover = StoreConfig['takeover']

interface Owner {
  pid: number
  keeper: number | undefined
  /** Session.key: endpoint, profile, bucket and prefix. */
  session: string
}

export interface Found {
  stagePath: string
  manifest: Manifest
}

export interface Staging {
  dir: string
  /** Staged files taken over from a predecessor, one per key. */
  found: Found[]
  /** The first staging file number free in `dir`. */
  next: number
}

/** The owner of a staging directory; from its name for one made before owner files. Undefined: not a staging directory. */
function ownerOf (dir: string, name: string): Owner | undefined {
  try {
    const o = JSON.parse(readFileSync(join(dir, OWNER), 'utf8')) as Owner
    if (Number.isInteger(o.pid)) return o
  } catch {}
  const pid = Number(name.split('-')[0])
  return Number.isInteger(pid) && pid > 0 ? { pid, keeper: undefined, session: '' } : undefined
}

/** Make this process's staging directory, taking over a dead predecessor's (see the top of this file). */
export function openStaging (cacheDir: string, session: string, takeover: Takeover): Staging {
  mkdirSync(cacheDir, { recursive: true, mode: 0o700 })
  const dir = join(cacheDir, `${process.pid}-${Math.random().toString(36).slice(2, 10)}`)
  const others: Array<{ dir: string, owner: Owner }> = []
  for (const name of readdirSync(cacheDir)) {
    const owner = ownerOf(join(cacheDir, name), name)
    if (owner !== undefined && owner.pid !== process.pid && !alive(owner.pid)) others.push({ dir: join(cacheDir, name), owner })
  }
  const sameKeeper = (o: Owner): boolean => takeover !== undefined && o.keeper === takeover.keeper
  const ours = takeover?.resumed === true ? others.filter(o => sameKeeper(o.owner) && o.owner.session === session) : []
  if (ours.length > 0) renameSync(ours[0].dir, dir)
  else mkdirSync(dir, { mode: 0o700 })
  // More than one only if a predecessor died while taking over: merged, file by file.
  for (const [n, o] of ours.slice(1).entries()) merge(o.dir, dir, `m${n}-`)
  writeFileSync(join(dir, OWNER), JSON.stringify({ pid: process.pid, keeper: takeover?.keeper, session } satisfies Owner), { mode: 0o600 })
  for (const o of others) {
    if (ours.includes(o)) continue
    // Another session of our keeper (s3:// mounts a session per bucket) takes its own over.
    if (takeover?.resumed === true && sameKeeper(o.owner)) continue
    if (!sameKeeper(o.owner) && o.owner.keeper !== undefined && alive(o.owner.keeper)) continue
    log.warn({ dir: o.dir }, 'removing the staging directory of a daemon that is gone (its files were never uploaded)')
    rmSync(o.dir, { recursive: true, force: true })
  }
  return { dir, ...collect(dir) }
}

function merge (from: string, to: string, tag: string): void {
  for (const name of readdirSync(from)) {
    if (!name.endsWith(MANIFEST_SUFFIX)) continue
    const stage = stagePathOf(join(from, name))
    if (existsSync(stage)) renameSync(stage, stagePathOf(join(to, tag + name)))
    renameSync(join(from, name), join(to, tag + name))
  }
  rmSync(from, { recursive: true, force: true })
}

/** The manifests in `dir`, the latest per key (the others' files go), and the next free number. */
function collect (dir: string): { found: Found[], next: number } {
  const byKey = new Map<string, Found>()
  let next = 0
  for (const name of readdirSync(dir)) {
    const n = Number(name.split('.')[0])
    if (Number.isInteger(n)) next = Math.max(next, n + 1)
    if (!name.endsWith(MANIFEST_SUFFIX)) continue
    const stagePath = stagePathOf(join(dir, name))
    const manifest = readManifest(join(dir, name))
    if (manifest === undefined) {
      log.warn({ file: join(dir, name) }, 'an unreadable staging manifest is ignored')
      continue
    }
    const f = { stagePath, manifest }
    const had = byKey.get(manifest.key)
    const [keep, lose] = had === undefined || had.manifest.seq < manifest.seq ? [f, had] : [had, f]
    byKey.set(manifest.key, keep)
    if (lose !== undefined) {
      rmSync(lose.stagePath, { force: true })
      dropManifest(lose.stagePath)
    }
  }
  return { found: [...byKey.values()], next }
}

/**
 * Once the bucket answers: multipart uploads the predecessor had begun are
 * aborted (their parts would never be completed; the commit uploads
 * afresh), in the background.
 */
export function abortStale (s: Session, found: readonly Found[]): void {
  for (const { manifest: m } of found) {
    if (m.uploadId === undefined) continue
    void abortUpload(s, m.key, m.uploadId)
  }
}
