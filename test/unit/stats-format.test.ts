// `objfs stats` for people: every counter of the snapshot shows up, busiest
// operation first, with quantiles from the latency buckets.
import t from 'tap'
import { formatBytes, formatDuration, formatStats } from '../../src/metrics/format.ts'
import { daemonSnapshot } from '../../src/metrics/snapshot.ts'
import { OpStats } from '../../src/ops/stats.ts'

t.test('sizes and durations', async t => {
  t.equal(formatBytes(0), '0 B')
  t.equal(formatBytes(1023), '1023 B')
  t.equal(formatBytes(1536), '1.50 KiB')
  t.equal(formatBytes(256 * 1024 * 1024), '256.0 MiB')
  t.equal(formatDuration(42), '42s')
  t.equal(formatDuration(3 * 60 + 5), '3m 5s')
  t.equal(formatDuration(2 * 3600 + 60), '2h 1m')
  t.equal(formatDuration(86400 + 3600), '1d 1h 0m')
})

t.test('the report', async t => {
  const ops = new OpStats()
  for (let i = 0; i < 99; i++) ops.record('getattr', 0.04, 0)
  ops.record('getattr', 30, 0)
  ops.record('write', 2, 5)
  ops.record('write', 2, 5)
  ops.record('lookup', 0.2, 2)
  const text = formatStats(daemonSnapshot({
    config: { source: 'local:/srv/store', mountpoint: '/mnt/data', dirtyLimit: 256 << 20 },
    startedAt: Date.now() - 65_000,
    ops,
    store: { counters: () => ({ readCalls: 1, bytesRead: 4096, writeCalls: 2, bytesWritten: 2 << 20, metaCalls: 12 }), queued: 3, calls: { inline: 10, worker: 5 } },
    coalescer: { dirtyBytes: 1 << 20, limit: 256 << 20, readHits: 4, readMisses: 9 },
    inodes: () => 5,
    handles: () => 1,
    inFlight: () => 0,
    repliesByReader: () => 61,
    servingMoves: () => 1,
  }))
  const lines = text.split('\n')
  t.match(lines[0], /^objfs local:\/srv\/store on \/mnt\/data: daemon pid \d+, up 1m 5s$/)
  t.match(text, /103 answered \(61 replies written by the reader thread\), 0 in flight, 3 errors \(EIO 2, ENOENT 1\)/)
  t.match(text, /the serving thread moved off a lone caller's CPU 1 time\n/)
  const rows = lines.filter(l => /^ {2}(getattr|write|lookup) /.test(l))
  t.same(rows.map(r => r.trim().split(/\s+/)[0]), ['getattr', 'write', 'lookup'], 'busiest first')
  t.same(rows[0].trim().split(/\s+/).slice(1), ['100', '0', '0.34', '0.050', '0.050', '30'], 'getattr: calls, errors, avg, p50, p99, max')
  t.match(text, /1 block read \(4\.00 KiB\), 2 block writes \(2\.00 MiB\), 12 metadata calls/)
  t.match(text, /3 queued; 10 calls ran inline, 5 in worker threads/)
  t.match(text, /1\.00 MiB dirty of 256\.0 MiB; block reads: 4 from the write buffer, 9 from the store/)
  t.match(text, /5 inodes known, 1 open handle$/m)
})
