import { S3Client, HeadObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3'
const c = new S3Client({ endpoint: process.env.S3_ENDPOINT, region: 'us-east-1', forcePathStyle: true, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' })
async function time(name, f, n=50) { const t0 = performance.now(); for (let i=0;i<n;i++) { try { await f(i) } catch {} } console.log(name, ((performance.now()-t0)/n).toFixed(2), 'ms') }
await time('head-miss', i => c.send(new HeadObjectCommand({ Bucket: 'manual', Key: 'r1/tree/nope' + i })))
await time('head-hit', i => c.send(new HeadObjectCommand({ Bucket: 'manual', Key: 'e1' })))
await time('list-prefix-empty', i => c.send(new ListObjectsV2Command({ Bucket: 'manual', Prefix: 'r1/tree/nope' + i + '/', Delimiter: '/', MaxKeys: 1000 })))
await time('list-prefix-empty-1', i => c.send(new ListObjectsV2Command({ Bucket: 'manual', Prefix: 'r1/tree/nope' + i + '/', Delimiter: '/', MaxKeys: 1 })))
await time('list-nodelim', i => c.send(new ListObjectsV2Command({ Bucket: 'manual', Prefix: 'r1/tree/nope' + i + '/', MaxKeys: 1 })))
