// The S3 store's -o options, parsed once. Secrets are not options: keys
// come from the AWS credential chain (environment, ~/.aws, profiles), so
// nothing secret ever reaches a command line, `ps` or a log.
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseSize } from '../../config.ts'
import { ConfigError } from '../../errors.ts'

export interface S3Options {
  /** Custom endpoint (Ceph, MinIO, LocalStack); implies path-style addressing. */
  endpoint: string | undefined
  region: string | undefined
  profile: string | undefined
  /** Owner and modes of objects that carry no x-amz-meta-* attributes. */
  uid: number
  gid: number
  fileMode: number
  dirMode: number
  /** Seconds the store trusts what it learnt of a name from the server (changes by other clients show up after this). */
  metadataTtlMs: number
  /** Where files being written are staged until they are uploaded. */
  cacheDir: string
  /** Milliseconds between the last close of a written file and its upload (a rename in between moves it for free). */
  commitDelayMs: number
  /** Bytes of each of the first 1000 parts of a multipart upload (parts.ts); at least 5 MiB. */
  partSize: number | undefined
  /** A file written here starts uploading parts while it is still being written once it is this large (stream.ts). */
  streamThreshold: number
  /** Bytes of parts ready to upload but not uploaded yet, all files together; a writer waits above it (stream.ts). */
  uploadBuffer: number
}

const MiB = 1024 * 1024

const octal = (v: string, what: string): number => {
  if (!/^[0-7]{1,4}$/.test(v)) throw new ConfigError(`${what}: '${v}' is not an octal mode (e.g. 0644)`)
  return parseInt(v, 8)
}

const count = (v: string, what: string): number => {
  const n = Number(v)
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new ConfigError(`${what}: '${v}' is not a number`)
  return n
}

const seconds = (v: string, what: string): number => {
  const n = Number(v)
  if (v === '' || !Number.isFinite(n) || n < 0) throw new ConfigError(`${what}: '${v}' is not a number of seconds`)
  return n
}

export function parseS3Options (o: Record<string, string>): S3Options {
  const umask = o.umask === undefined ? 0o022 : octal(o.umask, 'umask')
  const endpoint = o.endpoint
  if (endpoint !== undefined && !/^https?:\/\/[^/]+/.test(endpoint)) throw new ConfigError(`endpoint: '${endpoint}' must be an http:// or https:// URL`)
  return {
    endpoint,
    region: o.region,
    profile: o.profile,
    uid: o.uid === undefined ? process.getuid?.() ?? 0 : count(o.uid, 'uid'),
    gid: o.gid === undefined ? process.getgid?.() ?? 0 : count(o.gid, 'gid'),
    fileMode: o.file_mode === undefined ? 0o666 & ~umask : octal(o.file_mode, 'file_mode'),
    dirMode: o.dir_mode === undefined ? 0o777 & ~umask : octal(o.dir_mode, 'dir_mode'),
    metadataTtlMs: 1000 * (o.metadata_ttl === undefined ? 1 : seconds(o.metadata_ttl, 'metadata_ttl')),
    cacheDir: o.cache_dir ?? join(tmpdir(), 'objfs-s3'),
    commitDelayMs: 1000 * (o.commit_delay === undefined ? 1 : seconds(o.commit_delay, 'commit_delay')),
    partSize: o.part_size === undefined ? undefined : parseSize(o.part_size, 'part_size'),
    streamThreshold: o.stream_threshold === undefined ? 64 * MiB : parseSize(o.stream_threshold, 'stream_threshold'),
    uploadBuffer: o.upload_buffer === undefined ? 256 * MiB : parseSize(o.upload_buffer, 'upload_buffer'),
  }
}
