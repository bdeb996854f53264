// Where the S3 targets (objfs, rclone and s3fs on one bucket) find their
// engine, and the bucket chores around their mounts. The test tier's S3
// environment (test/s3-env.ts) finds the engine the same way.
//
// Order: S3_ENDPOINT with AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY in the
// environment, if it answers; else the one-node Ceph RGW that
// scripts/ceph-up.sh keeps in $OBJFS_CEPH_DIR (/tmp/objfs-ceph), whose
// endpoint and keys it writes to the file `env` there.
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  CreateBucketCommand, DeleteObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client, type ListObjectsV2CommandOutput,
} from '@aws-sdk/client-s3'

export const cephDir = (): string => process.env.OBJFS_CEPH_DIR ?? '/tmp/objfs-ceph'

export interface S3Endpoint {
  endpoint: string
  region: string
  accessKeyId: string
  secretAccessKey: string
}

/** The variables of a `KEY=value` file such as ceph-up.sh's `env`; undefined when there is none. */
export function readEnvFile (file = join(cephDir(), 'env')): Record<string, string> | undefined {
  if (!existsSync(file)) return undefined
  const out: Record<string, string> = {}
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim())
    if (m !== null) out[m[1]] = m[2]
  }
  return out
}

/** Whether anything answers HTTP there (any status: S3 answers 403 to an anonymous GET). */
export async function answers (endpoint: string): Promise<boolean> {
  try {
    await fetch(endpoint, { signal: AbortSignal.timeout(3000) })
    return true
  } catch {
    return false
  }
}

function endpointOf (vars: Record<string, string | undefined>): S3Endpoint | undefined {
  const { S3_ENDPOINT: endpoint, AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey } = vars
  if (endpoint === undefined || endpoint === '' || accessKeyId === undefined || secretAccessKey === undefined) return undefined
  return { endpoint, region: vars.AWS_REGION ?? 'us-east-1', accessKeyId, secretAccessKey }
}

/** The endpoint that answers, or why there is none (one line). */
export async function findS3Endpoint (): Promise<S3Endpoint | string> {
  const given = endpointOf(process.env)
  if (given !== undefined && await answers(given.endpoint)) return given
  const kept = endpointOf(readEnvFile() ?? {})
  if (kept !== undefined && await answers(kept.endpoint)) return kept
  const tried = [given && `S3_ENDPOINT=${given.endpoint} does not answer`, kept && `${kept.endpoint} (from ${join(cephDir(), 'env')}) does not answer`].filter(Boolean)
  return `no S3 endpoint${tried.length > 0 ? ` (${tried.join('; ')})` : ''}: set S3_ENDPOINT, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or start Ceph RGW with scripts/ceph-up.sh`
}

/** A client that works with Ceph RGW as with AWS: path-style, checksums only where S3 requires them. */
export function s3Client (e: Pick<S3Endpoint, 'endpoint' | 'region'> & Partial<S3Endpoint>): S3Client {
  const credentials = e.accessKeyId !== undefined && e.secretAccessKey !== undefined
    ? { accessKeyId: e.accessKeyId, secretAccessKey: e.secretAccessKey }
    : undefined
  return new S3Client({
    endpoint: e.endpoint,
    region: e.region,
    credentials,
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  })
}

/** The bucket, created when missing. */
export async function ensureBucket (c: S3Client, name: string): Promise<string> {
  try {
    await c.send(new CreateBucketCommand({ Bucket: name }))
  } catch (err) {
    const n = (err as { name?: string }).name
    if (n !== 'BucketAlreadyOwnedByYou' && n !== 'BucketAlreadyExists') throw err
  }
  return name
}

/** A directory marker (`prefix/`, empty): what s3fs needs to mount a prefix, and an empty directory to the others. */
export async function putMarker (c: S3Client, bucket: string, prefix: string): Promise<void> {
  await c.send(new PutObjectCommand({ Bucket: bucket, Key: `${prefix}/`, Body: new Uint8Array(0) }))
}

export async function listKeys (c: S3Client, bucket: string, prefix: string): Promise<string[]> {
  const keys: string[] = []
  let token: string | undefined
  do {
    const page: ListObjectsV2CommandOutput = await c.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }))
    for (const o of page.Contents ?? []) if (o.Key !== undefined) keys.push(o.Key)
    token = page.IsTruncated === true ? page.NextContinuationToken : undefined
  } while (token !== undefined)
  return keys
}

/** Delete every key below a prefix, 32 at a time. */
export async function deletePrefix (c: S3Client, bucket: string, prefix: string): Promise<void> {
  const keys = await listKeys(c, bucket, prefix)
  for (let i = 0; i < keys.length; i += 32) {
    await Promise.all(keys.slice(i, i + 32).map(async Key => await c.send(new DeleteObjectCommand({ Bucket: bucket, Key }))))
  }
}
