// errors.ts: what becomes which errno, and which failures are bugs worth a stack in the log.
import { DatabaseSync } from 'node:sqlite'
import { statSync } from 'node:fs'
import t from 'tap'
import { FsError, errno as E, isBug, toErrno } from '../../src/errors.ts'

/** What node:sqlite throws for a failed statement with this result code. */
const sqliteError = (errcode: number): Error =>
  Object.assign(new Error('sqlite failed'), { code: 'ERR_SQLITE_ERROR', errcode, errstr: 'x' })

const thrown = (fn: () => unknown): unknown => {
  try {
    fn()
  } catch (err) {
    return err
  }
  throw new Error('it did not throw')
}

t.test('SQLite result codes, extended ones by their primary code', async t => {
  t.equal(toErrno(sqliteError(13)), E.ENOSPC, 'SQLITE_FULL')
  t.equal(toErrno(sqliteError(8)), E.EROFS, 'SQLITE_READONLY')
  t.equal(toErrno(sqliteError(1032)), E.EROFS, 'SQLITE_READONLY_DBMOVED')
  t.equal(toErrno(sqliteError(778)), E.EIO, 'SQLITE_IOERR_WRITE')
})

t.test('a store fault is no bug; a failure nobody foresaw is', async t => {
  t.notOk(isBug(new FsError(E.ENOENT)), 'an FsError')
  t.notOk(isBug(thrown(() => statSync('/nonexistent/objfs'))), 'a host error (it has an errno)')
  t.notOk(isBug(sqliteError(13)), 'SQLITE_FULL: a full disk')
  t.notOk(isBug(sqliteError(778)), 'SQLITE_IOERR_WRITE: the disk failed')
  t.notOk(isBug(Object.assign(new Error('aborted'), { name: 'AbortError' })), 'an abort')
  const db = new DatabaseSync(':memory:')
  t.ok(isBug(thrown(() => db.prepare('SELECT * FROM nowhere'))), 'a statement SQLite cannot run')
  db.close()
  t.ok(isBug(new TypeError('x is undefined')), 'a TypeError')
  t.notOk(isBug('a string'), 'not an Error at all: toErrno makes it EIO')
})
