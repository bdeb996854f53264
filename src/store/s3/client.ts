// The S3 client, configured once per store: credentials from the standard
// AWS chain, path-style addressing for custom endpoints, the checksum
// settings Ceph RGW needs, bounded timeouts and the SDK's retry strategy
// (exponential backoff, throttling included). Every S3 failure becomes an
// errno in s3Errno, the store's one mapping.
import { HeadBucketCommand, S3Client } from '@aws-sdk/client-s3'
import { ConfigError, FsError, errno as E } from '../../errors.ts'
import type { S3Options } from './options.ts'

/** Requests made against the backend, by S3 operation, and the bytes moved. */
export interface BackendCounters {
  requests: number
  byOperation: Record<string, number>
  /** Bytes of object data received (GET bodies). */
  bytesFetched: number
  /** Bytes of object data sent (PUT and UploadPart bodies). */
  bytesUploaded: number
  /** Commits: objects written back (PUT or multipart). */
  commits: number
  /** Parts uploaded while their file was still being written (stream.ts). */
  partsAhead: number
  /** Most bytes of parts queued or uploading ahead at once, all files (bounded by upload_buffer). */
  uploadBacklogPeak: number
  /** Bytes of part bodies in memory for uploads ahead, now and at most. */
  uploadMemory: number
  uploadMemoryPeak: number
  /** Watched files checked with a HEAD because the kernel may still hold them (stale.ts), and changes by others noticed. */
  staleChecks: number
  staleNoticed: number
}

export const newBackendCounters = (): BackendCounters => ({
  requests: 0, byOperation: {}, bytesFetched: 0, bytesUploaded: 0, commits: 0, partsAhead: 0, uploadBacklogPeak: 0, uploadMemory: 0, uploadMemoryPeak: 0, staleChecks: 0, staleNoticed: 0,
})

export function makeClient (o: S3Options, counters: BackendCounters): S3Client {
  const client = new S3Client({
    endpoint: o.endpoint,
    // Ceph, MinIO and LocalStack serve buckets as paths, not host names.
    forcePathStyle: o.endpoint !== undefined,
    region: o.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
    followRegionRedirects: true,
    profile: o.profile,
    // The SDK's default sends streamed bodies aws-chunked with flexible
    // checksums, which Ceph RGW answers 411; checksum only when required.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    // Standard retry: exponential backoff with jitter, throttling (SlowDown,
    // 503) and network errors included. Five attempts are ~10 s of trying.
    maxAttempts: 5,
    requestHandler: {
      connectionTimeout: 5000,
      // An idle socket for this long is a dead one: the attempt fails and is retried.
      requestTimeout: 30_000,
      httpAgent: { keepAlive: true, maxSockets: 64 },
      httpsAgent: { keepAlive: true, maxSockets: 64 },
    },
  })
  client.middlewareStack.add((next, context) => async args => {
    counters.requests++
    const op = (context.commandName ?? 'unknown').replace(/Command$/, '')
    counters.byOperation[op] = (counters.byOperation[op] ?? 0) + 1
    return await next(args)
  }, { step: 'initialize', name: 'objfsRequestCounter' })
  return client
}

/** ETags in one spelling: Ceph answers CopyObject with an unquoted one, everything else quotes. */
export function quoteEtag (etag: string | undefined): string | undefined {
  if (etag === undefined || etag === '' || etag === '""') return undefined
  return etag.startsWith('"') ? etag : `"${etag}"`
}

interface SdkError {
  name?: string
  code?: string
  message?: string
  $metadata?: { httpStatusCode?: number }
}

const statusOf = (err: unknown): number | undefined => (err as SdkError)?.$metadata?.httpStatusCode

export function isNotFound (err: unknown): boolean {
  const name = (err as SdkError)?.name
  return name === 'NoSuchKey' || name === 'NotFound' || statusOf(err) === 404
}

export const isPreconditionFailed = (err: unknown): boolean =>
  (err as SdkError)?.name === 'PreconditionFailed' || statusOf(err) === 412

/**
 * The errno for an S3 failure. Throttling and network faults arrive here
 * only after the SDK's retries are spent: then the caller sees EIO and the
 * daemon keeps serving.
 */
export function s3Errno (err: unknown): number {
  if (err instanceof FsError) return err.errno
  const e = (err ?? {}) as SdkError
  switch (e.name) {
    case 'NoSuchKey': case 'NotFound': case 'NoSuchBucket': case 'NoSuchUpload': return E.ENOENT
    case 'AccessDenied': case 'Forbidden': case 'InvalidAccessKeyId': case 'SignatureDoesNotMatch': case 'AllAccessDisabled': return E.EACCES
    // A single object above 5 TiB, or a part count S3 refuses.
    case 'EntityTooLarge': return E.EFBIG
    case 'MetadataTooLarge': return E.E2BIG
    case 'KeyTooLongError': return E.ENAMETOOLONG
    case 'QuotaExceeded': return E.EDQUOT
    case 'AbortError': return E.EINTR
  }
  switch (statusOf(err)) {
    case 404: return E.ENOENT
    case 403: return E.EACCES
  }
  return E.EIO
}

/** Rethrow an S3 failure as FsError with its errno, keeping the S3 reason in the message. */
export function asFsError (err: unknown): FsError {
  if (err instanceof FsError) return err
  const e = (err ?? {}) as SdkError
  return new FsError(s3Errno(err), `${e.name ?? 'Error'}: ${e.message ?? String(err)}`)
}

/**
 * Open-time check (HeadBucket): a missing bucket, refused credentials or an
 * endpoint that does not answer become one line for the user before
 * anything is mounted.
 */
export async function verifyBucket (client: S3Client, bucket: string, where: string): Promise<void> {
  try {
    await client.send(new HeadBucketCommand({ Bucket: bucket }), { abortSignal: AbortSignal.timeout(30_000) })
  } catch (err) {
    const e = (err ?? {}) as SdkError
    const status = statusOf(err)
    if (status === 404 || e.name === 'NotFound' || e.name === 'NoSuchBucket') throw new ConfigError(`bucket '${bucket}' does not exist at ${where}`)
    if (status === 403 || status === 401 || s3Errno(err) === E.EACCES) throw new ConfigError(`access to bucket '${bucket}' at ${where} was denied: check the credentials (AWS_ACCESS_KEY_ID/AWS_PROFILE)`)
    if (e.name === 'CredentialsProviderError') throw new ConfigError(`no AWS credentials found for ${where} (environment, ~/.aws/credentials or profile=)`)
    const why = (e.message ?? String(err)).split('\n')[0]
    throw new ConfigError(`cannot reach S3 at ${where}: ${e.name === 'TimeoutError' || e.name === 'AbortError' ? 'no answer within 30 s' : why}`)
  }
}
