// The S3 targets' shared shape: each mounts a fresh prefix of one bucket
// on the same S3 engine (found by s3-endpoint.ts), named after its scratch
// directory, so runs and remounts never see each other's keys; the prefix
// is deleted once the target is unmounted.
import { basename } from 'node:path'
import type { S3Client } from '@aws-sdk/client-s3'
import { fuseTarget, type FuseSpec } from './fuse.ts'
import { deletePrefix, ensureBucket, findS3Endpoint, putMarker, s3Client, type S3Endpoint } from './s3-endpoint.ts'
import type { Scratch } from './scratch.ts'
import { NotRunnable, type Target, type TargetEnv } from './types.ts'

/** Where one mount keeps its files. */
export interface S3Place {
  s3: S3Endpoint
  bucket: string
  prefix: string
}

export interface S3Spec {
  name: string
  mountArgv: (s: Scratch, at: S3Place) => string[]
  unmountArgv: (s: Scratch) => string[]
  /** Variables the mount command needs besides the harness's own (credentials); undefined leaves one out. */
  mountEnv?: (s: Scratch, at: S3Place) => NodeJS.ProcessEnv
  /** Files the mount command reads (a password file), written into the scratch dir before it runs. */
  beforeMount?: (s: Scratch, at: S3Place) => void
}

const prefixOf = (s: Scratch): string => basename(s.root)

export function s3Target (spec: S3Spec): Target {
  let found: { s3: S3Endpoint, client: S3Client } | undefined
  let bucket = ''
  const place = (s: Scratch): S3Place => {
    if (found === undefined) throw new Error(`${spec.name}: mounted before its endpoint was found`)
    return { s3: found.s3, bucket, prefix: prefixOf(s) }
  }
  const fuse: FuseSpec = {
    name: spec.name,
    group: 's3',
    async prepare (env: TargetEnv) {
      const s3 = await findS3Endpoint()
      if (typeof s3 === 'string') throw new NotRunnable(s3)
      const client = found?.s3.endpoint === s3.endpoint ? found.client : s3Client(s3)
      try {
        bucket = await ensureBucket(client, env.s3Bucket)
      } catch (err) {
        throw new NotRunnable(`bucket ${env.s3Bucket} at ${s3.endpoint}: ${(err as Error).message}`)
      }
      found = { s3, client }
    },
    async beforeMount (s) {
      const at = place(s)
      // s3fs mounts only a prefix that exists; to the others it is the empty root.
      await putMarker(found!.client, at.bucket, at.prefix)
      spec.beforeMount?.(s, at)
    },
    mountArgv: (s) => spec.mountArgv(s, place(s)),
    unmountArgv: spec.unmountArgv,
    mountEnv: (s) => ({ ...process.env, ...spec.mountEnv?.(s, place(s)) }),
    async afterUnmount (s, log) {
      if (found === undefined) return
      try {
        await deletePrefix(found.client, bucket, `${prefixOf(s)}/`)
      } catch (err) {
        log(`${spec.name}: could not delete s3://${bucket}/${prefixOf(s)}/: ${(err as Error).message}`)
      }
    },
  }
  // s3fs makes several requests a file, each a few ms on loopback Ceph.
  return { ...fuseTarget(fuse), timeoutScale: 10 }
}
