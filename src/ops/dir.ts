// Directories: opendir, readdir, readdirplus, releasedir, fsyncdir.
//
// A handle reads the store's listing page by page as the kernel asks for
// more; the readdir offset (cookie) of the k-th record is k + 1, where
// records 0 and 1 are "." and "..".
import { DirentWriter, encodeOpenOut, type EntryOut } from '../channel/encode.ts'
import { DT_DIR, DT_UNKNOWN, S_IFDIR, S_IFMT, modeToDirentType } from '../channel/abi.ts'
import type { OpenIn, ReadIn, ReleaseIn } from '../channel/decode.ts'
import { FsError, errno as E } from '../errors.ts'
import { dirHandle, type DirHandle } from '../inode/handles.ts'
import { entryFor, fuseAttr, type Fs, type Reply, type Req } from './context.ts'

const PAGE = 1000

export function opendir (fs: Fs, req: Req, _body: OpenIn): Reply {
  const inode = fs.table.get(req.nodeid)
  if ((inode.attr.mode & S_IFMT) !== S_IFDIR) throw new FsError(E.ENOTDIR)
  fs.table.pin(inode)
  const fh = fs.handles.add(dirHandle(inode))
  return encodeOpenOut({ fh, open_flags: 0 })
}

/** Load pages until entry `index` is present or the listing is complete. */
async function ensure (fs: Fs, h: DirHandle, index: number): Promise<void> {
  while (!h.complete && h.entries.length <= index) {
    const readAt = fs.table.epoch
    h.loading ??= fs.store.list(h.inode.id, h.cursor, PAGE).then(page => {
      h.pages.push({ first: h.entries.length, readAt })
      h.entries.push(...page.entries)
      h.cursor = page.next
      h.complete = page.next === null
    }).finally(() => { h.loading = undefined })
    await h.loading
  }
}

/** When the listing page holding entry `index` was read. */
function readAtOf (h: DirHandle, index: number): number {
  for (let i = h.pages.length - 1; i >= 0; i--) if (h.pages[i].first <= index) return h.pages[i].readAt
  return 0
}

async function fill (fs: Fs, { fh, offset, size }: ReadIn, plus: boolean): Promise<Reply> {
  const h = fs.handles.dir(fh)
  const w = new DirentWriter(size)
  const self = h.inode
  for (let k = offset; ; k++) {
    if (k < 2) {
      const name = k === 0 ? '.' : '..'
      // "." and ".." carry nodeid 0 in readdirplus: the kernel does not count them as lookups.
      const dot: EntryOut = { nodeid: 0, generation: 0, entry_valid: 0, entry_valid_nsec: 0, attr_valid: 0, attr_valid_nsec: 0, attr: fuseAttr(fs, self.attr, self) }
      const fits = plus ? w.addPlus(dot, k + 1, DT_DIR, name) : w.add(self.attr.ino, k + 1, DT_DIR, name)
      if (!fits) break
      continue
    }
    await ensure(fs, h, k - 2)
    const e = h.entries[k - 2]
    if (e === undefined) break
    const type = e.partial?.typeKnown === false ? DT_UNKNOWN : modeToDirentType(e.attr.mode)
    if (!plus) {
      if (!w.add(e.attr.ino, k + 1, type, e.name)) break
      continue
    }
    if (e.partial !== undefined) {
      // Attributes the store only guessed never reach the kernel: nodeid 0
      // is "no entry", and a later lookup asks the store properly.
      const bare: EntryOut = { nodeid: 0, generation: 0, entry_valid: 0, entry_valid_nsec: 0, attr_valid: 0, attr_valid_nsec: 0, attr: fuseAttr(fs, e.attr) }
      if (!w.addPlus(bare, k + 1, type, e.name)) break
      continue
    }
    const entry = entryFor(fs, e.attr, readAtOf(h, k - 2))
    if (!w.addPlus(entry, k + 1, type, e.name)) {
      fs.table.unref(fs.table.get(entry.nodeid))   // never reached the kernel
      break
    }
  }
  return w.finish()
}

export async function readdir (fs: Fs, _req: Req, body: ReadIn): Promise<Reply> {
  return await fill(fs, body, false)
}

export async function readdirplus (fs: Fs, _req: Req, body: ReadIn): Promise<Reply> {
  return await fill(fs, body, true)
}

export function releasedir (fs: Fs, _req: Req, { fh }: ReleaseIn): Reply {
  const h = fs.handles.dir(fh)
  fs.handles.remove(fh)
  fs.table.unpin(h.inode)
  return new Uint8Array(0)
}

/** Directory changes are committed as they happen (one transaction each). */
export function fsyncdir (fs: Fs, req: Req): Reply {
  fs.table.get(req.nodeid)
  return new Uint8Array(0)
}
