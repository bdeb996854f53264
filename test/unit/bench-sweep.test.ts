// bench/sweep.ts: its options, what --set accepts, and the table it builds from the
// runs' records (objfs's valid samples only, median of each run's median).
import t from 'tap'
import type { RunRecord, Sample } from '../../bench/results.ts'
import { optionOf, parseSetting, parseSweepArgs, renderSweep, sweepTable } from '../../bench/sweep.ts'

function sample (step: string, target: string, seconds: number, cpu: number | null, invalid?: string): Sample {
  return {
    workload: 'w', family: 'f', step, unit: 'files', amount: 10, target, repeat: 1,
    seconds, wallSeconds: seconds, engine: 'node', daemonCpuSeconds: cpu, coldCache: null, daemonRssMaxBytes: null,
    ...(invalid === undefined ? {} : { invalid }),
  }
}

const record = (samples: Sample[]): RunRecord => ({ samples } as unknown as RunRecord)

t.test('--set: values, or a flag swept off and on', async t => {
  t.same(parseSetting('workers=1,2,4'), { name: 'workers', values: ['1', '2', '4'] })
  t.same(parseSetting('writeback_cache'), { name: 'writeback_cache', values: ['', 'writeback_cache'] })
  t.equal(optionOf(parseSetting('writeback_cache'), ''), '')
  t.equal(optionOf(parseSetting('writeback_cache'), 'writeback_cache'), 'writeback_cache')
  t.equal(optionOf(parseSetting('slots=8,32'), '8'), 'slots=8')
  t.throws(() => parseSetting('workers=2'), /NAME=V1,V2/, 'one value is no sweep')
  t.throws(() => parseSetting('Workers=1,2'), /NAME=V1,V2/)
})

t.test('the sweep takes its own options and hands the rest to the bench, in order', async t => {
  const a = parseSweepArgs(['--quick', '--set', 'commit=group,each', '--workloads', 'rsync,files', '--rounds', '3', '--files=10000', '--objfs-opts', 'slots=8'])
  t.same(a, { setting: { name: 'commit', values: ['group', 'each'] }, rounds: 3, extra: 'slots=8', rest: ['--quick', '--workloads', 'rsync,files', '--files=10000'] })
  t.equal(parseSweepArgs(['--set', 'workers=1,2'])?.rounds, 2, 'two rounds unless asked')
  t.equal(parseSweepArgs(['--quick']), undefined, 'no --set: usage')
  t.throws(() => parseSweepArgs(['--set', 'workers=1,2', '--rounds', '0']), /--rounds/)
  t.throws(() => parseSweepArgs(['--set', 'workers=1,2', '--rounds', 'x']), /--rounds/)
  t.throws(() => parseSweepArgs(['--set', 'workers=1,2', '--targets', 'tmpfs']), /--targets is the sweep's own/)
  t.throws(() => parseSweepArgs(['--set', 'workers=1,2', '--json=x.json']), /--json is the sweep's own/)
})

t.test('per step and value: the median over rounds of each run\'s median, objfs and valid samples only', async t => {
  const runs = [
    { value: 0, record: record([sample('rsync-4', 'objfs', 1.0, 0.5), sample('rsync-4', 'objfs', 3.0, 0.7), sample('rsync-4', 'objfs', 2.0, 0.6), sample('rsync-4', 'tmpfs', 0.1, null)]) },
    { value: 1, record: record([sample('rsync-4', 'objfs', 5.0, 1.0)]) },
    { value: 0, record: record([sample('rsync-4', 'objfs', 4.0, 0.8), sample('rsync-noop', 'objfs', 9.0, 0.1, 'sent files again')]) },
    { value: 1, record: record([sample('rsync-4', 'objfs', 7.0, 1.2)]) },
  ]
  const rows = sweepTable(runs, 2)
  t.same(rows.map(r => r.step), ['rsync-4'], 'an invalid figure makes no row')
  t.same(rows[0].seconds, [3.0, 6.0], 'value 0: runs of median 2.0 and 4.0; value 1: 5.0 and 7.0')
  t.same(rows[0].cpu, [0.7, 1.1])
  const text = renderSweep({ name: 'workers', values: ['1', '2'] }, rows)
  t.match(text, /workers=1 s \(cpu\)\s+workers=2 s \(cpu\)/)
  t.match(text, /rsync-4\s+3\.000 \(0\.70\)\s+6\.000 \(1\.10\)/)
})

t.test('a step of fixed time (random reads) shows reads per second', async t => {
  const ios = (seconds: number, amount: number): Sample => ({ ...sample('rand-read', 'objfs', seconds, 1), unit: 'ios', amount })
  const rows = sweepTable([{ value: 0, record: record([ios(5, 1000), ios(5, 2000), ios(4, 2000)]) }, { value: 1, record: record([ios(5, 5000)]) }], 2)
  t.same(rows[0].seconds, [400, 1000], 'the median rate of each run')
  t.match(renderSweep({ name: 'block_size', values: ['256K', '1M'] }, rows), /rand-read\s+400 IOPS \(1\.00\)\s+1000 IOPS \(1\.00\)/)
})
