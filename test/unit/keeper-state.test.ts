// Each keeper's journal in a directory of its own (src/keeper/state.ts,
// takeover.ts): a new mount sets aside only the journals of keepers no
// longer alive, never a live one's (a daemon still serving a mount that
// `umount -l` detached, at the same place).
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import type { Connection } from '../../src/channel/unmount.ts'
import { defaults } from '../../src/config.ts'
import { storingPredecessors } from '../../src/keeper/predecessors.ts'
import { clearKeeperState, connectionFileOf, journalDirOf, keeperDirOf, keeperOfDir, parseConnection, writeKeeperConnection, writeKeeperState } from '../../src/keeper/state.ts'
import { closeTakeoverState, openTakeoverState } from '../../src/keeper/takeover.ts'
import type { ObjectStore } from '../../src/store/types.ts'

/** A pid nobody has: a child's, once it exited. */
const deadPid = (): number => spawnSync('true').pid as number

function setup (t: Test): { config: ReturnType<typeof defaults>, dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'objfs-state-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const config = { ...defaults(), mountpoint: '/mnt/x', stateDir: dir, journal: true, readOnly: false }
  return { config, dir }
}

const store = { capabilities: { inoNodeids: true } } as unknown as ObjectStore

/** A journal segment that replay would have to read: only its presence matters here. */
function segment (dir: string): void {
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, '1.jrnl'), 'not replayed')
}

t.test('keeper directories are named by the keeper', async t => {
  t.equal(keeperOfDir('keeper-1234'), 1234)
  for (const name of ['keeper-', 'keeper-0', 'keeper-12a', 'journal', 'journal.abandoned-1-2', 'keeper.json']) t.equal(keeperOfDir(name), undefined, name)
})

t.test('a new mount sets aside a dead keeper\'s journal and leaves a live one\'s', async t => {
  const { config, dir } = setup(t)
  const dead = deadPid()
  segment(journalDirOf(config, dead))
  // This test process stands for a live keeper still serving a detached mount.
  segment(journalDirOf(config, process.pid))
  const me = deadPid()
  const s = await openTakeoverState(config, store, false, me)
  t.teardown(() => closeTakeoverState(s))
  t.notOk(existsSync(keeperDirOf(config, dead)), 'the dead keeper\'s directory is gone')
  t.same(readdirSync(dir).filter(n => n.startsWith('journal.abandoned-')).map(n => n.endsWith(`-${dead}`)), [true], 'its journal is set aside, named by its keeper')
  t.same(readdirSync(journalDirOf(config, process.pid)), ['1.jrnl'], 'the live keeper\'s journal is left alone')
  t.ok(existsSync(journalDirOf(config, me)), 'this keeper journals in its own directory')
})

t.test('a successor under a keeper from before finds its predecessor\'s journal in the old place', async t => {
  const { config, dir } = setup(t)
  mkdirSync(join(dir, 'journal'))
  writeFileSync(join(dir, 'nodeids.log'), `${JSON.stringify(['n', 5, 'k/a'])}\n`)
  const s = await openTakeoverState(config, { capabilities: { inoNodeids: false } } as unknown as ObjectStore, true, deadPid())
  t.teardown(() => closeTakeoverState(s))
  t.same([...s.previousNodeids], [[5, 'k/a']], 'the nodeids the predecessor issued')
  t.notOk(existsSync(join(dir, 'journal')) || existsSync(join(dir, 'nodeids.log')), 'the old place is emptied')
})

t.test('a keeper that ends clears its own state, and the keeper file only if it names it', async t => {
  const { config, dir } = setup(t)
  mkdirSync(journalDirOf(config, process.pid), { recursive: true })
  writeKeeperConnection(config, { id: 7, ino: 70, fusectl: 3 })
  writeKeeperState(config, { keeper: process.pid + 1, server: 0, generation: 0 })
  clearKeeperState(config)
  t.same(readdirSync(dir), ['keeper.json'], 'its directory went; another keeper\'s file stayed')
  writeKeeperState(config, { keeper: process.pid, server: 0, generation: 0 })
  clearKeeperState(config)
  t.notOk(existsSync(dir), 'with its own keeper file, the state directory goes too')
})

t.test('a new mount waits for the live keepers whose connection has ended, only those', async t => {
  const { config } = setup(t)
  const keeperWith = (pid: number, connection?: number): void => {
    mkdirSync(keeperDirOf(config, pid), { recursive: true })
    if (connection !== undefined) writeFileSync(connectionFileOf(config, pid), JSON.stringify({ id: connection, ino: connection * 10, fusectl: 3 }))
  }
  const sleeper = (): number => {
    const child = spawn('sleep', ['60'], { stdio: 'ignore' })
    t.teardown(() => { child.kill('SIGKILL') })
    return child.pid as number
  }
  const [storing, detached, unknown, unmounted, reused] = [sleeper(), sleeper(), sleeper(), sleeper(), sleeper()]
  keeperWith(storing, 11)
  keeperWith(detached, 12)
  keeperWith(unknown, 13)
  keeperWith(unmounted)
  keeperWith(deadPid(), 14)
  // A keeper that died with its state left, its pid since taken by a process that is no objfs daemon.
  keeperWith(reused, 16)
  // This process: its own keeper directory is never a predecessor's.
  keeperWith(process.pid, 15)
  const live = (conn: Connection): boolean | undefined => conn.id === 12 ? true : conn.id === 13 ? undefined : false
  t.same(storingPredecessors(config, live, [storing, detached, unknown, unmounted, process.pid]), [{ keeper: storing, connection: { id: 11, ino: 110, fusectl: 3 } }],
    'the one whose connection ended; not a detached one, one fusectl cannot tell, one not mounted yet, a dead one, a pid reused, or this process')
})

t.test('a connection file reads back as written, and as objfs before the fusectl inode wrote it', async t => {
  const { config } = setup(t)
  writeKeeperConnection(config, { id: 52, ino: 4711, fusectl: 30 })
  t.same(parseConnection(readFileSync(connectionFileOf(config, process.pid), 'utf8')), { id: 52, ino: 4711, fusectl: 30 })
  t.same(parseConnection('52'), { id: 52 }, 'the bare id of an older objfs')
  t.same(parseConnection('{"id":52,"ino":4711}'), { id: 52 }, 'an inode without its fusectl mount cannot be compared: the id alone')
  t.equal(parseConnection(''), undefined, 'cut short')
  t.equal(parseConnection('{"ino":4711}'), undefined, 'no id')
  t.equal(parseConnection('"52"'), undefined, 'not a number')
})
