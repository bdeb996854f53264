// A serving store instance that answers changes and is killed (SIGKILL)
// before its group commits: local-group.test.ts then opens the store.
// argv: store directory. Prints the ids and inos it made, as JSON, first.
import { writeSync } from 'node:fs'
import { LocalStore } from '../../src/store/local/store.ts'
import { configFor } from './local-fixture.ts'

const dir = process.argv[2]
const s = await LocalStore.open(configFor(dir, { serving: true }))
const root = (await s.root()).id
const file = { mode: 0o100644, uid: 0, gid: 0 }
const dir0 = { mode: 0o040755, uid: 0, gid: 0 }
// Committed before the kill (hold() commits the group): replaying these again would count d's links twice.
const d = await s.create(root, 'd', dir0)
for (let i = 0; i < 3; i++) await s.create(d.id, `early${i}`, dir0)
s.hold()()
// Answered, never committed: only the redo log has them.
for (let i = 0; i < 2; i++) await s.create(d.id, `late${i}`, dir0)
const f = await s.create(root, 'f', file)
await s.writeBlocks(f.id, [{ index: 0, data: new Uint8Array(new SharedArrayBuffer(100)).fill(7) }], 100, { sec: 1000, nsec: 5 })
await s.setattr(f.id, { mode: 0o600 })
await s.setxattr(f.id, 'user.k', new Uint8Array([1, 2, 3]), 0)
await s.rename(root, 'f', d.id, 'g', 0)
const gone = await s.create(root, 'gone', file)
await s.remove(root, 'gone', false)
writeSync(1, JSON.stringify({ d: d.id, f: f.id, fIno: f.ino, gone: gone.id }) + '\n')
process.kill(process.pid, 'SIGKILL')
