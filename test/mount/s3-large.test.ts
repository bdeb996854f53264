// A 1 GiB file through an S3 mount: written sequentially (a multipart
// upload, parts in parallel and uploading while the file is written), read
// back by S3 tools and by the mount with cold caches, checksums equal.
import t from 'tap'
import { dropCaches, q, shOk } from './harness.ts'
import { s3Mounts } from './s3-mounts.ts'

t.setTimeout(1_200_000)

const s3 = await s3Mounts(t)
if (s3 !== undefined) {
  const { bucket } = s3

  t.test('1 GiB round trip with a checksum', async t => {
    const { m, prefix } = await s3.mountPrefix(t, 'large')
    const M = q(m.mountpoint)
    const S = q(m.scratch)
    const sum = async (cmd: string): Promise<string> => (await shOk(`${cmd} | sha256sum`, { timeoutMs: 600_000 })).split(' ')[0]

    await shOk(`head -c 1073741824 /dev/urandom > ${S}/big`, { timeoutMs: 300_000 })
    const want = await sum(`cat ${S}/big`)
    await shOk(`cp ${S}/big ${M}/big && sync ${M}/big`, { timeoutMs: 600_000 })
    const backend = (await m.stats()).store.backend
    const ops = backend.byOperation
    t.equal(ops.CreateMultipartUpload, 1, 'one multipart upload')
    t.equal(ops.UploadPart, 128, 'of 128 parts of 8 MiB')
    t.equal(ops.PutObject ?? 0, 0, 'and no single PUT')
    t.ok(backend.partsAhead >= 100, `${backend.partsAhead} of the parts uploaded ahead of the commit, as cp wrote (stream_threshold 64 MiB)`)
    t.ok(backend.uploadBacklogPeak <= 256 * 1024 * 1024, `parts waiting or uploading stayed within upload_buffer (at most ${backend.uploadBacklogPeak / 1048576} MiB)`)
    t.equal(await sum(`aws --endpoint-url ${q(s3.env.endpoint)} s3 cp ${q(`s3://${bucket}/${prefix}/big`)} -`), want, 'the object S3 holds has the checksum of the file')
    await rmScratch(S)
    await dropCaches()
    t.equal(await sum(`cat ${M}/big`), want, 'reading it back through the mount gives the same bytes')
    t.equal(await shOk(`stat -c %s ${M}/big`), '1073741824\n', 'and the size')
  })
}

/** The local copy goes before the read-back: two GiB of scratch at once is more than some machines have. */
async function rmScratch (S: string): Promise<void> {
  await shOk(`rm -f ${S}/big`)
}
