// objfs fsck: a store corrupted by hand (SQL with foreign keys off, files
// added, cut and removed) is diagnosed kind by kind, and --repair fixes
// exactly that: every good file keeps its name, attributes and bytes, and
// data that lost its name turns up in lost+found.
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { appendFileSync, closeSync, constants as fsc, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { fsck, type FindingKind } from '../../src/store/local/fsck.ts'
import { LocalStore } from '../../src/store/local/store.ts'
import type { ObjectAttr, ObjectId, ObjectStore, StoreConfig } from '../../src/store/types.ts'
import { LONG_AGO, S_IFDIR, S_IFMT, file, mkdir, pattern, readRange } from './conformance/helpers.ts'
import { dataPathIn, legacyPathIn } from './local-fixture.ts'

const BS = 4096
const objfs = fileURLToPath(new URL('../../bin/objfs', import.meta.url))
const tmp = mkdtempSync(join(tmpdir(), 'objfs-fsck-'))
t.teardown(() => rmSync(tmp, { recursive: true, force: true }))
let serial = 0
const configFor = (dir: string): StoreConfig => ({ url: `local:${dir}`, blockSize: BS, readOnly: false, create: true, options: {} })

/** path -> "mode nlink size sha256" of everything reachable, the way a user sees the tree. */
async function snapshot (s: ObjectStore): Promise<Map<string, string>> {
  const out = new Map<string, string>()
  const walk = async (dir: ObjectAttr, path: string): Promise<void> => {
    for (let after: string | null = null; ;) {
      const page = await s.list(dir.id, after, 100)
      for (const { name, attr } of page.entries) {
        const p = `${path}/${name}`
        const bytes = (attr.mode & S_IFMT) === S_IFDIR ? new Uint8Array(0) : await readRange(s, attr.id, 0, attr.size)
        out.set(p, `${attr.mode.toString(8)} ${attr.nlink} ${attr.size} ${createHash('sha256').update(bytes).digest('hex').slice(0, 16)}`)
        if ((attr.mode & S_IFMT) === S_IFDIR) await walk(attr, p)
      }
      if (page.next === null) break
      after = page.next
    }
  }
  await walk(await s.root(), '')
  return out
}

interface Built { dir: string, ids: Record<string, ObjectId> }

/**
 * A small tree with data, holes, hard links, a symlink and xattrs. Blocks of
 * up to a quarter block live in their row (data.ts inlineMax), the rest in
 * their object's data file.
 */
async function build (): Promise<Built> {
  const dir = join(tmp, `s${serial++}`)
  const s = await LocalStore.open(configFor(dir))
  const root = await s.root()
  const ids: Record<string, ObjectId> = {}
  const a = await mkdir(s, root.id, 'a')
  const b = await mkdir(s, a.id, 'b')
  ids.a = a.id
  ids.b = b.id
  for (const [name, parent, blocks, size] of [['big', a.id, [0, 1, 3], 3 * BS + 2000], ['small', root.id, [0], 10], ['lost', b.id, [0, 1], BS + 5], ['linked', b.id, [0], 700]] as const) {
    const f = await file(s, parent, name)
    ids[name] = f.id
    await s.writeBlocks(f.id, blocks.map(index => ({ index, data: pattern(Math.min(BS, size - index * BS), index + name.length) })), size, LONG_AGO)
  }
  await s.link(ids.linked, a.id, 'linked-too')
  await s.create(root.id, 'sym', { mode: 0o120777, uid: 0, gid: 0, target: 'a/big' })
  await s.setxattr(ids.big, 'user.k', new Uint8Array([1, 2, 3]), 0)
  const c = await mkdir(s, root.id, 'c')
  const d = await mkdir(s, c.id, 'd')
  ids.c = c.id
  ids.d = d.id
  await s.close()
  return { dir, ids }
}

/** Hand-made damage: SQL with foreign keys off, as a careless sqlite3 session would do it. */
function sql (dir: string, text: string, ...args: Array<string | number>): void {
  const db = new DatabaseSync(join(dir, 'objfs.db'), { enableForeignKeyConstraints: false })
  db.prepare(text).run(...args)
  db.close()
}

/** Bytes of block `idx` written into the object's data file by hand, the file and its fan-out directory made if need be. */
function blockAt (dir: string, id: string, idx: number, content: string): void {
  mkdirSync(join(dir, 'blocks', id.slice(0, 2)), { recursive: true })
  const fd = openSync(dataPathIn(dir, id), fsc.O_WRONLY | fsc.O_CREAT, 0o600)
  try {
    writeSync(fd, Buffer.from(content), 0, Buffer.byteLength(content), idx * BS)
  } finally {
    closeSync(fd)
  }
}
/** A block file of the old layout made by hand. */
function legacyFile (dir: string, id: string, idx: number, content: string): void {
  mkdirSync(join(dir, 'blocks', id.slice(0, 2)), { recursive: true })
  writeFileSync(legacyPathIn(dir, id, idx), content)
}
const details = (r: ReturnType<typeof fsck>, kind: FindingKind): string[] => r.findings.filter(f => f.kind === kind).map(f => f.detail)
const kinds = (r: ReturnType<typeof fsck>): FindingKind[] => [...new Set(r.findings.map(f => f.kind))].sort()

t.test('a clean store is clean', async t => {
  const { dir, ids } = await build()
  const r = fsck(dir, { repair: false, force: false })
  t.same(r.findings, [])
  // Data files: big's (its 3 blocks) and lost's (its first); small, linked and lost's 5-byte tail are in rows.
  t.match(r, { objects: 10, entries: 10, blocks: 7, blockFiles: 2, blockSize: BS })
  t.same(readdirSync(join(dir, 'blocks', ids.big.slice(0, 2))).filter(n => n.startsWith(ids.big)), [ids.big], 'one file per object, named by its uuid')
})

t.test('a data file no row names, within the size, is what ordinary use leaves: clean, and a truncate frees it', async t => {
  const dir = join(tmp, `s${serial++}`)
  let s = await LocalStore.open(configFor(dir))
  const root = await s.root()
  // Every block the file kept in its data file punched (fallocate --punch-hole).
  const punched = await file(s, root.id, 'punched')
  await s.writeBlocks(punched.id, [0, 1].map(index => ({ index, data: pattern(BS, index) })), 2 * BS, LONG_AGO)
  await s.dropBlocks(punched.id, 0, 1)
  // Cut to a quarter block or less, then written again: the block moves into its row
  // (CI's model-test seed 2915804415 did this: truncate to 863, write 1 byte at 0).
  const moved = await file(s, root.id, 'moved')
  await s.writeBlocks(moved.id, [{ index: 0, data: pattern(BS, 5) }], BS, LONG_AGO)
  await s.setattr(moved.id, { size: 863 })
  const rewritten = pattern(863, 6)
  await s.writeBlocks(moved.id, [{ index: 0, data: rewritten }], 863, LONG_AGO)
  await s.close()
  t.equal(statSync(dataPathIn(dir, punched.id)).size, 2 * BS, 'the punched bytes stay in the data file (Node has no fallocate)')
  t.equal(statSync(dataPathIn(dir, moved.id)).size, 863, 'the moved block\'s old bytes stay in its data file')
  t.same(fsck(dir, { repair: false, force: false }).findings, [], 'neither is damage: nothing reads them')

  s = await LocalStore.open(configFor(dir))
  t.teardown(async () => await s.close())
  t.same(await readRange(s, punched.id, 0, 2 * BS), new Uint8Array(2 * BS), 'the punched file reads zeros')
  t.same(await readRange(s, moved.id, 0, 863), rewritten, 'the moved block reads from its row')
  await s.setattr(punched.id, { size: BS })
  await s.setattr(moved.id, { size: 100 })
  t.notOk(existsSync(dataPathIn(dir, punched.id)), 'a truncate removes a data file no row names')
  t.notOk(existsSync(dataPathIn(dir, moved.id)), 'both times')
})

t.test('every kind of damage is found, and repaired without touching good data', async t => {
  const { dir, ids } = await build()
  const store = await LocalStore.open(configFor(dir))
  const root = await store.root()
  // One block in the data file, then a hole to the size; and a file that is all hole.
  const sparse = await file(store, root.id, 'sparse')
  await store.writeBlocks(sparse.id, [{ index: 0, data: pattern(BS, 3) }], 3 * BS, LONG_AGO)
  const hollow = await file(store, root.id, 'hollow')
  await store.setattr(hollow.id, { size: 10 })
  const before = await snapshot(store)
  await store.close()
  const ghost = '0badc0de-0000-4000-8000-000000000000'
  const orphan = '0fedcba9-0000-4000-8000-000000000001'

  sql(dir, 'INSERT INTO entries (parent, name, child) VALUES ((SELECT value FROM meta WHERE key = \'root\'), \'ghost\', ?)', ghost)
  // An unlinked file whose daemon died: nlink 0, no name, a block.
  sql(dir, `INSERT INTO objects (id, ino, mode, nlink, uid, gid, size, rdev, atime_s, atime_ns, mtime_s, mtime_ns, ctime_s, ctime_ns)
    VALUES (?, 900, 33188, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0)`, orphan)
  sql(dir, 'INSERT INTO blocks (id, idx, dirty) VALUES (?, 0, 0)', orphan)
  blockAt(dir, orphan, 0, 'gone!')
  // 'lost' loses its name but keeps its data.
  sql(dir, 'DELETE FROM entries WHERE child = ?', ids.lost)
  sql(dir, 'UPDATE objects SET nlink = 5 WHERE id = ?', ids.small)
  sql(dir, 'UPDATE objects SET nlink = 9 WHERE id = ?', ids.a)
  // Bytes past the size in big's last block (they would come back if it grew), and of a block
  // no row names further on (a write that never committed).
  appendFileSync(dataPathIn(dir, ids.big), 'tail past the size')
  blockAt(dir, ids.big, 7, 'stale')
  // Rows whose bytes the data file lacks: it ends before the block; there is no data file.
  sql(dir, 'INSERT INTO blocks (id, idx, dirty) VALUES (?, 2, 0)', sparse.id)
  sql(dir, 'INSERT INTO blocks (id, idx, dirty) VALUES (?, 0, 0)', hollow.id)
  // A row past the size, its bytes in a data file that no row within the size uses.
  sql(dir, 'INSERT INTO blocks (id, idx, dirty) VALUES (?, 9, 0)', ids.linked)
  blockAt(dir, ids.linked, 9, 'past the end')
  sql(dir, 'UPDATE blocks SET data = CAST(data || x\'414243\' AS BLOB) WHERE id = ?', ids.small)
  // A data file no row names, longer than its file (within the size it would be a harmless leftover).
  blockAt(dir, ids.small, 0, 'stale, and past the size')
  // Data files of an object that does not exist and of a directory, and a block file of the old layout.
  blockAt(dir, ghost, 0, 'nobody')
  blockAt(dir, ids.a, 0, 'a directory')
  legacyFile(dir, ids.big, 1, 'left by an upgrade')
  sql(dir, 'INSERT INTO blocks (id, idx, dirty) VALUES (?, 0, 0)', ids.c)
  writeFileSync(join(dir, 'blocks', 'README'), 'not ours')
  sql(dir, 'INSERT INTO xattrs (id, name, value) VALUES (?, \'user.x\', x\'00\')', ghost)
  sql(dir, 'UPDATE meta SET value = \'3\' WHERE key = \'next_ino\'')
  // b's recorded parent is the root, while its name is in a: rename's subtree check would miss a loop.
  sql(dir, 'UPDATE objects SET parent = (SELECT value FROM meta WHERE key = \'root\') WHERE id = ?', ids.b)
  // A directory cycle: c moves under its own child d, so no path reaches either.
  sql(dir, 'UPDATE entries SET parent = ? WHERE child = ?', ids.d, ids.c)

  const r = fsck(dir, { repair: false, force: false })
  t.same(kinds(r), ['block-not-file', 'block-past-size', 'block-tail-past-size', 'dangling-entry', 'detached-object', 'dir-parent', 'link-count',
    'missing-block-file', 'next-ino', 'orphan-block-file', 'orphan-object', 'orphan-xattr', 'stray-file'], 'every kind is reported')
  t.match(r.findings.find(f => f.kind === 'dangling-entry')?.detail, /'ghost'.*does not exist/)
  const esc = (s: string): string => s.replace(/[-.]/g, '\\$&')
  const orphanFiles = details(r, 'orphan-block-file')
  for (const [what, re] of [
    ['unnamed bytes past the size', new RegExp(`^${esc(dataPathIn(dir, ids.big))}: ${3 * BS + 5} bytes past the size ${3 * BS + 2000} of object /a/big \\(#\\d+\\), which no block row names$`)],
    ['a file whose one row lies past the size', new RegExp(`^${esc(dataPathIn(dir, ids.linked))}: ${9 * BS + 12 - 700} bytes past the size 700 of object \\S+ \\(#\\d+\\); no block row names any of the file$`)],
    ['a file no row names, past the size', new RegExp(`^${esc(dataPathIn(dir, ids.small))}: 14 bytes past the size 10 of object /small \\(#\\d+\\); no block row names any of the file$`)],
    ['a file of nothing', new RegExp(`^${esc(dataPathIn(dir, ghost))} \\(6 bytes\\): object ${ghost} does not exist$`)],
    ['a file of a directory', new RegExp(`^${esc(dataPathIn(dir, ids.a))} \\(11 bytes\\): directory /a \\(#\\d+\\) is not a regular file$`)],
    ['a block file of the old layout', new RegExp(`^${esc(legacyPathIn(dir, ids.big, 1))} \\(18 bytes\\): a block file of the layout before format 5`)],
  ] as const) t.ok(orphanFiles.some(d => re.test(d)), what, { found: orphanFiles })
  t.equal(orphanFiles.length, 6, 'and no other: the freed orphan\'s file goes with it')
  t.same(details(r, 'block-tail-past-size').map(d => d.replace(/ \(#\d+\)/, '')).sort(), [
    `block 0 of object /small holds 13 bytes in its row, 10 at most belong to the file`,
    `block 3 of object /a/big holds ${BS - 2000} bytes past its size ${3 * BS + 2000} in ${dataPathIn(dir, ids.big)}`,
  ])
  t.same(details(r, 'missing-block-file').map(d => d.replace(/ \(#\d+\)/, '')).sort(), [
    `block 0 of object /hollow: its data file is missing (the block reads as zeros)`,
    `block 2 of object /sparse: its data file ${dataPathIn(dir, sparse.id)} ends at ${BS}, before it (the block reads as zeros)`,
  ].sort(), 'in the same order as the rows: by object id')
  t.match(r.findings.filter(f => f.kind === 'link-count').map(f => f.detail).join('\n'), /\/small \(#\d+\) has nlink 5, expected 1/)
  t.match(r.findings.filter(f => f.kind === 'link-count').map(f => f.detail).join('\n'), /directory \/a \(#\d+\) has nlink 9, expected 3/)
  t.equal(r.findings.filter(f => f.kind === 'detached-object').length, 2, 'the nameless file and one member of the cycle')
  const parents = r.findings.filter(f => f.kind === 'dir-parent').map(f => f.detail)
  t.equal(parents.length, 1, 'one directory with a wrong parent: the cycle and lost+found are the repair\'s own')
  t.match(parents[0], /^directory \/a\/b \(#\d+\) records parent \S+, but its name is in directory \/a \(#\d+\)$/)
  t.ok(r.findings.every(f => f.repaired === undefined), 'nothing repaired without --repair')
  t.same(fsck(dir, { repair: false, force: false }).findings, r.findings, 'a check changes nothing')

  const fixed = fsck(dir, { repair: true, force: false })
  t.same(kinds(fixed), kinds(r), 'the repair run reports the same')
  t.same(fixed.findings.filter(f => f.repaired !== true).map(f => f.kind), ['stray-file'], 'all repaired but the file objfs did not make')
  t.same(fsck(dir, { repair: false, force: false }).findings.map(f => f.kind), ['stray-file'], 'a second check finds nothing else')
  rmSync(join(dir, 'blocks', 'README'))
  t.same(fsck(dir, { repair: false, force: false }).findings, [], 'clean')

  const s = await LocalStore.open(configFor(dir))
  t.teardown(async () => await s.close())
  const after = await snapshot(s)
  for (const [path, state] of before) {
    if (path === '/b' || path.startsWith('/c') || path.startsWith('/a/b/lost')) continue
    if (path === '/small') {
      t.equal(after.get(path), state, '/small keeps its bytes and its nlink is 1 again')
      continue
    }
    t.equal(after.get(path), state, `${path} untouched`)
  }
  await t.rejects(s.rename((await s.root()).id, 'a', ids.b, 'a', 0), { errno: 22 } as never, 'the subtree check follows the repaired parent of /a/b')
  const lostIno = (await s.getattr(ids.lost)).ino
  t.equal(after.get(`/lost+found/#${lostIno}`), before.get('/a/b/lost'), 'the nameless file is in lost+found with its data')
  t.ok([...after.keys()].some(p => /^\/lost\+found\/#\d+\/(d|c)$/.test(p)), 'the cycle hangs off lost+found again')
  t.equal(after.get('/ghost'), undefined)
  await t.rejects(s.getattr(orphan as ObjectId), { errno: 2 } as never, 'the orphan is freed')
  t.notOk(existsSync(dataPathIn(dir, orphan)), 'with its data file')
  t.equal(statSync(dataPathIn(dir, ids.big)).size, 3 * BS + 2000, 'the bytes past the size are cut from a data file')
  for (const gone of [ids.linked, ghost, ids.a]) t.notOk(existsSync(dataPathIn(dir, gone)), `the data file of ${gone} no row uses is gone`)
  t.notOk(existsSync(legacyPathIn(dir, ids.big, 1)), 'the block file of the old layout is gone')
  const db = new DatabaseSync(join(dir, 'objfs.db'), { readOnly: true })
  t.same(db.prepare('SELECT length(data) AS n FROM blocks WHERE id = ?').get(ids.small), { n: 10 }, 'and from a row')
  db.close()
  t.notOk(existsSync(dataPathIn(dir, ids.small)), 'the file no row names is gone whole, not cut to the size')
  t.same(await s.getxattr(ids.big, 'user.k'), new Uint8Array([1, 2, 3]), 'xattrs of good files stay')
  const made = await s.create((await s.root()).id, 'new-after-repair', { mode: 0o100644, uid: 0, gid: 0 })
  t.ok(made.ino > 11, `a new object gets a fresh inode number (${made.ino})`)
  await s.setattr(ids.big, { size: 4 * BS })
  t.same(await readRange(s, ids.big, 3 * BS + 2000, BS - 2000), new Uint8Array(BS - 2000), 'big grown again reads zeros past its old size, not the tail that was cut')
})

t.test('a store in use is refused, and --force leaves what the daemon may hold alone', async t => {
  const { dir, ids } = await build()
  const s = await LocalStore.open(configFor(dir))
  t.teardown(async () => await s.close())
  // Unlinked while "open": the daemon holding it is this process.
  await s.remove(ids.b, 'lost', false)
  // Its daemon frees an orphan's file before its rows (namespace.ts reclaim): caught in between.
  rmSync(dataPathIn(dir, ids.lost))
  // And one not yet freed at all.
  const open = await file(s, ids.b, 'open')
  await s.writeBlocks(open.id, [{ index: 0, data: pattern(BS, 5) }], BS, LONG_AGO)
  await s.remove(ids.b, 'open', false)
  // Writes the daemon has put in data files but not committed yet: past big's size, in its last
  // block and further on, and the first block of a new file.
  appendFileSync(dataPathIn(dir, ids.big), 'growing')
  blockAt(dir, ids.big, 5, 'a block being written right now')
  const fresh = await file(s, (await s.root()).id, 'fresh')
  blockAt(dir, fresh.id, 0, 'the first block of a new file')
  legacyFile(dir, ids.big, 1, 'left by an upgrade')
  const bigSize = statSync(dataPathIn(dir, ids.big)).size
  t.throws(() => fsck(dir, { repair: false, force: false }), { code: 'OBJFS_ERR_CONFIG', message: new RegExp(`in use by process ${process.pid}`) })
  const r = fsck(dir, { repair: true, force: true })
  t.same(r.live, [process.pid])
  t.equal(r.held, 2, 'the open orphans are held, not freed')
  t.ok(existsSync(dataPathIn(dir, open.id)), 'nor their files')
  t.same(r.findings.map(f => [f.kind, f.repaired]).sort(), [['block-tail-past-size', undefined], ['orphan-block-file', undefined], ['orphan-block-file', undefined], ['orphan-block-file', undefined]],
    'the files are reported but left alone')
  t.ok(r.findings.every(f => /store is in use/.test(f.notRepaired ?? '')), 'each says why')
  t.equal(statSync(dataPathIn(dir, ids.big)).size, bigSize, 'not cut')
  t.ok(existsSync(dataPathIn(dir, fresh.id)), 'not removed')
  t.ok(existsSync(legacyPathIn(dir, ids.big, 1)), 'not even a block file of the old layout')
  t.equal((await s.getattr(ids.lost)).nlink, 0, 'the orphans still exist')
  t.equal((await s.getattr(open.id)).nlink, 0)
})

t.test('what is not a usable store is bad input', async t => {
  const dir = join(tmp, `s${serial++}`)
  mkdirSync(dir)
  writeFileSync(join(dir, 'notes.txt'), 'mine')
  t.throws(() => fsck(dir, { repair: true, force: false }), { code: 'OBJFS_ERR_CONFIG' }, 'a directory of somebody else\'s files')
  t.same(readdirSync(dir), ['notes.txt'], 'left as it was')
  t.throws(() => fsck(join(tmp, 'absent'), { repair: false, force: false }), { code: 'OBJFS_ERR_CONFIG' }, 'nothing there')
  const { dir: newer } = await build()
  sql(newer, 'UPDATE meta SET value = \'99\' WHERE key = \'format_version\'')
  t.throws(() => fsck(newer, { repair: true, force: false }), { code: 'OBJFS_ERR_CONFIG', message: /newer/ }, 'a newer format')
  // Format 4 kept a file per block; only a read-write open moves them (data-upgrade.ts).
  const { dir: older, ids } = await build()
  sql(older, 'UPDATE meta SET value = \'4\' WHERE key = \'format_version\'')
  legacyFile(older, ids.big, 9, 'would be an orphan in format 5')
  for (const repair of [false, true]) {
    t.throws(() => fsck(older, { repair, force: false }), { code: 'OBJFS_ERR_CONFIG', message: 'store format 4 is older than this fsck checks (6); mount it read-write once to upgrade it, then run fsck' }, `an older format (repair: ${repair})`)
  }
  t.ok(existsSync(legacyPathIn(older, ids.big, 9)), 'left as it was')
})

t.test('the command: exit 0 clean, 1 problems found, 2 bad input', async t => {
  const run = (...args: string[]): { code: number | null, out: string, err: string } => {
    const r = spawnSync(objfs, ['fsck', ...args], { encoding: 'utf8', timeout: 60_000 })
    return { code: r.status, out: r.stdout, err: r.stderr }
  }
  const { dir, ids } = await build()
  t.match(run(dir), { code: 0, out: /clean\n$/ })
  sql(dir, 'UPDATE objects SET nlink = 7 WHERE id = ?', ids.small)
  const found = run(`local:${dir}`)
  t.match(found, { code: 1, out: /link-count: .*\/small.*nlink 7, expected 1\n1 problem found; objfs fsck --repair fixes them\n$/ })
  t.match(run(dir, '--repair'), { code: 1, out: /\[repaired\]\n1 problem found, 1 repaired\n$/ })
  t.match(run(dir, '--json'), { code: 0, out: /"findings": \[\]/ })
  const bad = run(join(tmp, 'absent'))
  t.equal(bad.code, 2)
  t.match(bad.err, /^objfs: no objfs store at .*\n$/, 'one line on stderr')
  t.equal(run('s3://bucket/x').code, 2, 'not an embedded store')
})
