// Which object each nodeid names, on local disk, for stores whose nodeids
// cannot be derived from the store (S3: ids are keys, which renames change,
// and inos are hashes). A serving process the keeper starts after a crash
// reads it to resolve the nodeids the kernel still holds.
//
// One line per event, appended with one write(2) and no fsync (it must
// survive the death of a process, not of the machine): a nodeid issued for
// an id, a nodeid the kernel no longer holds, a rename that changed ids.
// The next process loads it, writes the live part back as a fresh log and
// appends to that.
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs'
import { dirname } from 'node:path'
import type { ObjectId } from '../store/types.ts'

type Line = ['n', number, string] | ['d', number] | ['r', string, string, boolean]

export class NodeidLog {
  readonly #fd: number

  /** Start the log at `path` with the mappings still live (taken over from the previous process). */
  constructor (path: string, live: ReadonlyMap<number, ObjectId> = new Map()) {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 })
    const fresh = `${path}.new`
    const fd = openSync(fresh, 'w', 0o600)
    let text = ''
    for (const [nodeid, id] of live) text += `${JSON.stringify(['n', nodeid, id])}\n`
    if (text !== '') writeSync(fd, text)
    renameSync(fresh, path)
    this.#fd = fd
  }

  issued (nodeid: number, id: ObjectId): void { this.#append(['n', nodeid, id]) }
  dropped (nodeid: number): void { this.#append(['d', nodeid]) }
  rekeyed (from: ObjectId, to: ObjectId, subtree: boolean): void { this.#append(['r', from, to, subtree]) }

  #append (line: Line): void {
    try {
      writeSync(this.#fd, `${JSON.stringify(line)}\n`)
    } catch {
      // A full /run costs the next process its takeover of these nodeids
      // (ESTALE, looked up again), never this process its service.
    }
  }

  close (): void {
    try { closeSync(this.#fd) } catch {}
  }
}

/** The mappings a log leaves live, replayed in order; a torn last line is ignored. */
export function loadNodeids (path: string): Map<number, ObjectId> {
  const live = new Map<number, ObjectId>()
  if (!existsSync(path)) return live
  for (const text of readFileSync(path, 'utf8').split('\n')) {
    let line: Line
    try {
      line = JSON.parse(text) as Line
    } catch {
      continue
    }
    if (line[0] === 'n') live.set(line[1], line[2] as ObjectId)
    else if (line[0] === 'd') live.delete(line[1])
    else if (line[0] === 'r') {
      const [, from, to, subtree] = line
      const prefix = from.endsWith('/') ? from : `${from}/`
      const target = to.endsWith('/') ? to : `${to}/`
      for (const [nodeid, id] of live) {
        if (id === from) live.set(nodeid, to as ObjectId)
        else if (subtree && id.startsWith(prefix)) live.set(nodeid, (target + id.slice(prefix.length)) as ObjectId)
      }
    }
  }
  return live
}
