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
import { latencyOf, parseLatency } from '../../bench/latency.ts'
import { busiestThreadSeconds, threadCpuSeconds } from '../../bench/proc.ts'

const names = targets.map((x) => x.name)
const groups: Record<string, string[]> = {}
for (const x of targets) (groups[x.group] ??= []).push(x.name)

const target = (name: string, group: TargetRecord['group']): TargetRecord => ({ name, group, status: 'ok' })

function sample (target: string, seconds: number, extra: Partial<Sample> = {}): Sample {
  return {
    workload: 'files', family: 'meta', step: 'files-create', unit: 'ops', amount: 100, target, repeat: 1,
    seconds, wallSeconds: seconds, engine: 'node', daemonCpuSeconds: null, coldCache: null, daemonRssMaxBytes: null,
    ...extra,
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

t.test('single calls: nearest-rank quantiles in microseconds, and malformed ones refused', async (t) => {
  // 100 calls of 0.001..0.100 ms: the 50th, 90th and 99th.
  const calls = Array.from({ length: 100 }, (_, i) => (100 - i) / 1000)
  const l = latencyOf(calls)
  t.equal(Math.round(l.p50), 50)
  t.equal(Math.round(l.p90), 90)
  t.equal(Math.round(l.p99), 99)
  t.same(latencyOf([0.5]), { p50: 500, p90: 500, p99: 500 })
  t.same(parseLatency({ p50: 1, p90: 2, p99: 3 }), { p50: 1, p90: 2, p99: 3 })
  t.equal(parseLatency({ p50: 1, p90: 2 }), undefined)
  t.equal(parseLatency({ p50: 1, p90: -2, p99: 3 }), undefined)
  t.equal(parseLatency('fast'), undefined)
  t.equal(parseLatency(undefined), undefined)
})

t.test('single calls: each quantile is the median over repeats, in a table of its own', async (t) => {
  const r = record([target('passthrough_ll', 'local'), target('objfs', 'local')], [
    sample('passthrough_ll', 1, { latencyUs: { p50: 50, p90: 60, p99: 100 } }),
    sample('passthrough_ll', 1, { repeat: 2, latencyUs: { p50: 54, p90: 70, p99: 130 } }),
    sample('passthrough_ll', 1, { repeat: 3, latencyUs: { p50: 52, p90: 65, p99: 120 } }),
    sample('objfs', 1, { latencyUs: { p50: 30, p90: 150, p99: 500 } }),
    sample('objfs', 1, { repeat: 2, latencyUs: { p50: 28, p90: 120, p99: 480 } }),
    sample('objfs', 1, { repeat: 3, latencyUs: { p50: 29, p90: 140, p99: 520 } }),
  ])
  const s = summarize({ ...r, options: { ...r.options, repeats: 3 } }, steps)
  t.same(s.steps[0].cells.map((c) => c.latencyUs), [{ p50: 52, p90: 65, p99: 120 }, { p50: 29, p90: 140, p99: 500 }])
  t.match(renderText(s), /Single calls, microseconds \(median over 3 runs of each run's quantile\)\n[^\n]*p50 +p90 +p99\n[^\n]*\nfiles-create +passthrough_ll +52\.0 +65\.0 +120\.0\nfiles-create +objfs +29\.0 +140\.0 +500\.0\n/)
})

t.test('single calls: no table when no step timed its calls, no figure when a repeat lacks them', async (t) => {
  t.notMatch(renderText(summarize(record([target('objfs', 'local')], [sample('objfs', 1)]), steps)), /Single calls/)
  const mixed = summarize(record([target('objfs', 'local')], [
    sample('objfs', 1, { latencyUs: { p50: 30, p90: 150, p99: 500 } }),
    sample('objfs', 1, { repeat: 2 }),
  ]), steps)
  t.equal(mixed.steps[0].cells[0].latencyUs, undefined)
  t.notMatch(renderText(mixed), /Single calls/)
})

t.test('busiest thread: the most any one thread used between two readings, a new thread from 0', async (t) => {
  const before = new Map([['7/7', 1.0], ['7/8', 2.0], ['9/9', 0.5]])
  const after = new Map([['7/7', 1.9], ['7/8', 2.1], ['9/9', 0.5], ['7/12', 0.4]])
  t.equal(Math.round(busiestThreadSeconds(before, after) * 100) / 100, 0.9)
  t.equal(Math.round(busiestThreadSeconds(new Map(), new Map([['7/12', 0.4]])) * 100) / 100, 0.4)
  t.equal(busiestThreadSeconds(before, new Map()), 0, 'every thread gone: nothing to say')
})

t.test('busiest thread: read from /proc for this process, whose main thread is the one burning CPU', async (t) => {
  const me = `${process.pid}/${process.pid}`
  const before = threadCpuSeconds([process.pid, 2 ** 22 + 7])
  t.ok(before.has(me), 'the main thread is there; a pid that does not exist adds nothing')
  const until = performance.now() + 400
  let x = 0
  while (performance.now() < until) x += Math.sqrt(x + 1)
  const after = threadCpuSeconds([process.pid])
  const busiest = busiestThreadSeconds(before, after)
  // 400 ms of CPU, counted in clock ticks (10 ms) and minus whatever the VM took from us.
  t.ok(busiest >= 0.2, `busiest thread ${busiest} s`)
  t.equal(busiest, (after.get(me) ?? 0) - (before.get(me) ?? 0), 'and that thread is the main thread')
})

t.test('busiest thread: the median over repeats in the results table, - when a repeat lacks it', async (t) => {
  const r = record([target('passthrough_ll', 'local'), target('objfs', 'local')], [
    sample('passthrough_ll', 1, { daemonCpuSeconds: 0.5, busiestThreadCpuSeconds: 0.2 }),
    sample('passthrough_ll', 1, { repeat: 2, daemonCpuSeconds: 0.5 }),
    sample('objfs', 1.2, { daemonCpuSeconds: 1.4, busiestThreadCpuSeconds: 1.1 }),
    sample('objfs', 1.3, { repeat: 2, daemonCpuSeconds: 1.5, busiestThreadCpuSeconds: 1.0 }),
    sample('objfs', 1.1, { repeat: 3, daemonCpuSeconds: 1.3, busiestThreadCpuSeconds: 0.9 }),
  ])
  const s = summarize({ ...r, options: { ...r.options, repeats: 3 } }, steps)
  t.same(s.steps[0].cells.map((c) => c.busiestThreadCpuSeconds), [undefined, 1.0])
  const text = renderText(s)
  t.match(text, /daemon cpu s +busiest thread s\n/)
  t.match(text, /files-create +passthrough_ll +1\.000 \(n=2\) +[^\n]* 0\.50 +-\n/)
  t.match(text, /files-create +objfs +1\.200 +[^\n]* 1\.40 +1\.00\n/)
})
