// objfs mount s3://... as a user meets it: a bucket that does not exist,
// refused credentials or an endpoint that does not answer is one line and
// a non-zero exit before anything is mounted; secrets never appear in the
// daemon's command line or log.
import { mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { isMounted } from '../../src/channel/unmount.ts'
import { client, deletePrefix, s3Tier, testBucket, uniquePrefix } from '../s3-env.ts'
import { daemonPids, mountObjfs, mountTier, objfsBin, run, tempDir, type RunResult, unmountAtEnd } from './harness.ts'

t.setTimeout(300_000)

function refused (t: Test, r: RunResult, mnt: string, mentions: RegExp): void {
  t.notOk(r.timedOut, 'objfs mount returns')
  t.ok(r.code !== null && r.code !== 0, `non-zero exit (${r.code})`)
  const lines = r.stderr.trim().split('\n')
  t.equal(lines.length, 1, 'one line', { stderr: r.stderr })
  t.match(lines[0], mentions, 'naming the problem')
  t.notOk(isMounted(mnt), 'nothing was mounted')
}

const env = mountTier(t) ? await s3Tier(t) : undefined
if (env !== undefined) {
  const c = client(env)
  const bucket = await testBucket(c)
  t.teardown(() => { c.destroy() })
  const mount = async (t: Test, source: string, options: string, extraEnv: NodeJS.ProcessEnv = {}): Promise<[RunResult, string]> => {
    const mnt = join(tempDir(t), 'mnt')
    mkdirSync(mnt)
    unmountAtEnd(t, mnt)
    const r = await run(objfsBin, ['mount', source, mnt, '-o', options], { timeoutMs: 120_000, env: { ...process.env, ...extraEnv } })
    return [r, mnt]
  }

  t.test('a bucket that does not exist', async t => {
    const [r, mnt] = await mount(t, 's3://no-such-bucket-objfs', `endpoint=${env.endpoint}`)
    refused(t, r, mnt, /bucket 'no-such-bucket-objfs' does not exist/)
  })

  t.test('wrong credentials', async t => {
    const [r, mnt] = await mount(t, `s3://${bucket}`, `endpoint=${env.endpoint}`, { AWS_SECRET_ACCESS_KEY: 'not-the-secret' })
    refused(t, r, mnt, /denied.*credentials/)
  })

  t.test('an endpoint that does not answer', async t => {
    const [r, mnt] = await mount(t, `s3://${bucket}`, 'endpoint=http://127.0.0.1:9')
    refused(t, r, mnt, /cannot reach S3 at http:\/\/127\.0\.0\.1:9/)
  })

  t.test('secrets stay out of ps and the log', async t => {
    const prefix = uniquePrefix('cli')
    t.teardown(async () => { await deletePrefix(c, bucket, `${prefix}/`) })
    const log = join(tempDir(t), 'daemon.log')
    const m = await mountObjfs(t, { source: `s3://${bucket}/${prefix}`, options: [`endpoint=${env.endpoint}`, `log_file=${log}`, 'log_level=debug'] })
    const secret = process.env.AWS_SECRET_ACCESS_KEY as string
    const pids = daemonPids(m.mountpoint)
    t.ok(pids.length > 0, 'the daemon runs')
    for (const pid of pids) t.notOk(readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(secret), 'not in its command line')
    await run('sh', ['-c', `echo x > '${m.mountpoint}/f' && ls -l '${m.mountpoint}' >/dev/null`])
    await m.unmount()
    t.notOk(readFileSync(log, 'utf8').includes(secret), 'not in its log')
  })
}
