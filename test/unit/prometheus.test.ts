// The Prometheus exposition of a stats snapshot, checked against the text
// format's grammar (https://prometheus.io/docs/instrumenting/exposition_formats/)
// by a strict little parser, and against the snapshot it came from.
import t from 'tap'
import { LATENCY_BOUNDS_MS } from '../../src/metrics/histogram.ts'
import { renderPrometheus } from '../../src/metrics/prometheus.ts'
import { daemonSnapshot, type StatsSnapshot } from '../../src/metrics/snapshot.ts'
import { OpStats } from '../../src/ops/stats.ts'

interface Sample { name: string, labels: Record<string, string>, value: number }
interface Family { type: string, help: string, samples: Sample[] }

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/

/** Parse exposition text; throws on anything the format does not allow. */
function parse (text: string): Map<string, Family> {
  if (!text.endsWith('\n')) throw new Error('the text must end with a newline')
  const families = new Map<string, Family>()
  let current: string | undefined
  for (const line of text.slice(0, -1).split('\n')) {
    const help = /^# HELP (\S+) (.+)$/.exec(line)
    const type = /^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/.exec(line)
    if (help !== null) {
      if (families.has(help[1])) throw new Error(`family ${help[1]} declared twice`)
      if (!NAME.test(help[1])) throw new Error(`bad metric name ${help[1]}`)
      families.set(help[1], { type: '', help: help[2], samples: [] })
      current = help[1]
      continue
    }
    if (type !== null) {
      if (type[1] !== current) throw new Error(`TYPE ${type[1]} does not follow its HELP`)
      ;(families.get(current) as Family).type = type[2]
      continue
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (m === null) throw new Error(`not a sample line: ${JSON.stringify(line)}`)
    const labels: Record<string, string> = {}
    if (m[2] !== undefined) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/y
      let at = 0
      while (at < m[2].length) {
        re.lastIndex = at
        const l = re.exec(m[2])
        if (l === null) throw new Error(`bad labels in ${line}`)
        labels[l[1]] = l[2].replace(/\\(.)/g, (_, c: string) => c === 'n' ? '\n' : c)
        at = re.lastIndex
      }
    }
    const value = m[3] === '+Inf' ? Infinity : Number(m[3])
    if (Number.isNaN(value)) throw new Error(`bad value in ${line}`)
    const family = current === undefined ? undefined : families.get(current)
    const base = family?.type === 'histogram' ? m[1].replace(/_(bucket|sum|count)$/, '') : m[1]
    if (family === undefined || base !== current) throw new Error(`sample ${m[1]} outside its family (${current})`)
    family.samples.push({ name: m[1], labels, value })
  }
  return families
}

function snapshot (): StatsSnapshot {
  const ops = new OpStats()
  for (const ms of [0.02, 0.3, 0.3, 4, 60]) ops.record('read', ms, 0)
  ops.record('lookup', 0.1, 2)
  ops.record('lookup', 0.2, 0)
  return daemonSnapshot({
    config: { source: 'local:/srv/a "b"\\c', mountpoint: '/mnt/line\nbreak', dirtyLimit: 1 << 28 },
    startedAt: Date.now() - 5000,
    ops,
    store: { counters: () => ({ readCalls: 3, bytesRead: 3 << 20, writeCalls: 2, bytesWritten: 1 << 20, metaCalls: 40 }), queued: 4, calls: { inline: 30, worker: 15 } },
    coalescer: { dirtyBytes: 1 << 20, limit: 1 << 28, readHits: 2, readMisses: 3 },
    inodes: () => 7,
    handles: () => 1,
    inFlight: () => 2,
    repliesByReader: () => 6,
    servingMoves: () => 2,
  })
}

t.test('the text parses, and every family is typed and documented', async t => {
  const s = snapshot()
  const families = parse(renderPrometheus(s))
  for (const [name, f] of families) {
    t.not(f.type, '', `${name} has a TYPE`)
    t.ok(f.samples.length > 0, `${name} has samples`)
    if (f.type === 'counter') t.match(name, /_total$/, `counter ${name} ends in _total`)
  }
  const info = families.get('objfs_info')?.samples[0]
  t.same(info?.labels, { source: s.source, mountpoint: s.mountpoint }, 'quotes, backslashes and newlines in labels survive escaping')
})

t.test('values match the snapshot', async t => {
  const s = snapshot()
  const f = parse(renderPrometheus(s))
  const value = (family: string, labels: Record<string, string> = {}, name = family): number | undefined =>
    f.get(family)?.samples.find(x => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v))?.value
  t.equal(value('objfs_requests_total', { op: 'read' }), 5)
  t.equal(value('objfs_request_errors_total', { op: 'lookup' }), 1)
  t.equal(value('objfs_errors_total', { errno: 'ENOENT' }), 1)
  t.equal(value('objfs_requests_in_flight'), 2)
  t.equal(value('objfs_replies_by_reader_total'), 6)
  t.equal(value('objfs_serving_thread_moves_total'), 2)
  t.equal(value('objfs_store_requests_total', { kind: 'meta' }), 40)
  t.equal(value('objfs_store_read_bytes_total'), 3 << 20)
  t.equal(value('objfs_store_written_bytes_total'), 1 << 20)
  t.equal(value('objfs_pool_queue_depth'), 4)
  t.equal(value('objfs_pool_calls_total', { where: 'worker' }), 15)
  t.equal(value('objfs_dirty_bytes'), 1 << 20)
  t.equal(value('objfs_write_buffer_reads_total', { result: 'hit' }), 2)
  t.equal(value('objfs_negative_entries_total'), s.cache.negativeEntries)
  t.equal(value('objfs_inodes'), 7)
  t.equal(value('objfs_open_handles'), 1)
})

t.test('histograms: cumulative buckets in seconds ending at +Inf = count', async t => {
  const f = parse(renderPrometheus(snapshot())).get('objfs_request_duration_seconds')
  t.equal(f?.type, 'histogram')
  const read = (f?.samples ?? []).filter(x => x.labels.op === 'read')
  const buckets = read.filter(x => x.name.endsWith('_bucket'))
  t.equal(buckets.length, LATENCY_BOUNDS_MS.length + 1)
  t.same(buckets.map(b => b.labels.le).slice(0, 3), ['0.00001', '0.000025', '0.00005'], 'bounds in seconds')
  for (let i = 1; i < buckets.length; i++) t.ok(buckets[i].value >= buckets[i - 1].value, `bucket ${buckets[i].labels.le} is cumulative`)
  t.equal(buckets[buckets.length - 1].labels.le, '+Inf')
  t.equal(buckets[buckets.length - 1].value, 5)
  t.equal(buckets.find(b => b.labels.le === '0.0005')?.value, 3, 'three reads took at most 0.5 ms')
  t.equal(read.find(x => x.name.endsWith('_count'))?.value, 5)
  t.ok(Math.abs((read.find(x => x.name.endsWith('_sum'))?.value ?? 0) - 64.62 / 1000) < 1e-9, '_sum is the total in seconds')
})

t.test('the parser refuses what the format does not allow', async t => {
  t.throws(() => parse('objfs_x 1\n'), /outside its family/, 'a sample without HELP/TYPE')
  t.throws(() => parse('# HELP a x\n# TYPE a gauge\na{l="unterminated} 1\n'), /bad labels|not a sample/)
  t.throws(() => parse('# HELP a x\n# TYPE a gauge\na one\n'), /bad value/)
  t.throws(() => parse('# HELP a x\n# TYPE a gauge\na 1'), /newline/)
})
