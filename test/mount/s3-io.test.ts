// An S3 bucket through the mount: files written here are ordinary objects
// for other S3 tools, objects put by them are files here; directories,
// renames, attributes, and reads that fetch only what they need.
import { createHash, randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PutObjectCommand } from '@aws-sdk/client-s3'
import t, { type Test } from 'tap'
import { client, deletePrefix, listKeys, s3Tier, testBucket, uniquePrefix } from '../s3-env.ts'
import { dropCaches, mountObjfs, mountTier, q, sh, shOk } from './harness.ts'

t.setTimeout(600_000)

const env = mountTier(t) ? await s3Tier(t) : undefined
if (env !== undefined) {
  const c = client(env)
  const bucket = await testBucket(c)
  t.teardown(() => { c.destroy() })
  const aws = `aws --endpoint-url ${q(env.endpoint)} s3`

  const mountS3 = async (t: Test, prefix: string, source = `s3://${bucket}/${prefix}`): Promise<Awaited<ReturnType<typeof mountObjfs>>> => {
    t.teardown(async () => { await deletePrefix(c, bucket, `${prefix}/`) })
    return await mountObjfs(t, { source, options: [`endpoint=${env.endpoint}`] })
  }

  t.test('files written here are objects; objects put elsewhere are files', async t => {
    const prefix = uniquePrefix('io')
    const m = await mountS3(t, prefix)
    const M = q(m.mountpoint)
    const url = `s3://${bucket}/${prefix}`

    await shOk(`printf 'hello from objfs\\n' > ${M}/hello.txt && sync ${M}/hello.txt`)
    t.equal(await shOk(`${aws} cp ${q(`${url}/hello.txt`)} -`), 'hello from objfs\n', 'aws s3 cp reads what the mount wrote (after fsync)')

    await shOk(`printf 'no fsync\\n' > ${M}/later.txt`)
    const seen = await shOk(`for i in $(seq 1 50); do ${aws} cp ${q(`${url}/later.txt`)} - 2>/dev/null && exit 0; sleep 0.2; done; exit 1`)
    t.equal(seen, 'no fsync\n', 'a closed file is uploaded shortly after close (commit_delay)')

    const data = randomBytes(3 * 1024 * 1024 + 17)
    await c.send(new PutObjectCommand({ Bucket: bucket, Key: `${prefix}/from-s3/deep/data.bin`, Body: data }))
    t.equal(await shOk(`sha256sum < ${M}/from-s3/deep/data.bin`), `${createHash('sha256').update(data).digest('hex')}  -\n`, 'an object put with the SDK reads back in the mount')
    t.equal(await shOk(`ls ${M}/from-s3`), 'deep\n', 'its prefixes are directories')

    await shOk(`mkdir -p ${M}/a/b/c && echo x > ${M}/a/b/c/f && mkdir ${M}/empty`)
    await shOk(`mv ${M}/a/b ${M}/a/z && mv ${M}/hello.txt ${M}/a/hi.txt`)
    t.equal(await shOk(`cd ${M} && find a empty | sort`), 'a\na/hi.txt\na/z\na/z/c\na/z/c/f\nempty\n', 'mkdir, file and directory renames, readdir')
    t.equal(await shOk(`cat ${M}/a/z/c/f ${M}/a/hi.txt`), 'x\nhello from objfs\n', 'contents moved along')
    const rmdir = await sh(`rmdir ${M}/a 2>&1`)
    t.match(rmdir.stdout, /not empty/i, 'rmdir of a non-empty directory fails')
    t.equal(await shOk(`exec 3> ${M}/open.txt; echo one >&3; mv ${M}/open.txt ${M}/moved.txt; echo two >&3; exec 3>&-; cat ${M}/moved.txt`),
      'one\ntwo\n', 'an open file keeps being written through a rename')
    await shOk(`rm ${M}/moved.txt`)
    const link = await sh(`ln ${M}/a/hi.txt ${M}/a/hard 2>&1`)
    t.match(link.stdout, /not permitted/i, 'hard links answer EPERM')

    await shOk(`sync ${M}/a/z/c/f; chmod 640 ${M}/a/z/c/f && touch -d '2001-02-03 04:05:06.5' ${M}/a/z/c/f && chmod 700 ${M}/empty`)
    const attrs = `stat -c '%n %a %s %Y %y' ${M}/a/z/c/f ${M}/empty ${M}/later.txt`
    const before = await shOk(attrs)
    await m.remount()
    await dropCaches()
    t.equal(await shOk(attrs), before, 'modes, sizes and times survive a remount')
    t.same((await listKeys(c, bucket, `${prefix}/`)).sort(), [
      'a/', 'a/hi.txt', 'a/z/', 'a/z/c/', 'a/z/c/f', 'empty/', 'from-s3/deep/data.bin', 'later.txt',
    ].map(k => `${prefix}/${k}`), 'the bucket holds plain keys and directory markers')
  })

  t.test('files without a name: O_TMPFILE, and unlinked while open', async t => {
    const prefix = uniquePrefix('unlinked')
    const cache = mkdtempSync(join(tmpdir(), 'objfs-s3-cache-'))
    t.teardown(() => { rmSync(cache, { recursive: true, force: true }) })
    t.teardown(async () => { await deletePrefix(c, bucket, `${prefix}/`) })
    const m = await mountObjfs(t, { source: `s3://${bucket}/${prefix}`, options: [`endpoint=${env.endpoint}`, `cache_dir=${cache}`] })
    const M = q(m.mountpoint)
    await shOk(`mkdir ${M}/u`)
    const out = await shOk(`cd ${M}/u && python3 -c ${q(UNLINKED_CLIENT)}`)
    t.same(JSON.parse(out), {
      tmpfile: { nlink: 0, mode: '0o100640', size: 13, read: 'hello tmpfile', linkErrno: 1 },
      unlinked: { nlink: 0, size: 12, read: 'before after', truncated: 'before' },
      temporaryFile: 'abc',
      mkstemp: 'mkstemp',
      uploaded: { oldRead: 2, new: 'new file' },
      replaced: { oldRead: 2, new: 'renamed over' },
      listed: [],
    }, 'read, write, fsync and truncate work without a name; linkat answers EPERM (one key per object); an uploaded file unlinked or renamed over while open reads ENOENT, never the next file of its name')
    t.same(await listKeys(c, bucket, `${prefix}/`), [`${prefix}/u/`], 'none of them reached the bucket')
    const staged = async (): Promise<string> => await shOk(`find ${q(cache)} -name '*.stage'`)
    let left = await staged()
    for (let i = 0; i < 50 && left !== ''; i++) {
      await new Promise(resolve => setTimeout(resolve, 100))
      left = await staged()
    }
    t.equal(left, '', 'their staged data is freed once closed')
  })

  t.test('changes by other clients show within metadata_ttl', async t => {
    const prefix = uniquePrefix('ttl')
    const key = `${prefix}/shared.txt`
    await c.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'first version\n' }))
    const m = await mountS3(t, prefix)
    const M = q(m.mountpoint)
    t.equal(await shOk(`cat ${M}/shared.txt`), 'first version\n', 'read once')
    await c.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'the second, longer version\n' }))
    await c.send(new PutObjectCommand({ Bucket: bucket, Key: `${prefix}/new.txt`, Body: 'new\n' }))
    // metadata_ttl (1 s) plus the kernel's attr_timeout and entry_timeout (1 s).
    await new Promise(resolve => setTimeout(resolve, 2500))
    t.equal(await shOk(`cat ${M}/shared.txt`), 'the second, longer version\n', 'a replaced object reads as its new version')
    t.equal(await shOk(`ls ${M}`), 'new.txt\nshared.txt\n', 'a new object is listed')
    await deletePrefix(c, bucket, `${prefix}/`)
    await new Promise(resolve => setTimeout(resolve, 2500))
    t.equal((await sh(`cat ${M}/shared.txt 2>&1`)).stdout.includes('No such file'), true, 'a deleted object is gone')
  })

  t.test('head of a large object fetches a small range', async t => {
    const prefix = uniquePrefix('head')
    const big = randomBytes(64 * 1024 * 1024)
    await c.send(new PutObjectCommand({ Bucket: bucket, Key: `${prefix}/big.bin`, Body: big }))
    const m = await mountS3(t, prefix)
    const M = q(m.mountpoint)
    await shOk(`stat ${M}/big.bin >/dev/null`)
    const before = (await m.stats()).store.backend
    t.equal(await shOk(`head -c 100 ${M}/big.bin | sha256sum`), `${createHash('sha256').update(big.subarray(0, 100)).digest('hex')}  -\n`, 'head -c 100')
    const after = (await m.stats()).store.backend
    const fetched = after.bytesFetched - before.bytesFetched
    t.ok(fetched > 0 && fetched <= 1024 * 1024, `fetched ${fetched} bytes of a 64 MiB object`)
    t.ok((after.byOperation.GetObject ?? 0) - (before.byOperation.GetObject ?? 0) <= 2, 'in one or two GETs')
    t.equal(await shOk(`sha256sum < ${M}/big.bin`), `${createHash('sha256').update(big).digest('hex')}  -\n`, 'a whole read is right')
  })

  t.test('s3:// alone mounts every bucket as a directory', async t => {
    const prefix = uniquePrefix('all')
    const other = await testBucket(c, 'objfs-test-other')
    t.teardown(async () => { await deletePrefix(c, other, `${prefix}/`) })
    await c.send(new PutObjectCommand({ Bucket: bucket, Key: `${prefix}/f.txt`, Body: 'in the first bucket\n' }))
    const m = await mountS3(t, prefix, 's3://')
    const M = q(m.mountpoint)
    const names = (await shOk(`ls ${M}`)).split('\n')
    t.ok(names.includes(bucket) && names.includes(other), 'both buckets are directories of the root')
    t.equal(await shOk(`cat ${M}/${bucket}/${prefix}/f.txt`), 'in the first bucket\n', 'with their objects below')
    await shOk(`mkdir ${M}/${other}/${prefix} && mv ${M}/${bucket}/${prefix}/f.txt ${M}/${other}/${prefix}/ && sync ${M}/${other}/${prefix}/f.txt`)
    t.same(await listKeys(c, other, `${prefix}/`), [`${prefix}/`, `${prefix}/f.txt`], 'mv between buckets copies (rename answers EXDEV)')
    t.same(await listKeys(c, bucket, `${prefix}/`), [], 'and removes the original')
  })
}

