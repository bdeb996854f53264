// Where multipart uploads cut objects (src/store/s3/parts.ts): fixed cuts
// that do not depend on the final size, within S3's limits.
import t from 'tap'
import { MAX_PARTS, PartLayout } from '../../src/store/s3/parts.ts'

const MiB = 1024 * 1024
const GiB = 1024 * MiB
const TiB = 1024 * GiB

t.test('the first parts: whole blocks, at least 5 MiB', async t => {
  t.equal(new PartLayout(8 * MiB).first, 8 * MiB, '8 MiB blocks: one block a part')
  t.equal(new PartLayout(MiB).first, 5 * MiB, '1 MiB blocks: five')
  t.equal(new PartLayout(3 * MiB).first, 6 * MiB, '3 MiB blocks: two (5 MiB is not whole blocks)')
  t.equal(new PartLayout(MiB, MiB).first, 5 * MiB, 'part_size below 5 MiB is raised to it')
  t.equal(new PartLayout(MiB, 16 * MiB).first, 16 * MiB, 'part_size')
})

t.test('parts tile the object, grow per 1000, and hold S3\'s largest object', async t => {
  for (const l of [new PartLayout(MiB), new PartLayout(8 * MiB), new PartLayout(MiB, 64 * MiB)]) {
    let end = 0
    for (let n = 0; n < MAX_PARTS; n++) {
      const r = l.part(n)
      if (r.start !== end) { t.fail(`part ${n} starts at ${r.start}, not ${end}`); return }
      if (r.end - r.start > 5 * GiB || r.end - r.start < 5 * MiB) { t.fail(`part ${n} is ${r.end - r.start} bytes`); return }
      if (l.partAt(r.start) !== n || l.partAt(r.end - 1) !== n) { t.fail(`partAt disagrees with part ${n}`); return }
      end = r.end
    }
    t.ok(end >= 5 * TiB, `first part ${l.first / MiB} MiB: 10,000 parts hold ${(end / TiB).toFixed(2)} TiB`)
    t.equal(l.part(999).end - l.part(999).start, l.first, 'the first 1000 parts are `first` bytes')
    t.equal(l.part(1000).end - l.part(1000).start, Math.min(2 * l.first, 5 * GiB), 'the next ones twice that')
  }
})

t.test('count and clipping', async t => {
  const l = new PartLayout(MiB)
  t.equal(l.count(0), 1, 'an empty object is one part')
  t.equal(l.count(5 * MiB), 1, 'exactly one part')
  t.equal(l.count(5 * MiB + 1), 2, 'one byte more: two')
  t.same(l.clipped(1, 7 * MiB), { n: 1, start: 5 * MiB, end: 7 * MiB }, 'the last part ends with the object')
})
