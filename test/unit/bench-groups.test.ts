// The bench's groups of targets: local peers are compared with objfs, S3
// peers (on one bucket) with objfs-s3, never across; --targets takes a
// group's name; the S3 targets say why they cannot run without an engine.
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { parseOptions, UsageError } from '../../bench/options.ts'
import { renderText } from '../../bench/report.ts'
import { SCHEMA, type RunRecord, type Sample, type TargetRecord } from '../../bench/results.ts'
import { summarize } from '../../bench/summary.ts'
import { SUBJECTS, targets } from '../../bench/targets/index.ts'
import { findS3Endpoint, readEnvFile } from '../../bench/targets/s3-endpoint.ts'
import { NotRunnable } from '../../bench/targets/types.ts'
import { QUICK } from '../../bench/options.ts'

const names = targets.map((x) => x.name)
const groups: Record<string, string[]> = {}
for (const x of targets) (groups[x.group] ??= []).push(x.name)

const target = (name: string, group: TargetRecord['group']): TargetRecord => ({ name, group, status: 'ok' })

function sample (target: string, seconds: number): Sample {
  return {
    workload: 'files', family: 'meta', step: 'files-create', unit: 'ops', amount: 100, target, repeat: 1,
    seconds, wallSeconds: seconds, engine: 'node', daemonCpuSeconds: null, coldCache: null, daemonRssMaxBytes: null,
  }
}

function record (targetRecords: TargetRecord[], samples: Sample[]): RunRecord {
  return {
    schema: SCHEMA,
    startedAt: '2026-11-22T00:00:00.000Z',
    finishedAt: '2026-11-22T00:01:00.000Z',
    interrupted: false,
    argv: [],
    options: {
      quick: true, repeats: 1, sizes: QUICK, targets: targetRecords.map((x) => x.name), workloads: ['files'],
      subjects: SUBJECTS, objfsOpts: '', s3Bucket: 'objfs-bench', timeoutMs: null, seed: 1, rssBudgetBytes: 1 << 30,
    },
    fixtures: {},
    host: { hostname: 'h', kernel: 'k', cpus: 2, cpuModel: 'c', memBytes: 1, node: 'v24', fio: null },
    targets: targetRecords,
    samples,
    failures: [],
    warnings: [],
    goals: [],
  }
}

const steps = [{ workload: 'files', family: 'meta', step: 'files-create', unit: 'ops' as const, amount: 100, coldCache: false }]

t.test('each group is compared with its own subject, never across', async (t) => {
  const r = record(
    [target('passthrough_ll', 'local'), target('objfs', 'local'), target('s3fs', 's3'), target('objfs-s3', 's3')],
    [sample('passthrough_ll', 1), sample('objfs', 2), sample('s3fs', 8), sample('objfs-s3', 2)],
  )
  const s = summarize(r, steps)
  t.same(s.comparisons.map((c) => [c.group, c.subject, c.ran]), [['local', 'objfs', true], ['s3', 'objfs-s3', true]])
  t.same(s.ratios.map((x) => [x.subject, x.peer, x.speed]), [['objfs', 'passthrough_ll', 0.5], ['objfs-s3', 's3fs', 4]])
  const text = renderText(s)
  t.match(text, /Speed ratio objfs vs each local peer[^\n]*\n[^\n]*vs passthrough_ll\n[^\n]*\nfiles-create +0\.50x\n/)
  t.match(text, /Speed ratio objfs-s3 vs each s3 peer[^\n]*\n[^\n]*vs s3fs\n[^\n]*\nfiles-create +4\.00x\n/)
  t.notMatch(text, /vs objfs-s3|vs objfs\b/)
})

t.test('a group whose subject did not run has no ratios, and says why', async (t) => {
  const down: TargetRecord = { name: 'objfs-s3', group: 's3', status: 'not-run', reason: 'no S3 endpoint' }
  const s = summarize(record([target('objfs', 'local'), target('s3fs', 's3'), down], [sample('objfs', 1), sample('s3fs', 3)]), steps)
  t.same(s.ratios, [])
  t.match(renderText(s), /Speed ratio objfs-s3 vs each s3 peer[^\n]*\n  no ratios: objfs-s3 not run: no S3 endpoint/)
  t.match(renderText(s), /Speed ratio objfs vs each local peer[^\n]*\n  no ratios: no other local target in this run/)
})

