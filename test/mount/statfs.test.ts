// df on the mount: statfs answers with sizes.
import t from 'tap'
import { mountObjfs, mountTier, q, shOk } from './harness.ts'

if (mountTier(t)) {
  t.test('df', async t => {
    const m = await mountObjfs(t)
    const M = q(m.mountpoint)
    const lines = (await shOk(`df -P ${M}`)).trim().split('\n')
    t.equal(lines.length, 2, 'a header and one line for the mount')
    const [, size, used, avail, , target] = lines[1].split(/\s+/)
    t.equal(target, m.mountpoint, 'the line is for the mountpoint')
    t.ok(Number(size) > 0, `the size is positive (${size} KiB)`)
    t.ok(Number(avail) > 0, `space is available (${avail} KiB)`)
    t.ok(Number(used) >= 0 && Number(used) <= Number(size), `used (${used}) fits in the size`)
    t.match(await shOk(`df --output=fstype ${M} | tail -n 1`), /^fuse/, 'it is a FUSE filesystem')
    const [blocks, bsize, files] = (await shOk(`stat -f -c '%b %S %c' ${M}`)).trim().split(' ').map(Number)
    t.ok(blocks > 0 && bsize > 0, `statfs reports ${blocks} blocks of ${bsize} bytes`)
    t.ok(files > 0, 'and a number of inodes')
    const r = await shOk(`df -h ${M} | tail -n 1`)
    t.match(r, /\d/, 'df -h prints sizes')
  })
}
