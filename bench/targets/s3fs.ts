// s3fs-fuse (Debian's s3fs) on the same bucket: the long-standing FUSE
// client for S3, with its defaults (no local data cache; a file is uploaded
// when it is flushed). The keys go into a password file in the scratch
// directory, mode 0600 as s3fs demands.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { s3Target } from './s3.ts'

export const s3fs = s3Target({
  name: 's3fs',
  beforeMount: (s, at) => {
    writeFileSync(join(s.root, 'passwd'), `${at.s3.accessKeyId}:${at.s3.secretAccessKey}\n`, { mode: 0o600 })
  },
  // Daemonizes once the mount is live. endpoint= is the signing region.
  mountArgv: (s, at) => ['s3fs', `${at.bucket}:/${at.prefix}`, s.mnt,
    '-o', `url=${at.s3.endpoint},use_path_request_style,endpoint=${at.s3.region},passwd_file=${join(s.root, 'passwd')}`],
  unmountArgv: (s) => ['fusermount3', '-u', s.mnt],
})