t.test('--targets: local by default, a group by its name, in the table order', async (t) => {
  const parse = (...argv: string[]) => parseOptions(argv, names, ['files'], groups)!
  t.same(parse().targets, ['tmpfs', 'bindfs', 'passthrough_ll', 'rclone', 'objfs'])
  t.same(parse('--targets', 's3').targets, ['s3fs', 'rclone-s3', 'objfs-s3'])
  t.same(parse('--targets', 'objfs-s3,objfs,s3').targets, ['objfs', 's3fs', 'rclone-s3', 'objfs-s3'])
  t.same(parseOptions(['--targets', 'all'], names, ['files'], { ...groups, all: names })!.targets, names)
  t.equal(parse('--s3-bucket', 'mine').s3Bucket, 'mine')
  const refused = (argv: string[]): unknown => { try { parse(...argv) } catch (err) { return err } }
  t.ok(refused(['--targets', 'gcs']) instanceof UsageError)
  t.match(refused(['--targets', 'gcs']), { message: /^unknown targets: gcs \(known: .*, local, s3\)$/ })
  t.ok(refused(['--subject', 'nope']) instanceof UsageError)
  t.match(refused(['--subject', 'nope']), { message: /--subject: unknown target 'nope'/ })
})

t.test('the S3 endpoint: from the environment, else ceph-up.sh\'s env file, else why not', async (t) => {
  const saved = { ...process.env }
  const dir = mkdtempSync(join(tmpdir(), 'objfs-bench-s3env-'))
  const server = createServer((_req, res) => { res.statusCode = 403; res.end() })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const live = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  t.teardown(() => {
    server.close()
    rmSync(dir, { recursive: true, force: true })
    for (const k of ['S3_ENDPOINT', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_REGION', 'OBJFS_CEPH_DIR']) {
      if (saved[k] === undefined) delete process.env[k]
      else process.env[k] = saved[k]
    }
  })
  for (const k of ['S3_ENDPOINT', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_REGION']) delete process.env[k]
  process.env.OBJFS_CEPH_DIR = dir

  const none = await findS3Endpoint()
  t.type(none, 'string')
  t.match(none, /^no S3 endpoint: set S3_ENDPOINT.*scripts\/ceph-up\.sh$/)
  const setup = targets.find((x) => x.name === 'objfs-s3')!.setup({ workdir: dir, objfsOpts: '', s3Bucket: 'b', signal: new AbortController().signal, log: () => {} })
  const refused = await setup.then(() => undefined, (err: unknown) => err)
  t.ok(refused instanceof NotRunnable, 'the runner reports it as not run, with the reason')
  t.match(refused, { message: none })

  writeFileSync(join(dir, 'env'), `S3_ENDPOINT=${live}\nAWS_ACCESS_KEY_ID=ak\nAWS_SECRET_ACCESS_KEY=sk\n# comment\n`)
  t.same(readEnvFile(), { S3_ENDPOINT: live, AWS_ACCESS_KEY_ID: 'ak', AWS_SECRET_ACCESS_KEY: 'sk' })
  t.same(await findS3Endpoint(), { endpoint: live, region: 'us-east-1', accessKeyId: 'ak', secretAccessKey: 'sk' })

  // The environment wins while it answers; a dead one falls back to the file, and is named if both fail.
  Object.assign(process.env, { S3_ENDPOINT: 'http://127.0.0.1:9', AWS_ACCESS_KEY_ID: 'ek', AWS_SECRET_ACCESS_KEY: 'es', AWS_REGION: 'eu-west-1' })
  t.equal((await findS3Endpoint() as { endpoint: string }).endpoint, live)
  process.env.S3_ENDPOINT = live
  t.same(await findS3Endpoint(), { endpoint: live, region: 'eu-west-1', accessKeyId: 'ek', secretAccessKey: 'es' })
  server.close()
  process.env.S3_ENDPOINT = 'http://127.0.0.1:9'
  t.match(await findS3Endpoint(), /S3_ENDPOINT=http:\/\/127\.0\.0\.1:9 does not answer; .* \(from .*env\) does not answer/)
})