// A program's files without a name on S3 (run in an empty directory): O_TMPFILE, a file unlinked while
// open, Python's TemporaryFile and mkstemp-then-unlink; then an uploaded file unlinked while open and
// a new file made under its name, and one renamed over while open. Each read drops the kernel's cached pages first, so the bytes come
// from the daemon.
const UNLINKED_CLIENT = `
import ctypes, json, os, tempfile
libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD, AT_EMPTY_PATH = -100, 0x1000
def read(fd):
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    return os.pread(fd, 64, 0).decode()
out = {}
fd = os.open('.', os.O_TMPFILE | os.O_RDWR, 0o640)
os.write(fd, b'hello tmpfile')
os.fsync(fd)
st = os.fstat(fd)
r = libc.linkat(fd, b'', AT_FDCWD, b'named', AT_EMPTY_PATH)
out['tmpfile'] = dict(nlink=st.st_nlink, mode=oct(st.st_mode), size=st.st_size, read=read(fd), linkErrno=ctypes.get_errno() if r != 0 else 0)
os.close(fd)
fd = os.open('gone', os.O_CREAT | os.O_RDWR, 0o600)
os.write(fd, b'before ')
os.unlink('gone')
os.write(fd, b'after')
os.fsync(fd)
st = os.fstat(fd)
out['unlinked'] = dict(nlink=st.st_nlink, size=st.st_size, read=read(fd))
os.ftruncate(fd, 6)
out['unlinked']['truncated'] = read(fd)
os.close(fd)
with tempfile.TemporaryFile(dir='.') as f:
    f.write(b'abc')
    f.flush()
    out['temporaryFile'] = read(f.fileno())
fd, path = tempfile.mkstemp(dir='.')
os.unlink(path)
os.write(fd, b'mkstemp')
out['mkstemp'] = read(fd)
os.close(fd)
def upload(name, data):
    with open(name, 'wb') as f:
        f.write(data); f.flush(); os.fsync(f.fileno())
def name_taken(take):
    # 'up' open while take() puts another file under its name: what the old descriptor reads, and the new file.
    fd = os.open('up', os.O_RDONLY)
    take()
    try:
        old = read(fd)
    except OSError as e:
        old = e.errno
    os.close(fd)
    return dict(oldRead=old, new=open('up').read())
upload('up', b'uploaded')
out['uploaded'] = name_taken(lambda: (os.unlink('up'), upload('up', b'new file')))
out['replaced'] = name_taken(lambda: (upload('next', b'renamed over'), os.rename('next', 'up')))
os.unlink('up')
out['listed'] = os.listdir('.')
print(json.dumps(out))
`
