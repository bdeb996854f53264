// The S3 mount tier's common setup: the test bucket (the tier skipped when
// there is no S3 engine or no mounting here), and mounts of a fresh prefix
// of it that is deleted afterwards.
import type { S3Client } from '@aws-sdk/client-s3'
import type { Test } from 'tap'
import { client, deletePrefix, s3Tier, testBucket, uniquePrefix, type S3Env } from '../s3-env.ts'
import { mountObjfs, mountTier, type Mount } from './harness.ts'

export interface S3Mounts {
  env: S3Env
  c: S3Client
  bucket: string
  /** Mount s3://bucket/<a fresh prefix named after `what`> with the engine's endpoint and `options`. */
  mountPrefix: (t: Test, what: string, options?: string[]) => Promise<{ m: Mount, prefix: string }>
}

export async function s3Mounts (t: Test): Promise<S3Mounts | undefined> {
  const env = mountTier(t) ? await s3Tier(t) : undefined
  if (env === undefined) return undefined
  const c = client(env)
  const bucket = await testBucket(c)
  t.teardown(() => { c.destroy() })
  const mountPrefix = async (t: Test, what: string, options: string[] = []): Promise<{ m: Mount, prefix: string }> => {
    const prefix = uniquePrefix(what)
    t.teardown(async () => { await deletePrefix(c, bucket, `${prefix}/`) })
    const m = await mountObjfs(t, { source: `s3://${bucket}/${prefix}`, options: [`endpoint=${env.endpoint}`, ...options] })
    return { m, prefix }
  }
  return { env, c, bucket, mountPrefix }
}
