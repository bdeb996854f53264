// Whole blocks past the host's page cache (src/store/local/direct.ts): what
// is written direct reads back the same, buffered and direct; a short last
// block reads to the file's end; the host keeps no copy in its page cache
// (fincore); block_io=buffered and a filesystem that refuses O_DIRECT fall
// back to buffered I/O; a bad block_io= is refused.
import { execFileSync } from 'node:child_process'
import { closeSync, constants as fsc, mkdtempSync, openSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import type { Test } from 'tap'
import { ConfigError } from '../../src/errors.ts'
import { BlockFiles } from '../../src/store/local/blocks.ts'
import { DirectIO, parseBlockIO } from '../../src/store/local/direct.ts'
import { openIfExists } from '../../src/store/local/fd.ts'
import { Layout } from '../../src/store/local/layout.ts'
import { LocalStore } from '../../src/store/local/store.ts'
import { pattern } from './conformance/helpers.ts'
import { configFor, dataPathIn, storeDirs } from './local-fixture.ts'

const BS = 64 * 1024
const ID = '0f0e0d0c-0000-4000-8000-000000000001'

const scratch = (t: Test): string => storeDirs(t, 'direct').tmp

/** Does the filesystem of the temporary directory take O_DIRECT? (ext4 and xfs do; some do not.) */
function takesDirect (): boolean {
  const dir = mkdtempSync(join(tmpdir(), 'objfs-direct-probe-'))
  try {
    closeSync(openSync(join(dir, 'probe'), fsc.O_WRONLY | fsc.O_CREAT | fsc.O_DIRECT, 0o600))
    return true
  } catch {
    return false
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
const needsDirect = { skip: takesDirect() ? false : `${tmpdir()} does not take O_DIRECT` }

/** Bytes of `path` in the host's page cache. */
const cachedBytes = (path: string): number =>
  Number(execFileSync('fincore', ['--bytes', '--noheadings', '--raw', '--output', 'RES', path], { encoding: 'utf8' }).trim())

t.test('block_io= takes direct or buffered', async t => {
  t.equal(parseBlockIO(undefined), true, 'direct by default')
  t.equal(parseBlockIO('direct'), true)
  t.equal(parseBlockIO('buffered'), false)
  t.throws(() => parseBlockIO('fast'), { message: /block_io: 'fast' is neither direct nor buffered/ })
  t.ok((() => { try { parseBlockIO('fast') } catch (err) { return err instanceof ConfigError } })(), 'a ConfigError: one line, exit 2')
  const dir = join(scratch(t), 'store')
  await t.rejects(LocalStore.open(configFor(dir, { options: { block_io: 'fast' } })), /block_io/)
  t.throws(() => statSync(dir), { code: 'ENOENT' }, 'refused before anything was created')
})

t.test('whole blocks go direct, read back the same, and leave no copy in the page cache', needsDirect, async t => {
  const dir = scratch(t)
  const files = new BlockFiles(new Layout(dir), BS)
  // Blocks 0-2 whole, block 3 short (700 bytes past a sector boundary).
  for (let i = 0; i < 3; i++) files.write(ID, i, pattern(BS, i))
  const short = pattern(5000, 3)
  files.write(ID, 3, short)
  const path = dataPathIn(dir, ID)
  t.equal(statSync(path).size, 3 * BS + 5000)
  const whole = new Uint8Array(readFileSync(path))
  for (let i = 0; i < 3; i++) t.same(whole.subarray(i * BS, (i + 1) * BS), pattern(BS, i), `block ${i} on disk`)
  t.same(whole.subarray(3 * BS), short, 'the short block, buffered')
  // What the buffered read above brought in goes again: drop it by a direct write over the same bytes.
  for (let i = 0; i < 3; i++) files.write(ID, i, pattern(BS, i + 10))
  const cached = cachedBytes(path)
  t.ok(cached <= 8192, `only the short block's two pages are in the page cache (${cached} bytes cached)`)

  const into = new Uint8Array(BS)
  for (let i = 0; i < 3; i++) {
    t.equal(files.readInto(ID, i, 0, BS, into), BS)
    t.same(into, pattern(BS, i + 10), `block ${i} read direct`)
  }
  t.equal(files.readInto(ID, 3, 0, BS, into), 5000, 'a whole-block read of the short block stops at the end of the file')
  t.same(into.subarray(0, 5000), short)
  t.equal(files.readInto(ID, 4, 0, BS, into), 0, 'past the end: nothing')
  t.equal(files.readInto(ID, 1, 100, 200, into), 200, 'a partial read, buffered')
  t.same(into.subarray(0, 200), pattern(BS, 11).subarray(100, 300))
})

t.test('block_io=buffered keeps whole blocks in the page cache, as before', async t => {
  const dir = scratch(t)
  const files = new BlockFiles(new Layout(dir), BS, false)
  for (let i = 0; i < 3; i++) files.write(ID, i, pattern(BS, i))
  const path = dataPathIn(dir, ID)
  t.equal(cachedBytes(path), 3 * BS, 'written through the page cache')
  const into = new Uint8Array(BS)
  t.equal(files.readInto(ID, 2, 0, BS, into), BS)
  t.same(into, pattern(BS, 2))
})

t.test('the staging offset is found once, by a transfer that moves something', needsDirect, async t => {
  const dir = scratch(t)
  const path = join(dir, 'f')
  const io = new DirectIO(BS)
  const into = new Uint8Array(BS)
  const open = (flags: number): number | undefined => openIfExists(path, flags)
  t.equal(io.read(open, into, 0), undefined, 'no file: read it buffered')
  closeSync(openSync(path, 'w'))
  t.equal(io.read(open, into, 0), undefined, 'an empty file proves no alignment: read it buffered')
  t.equal(io.fits(0, BS), true, 'and direct I/O is still on')
  t.equal(io.write(flags => openSync(path, flags, 0o600), pattern(BS, 7), BS), true, 'a write finds the offset')
  t.equal(io.read(open, into, BS), BS)
  t.same(into, pattern(BS, 7))
  t.equal(io.read(open, into, 0), BS, 'a hole reads as zeros')
  t.same(into, new Uint8Array(BS))
  t.equal(io.fits(0, BS - 512), false, 'only whole blocks qualify')
  t.equal(io.fits(512, BS - 512), false)
})

t.test('a filesystem that refuses O_DIRECT leaves the store buffered', async t => {
  const io = new DirectIO(BS)
  let opens = 0
  const refusing = (): number => {
    opens++
    throw Object.assign(new Error('EINVAL: invalid argument, open'), { code: 'EINVAL' })
  }
  t.equal(io.write(refusing, pattern(BS, 1), 0), false, 'nothing written: write it buffered')
  t.equal(io.fits(0, BS), false, 'never tried again')
  t.equal(io.read(refusing, new Uint8Array(BS), 0), undefined)
  t.equal(opens, 1)
  const other = new DirectIO(BS)
  t.throws(() => other.write(() => { throw Object.assign(new Error('EACCES'), { code: 'EACCES' }) }, pattern(BS, 1), 0), { code: 'EACCES' }, 'other errors are the caller\'s')
  t.equal(new DirectIO(BS + 100).fits(0, BS + 100), false, 'a block size off the sector alignment never qualifies')
})
