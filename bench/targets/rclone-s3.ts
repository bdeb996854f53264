// rclone mount of the bucket with its VFS write cache, as a user would mount
// S3 today: files are written to the local cache and uploaded after close
// (--vfs-write-back, 5 s by default), so a timed step can end before its
// uploads do. The remote is defined by RCLONE_CONFIG_* variables, so the
// keys stay out of argv and no rclone.conf is read.
import { rcloneMountArgv } from './rclone.ts'
import { s3Target } from './s3.ts'

const REMOTE = 'objfsbench'
const VAR = `RCLONE_CONFIG_${REMOTE.toUpperCase()}_`

export const rcloneS3 = s3Target({
  name: 'rclone-s3',
  mountArgv: (s, at) => rcloneMountArgv(`${REMOTE}:${at.bucket}/${at.prefix}`, s),
  unmountArgv: (s) => ['fusermount3', '-u', s.mnt],
  mountEnv: (_s, at) => ({
    [`${VAR}TYPE`]: 's3',
    [`${VAR}PROVIDER`]: 'Ceph',
    [`${VAR}ENDPOINT`]: at.s3.endpoint,
    [`${VAR}REGION`]: at.s3.region,
    [`${VAR}ACCESS_KEY_ID`]: at.s3.accessKeyId,
    [`${VAR}SECRET_ACCESS_KEY`]: at.s3.secretAccessKey,
    // rclone 1.60 (Debian) fails to start with any AWS_CA_BUNDLE set
    // ("unsupported transport"), even for a plain-HTTP endpoint.
    AWS_CA_BUNDLE: undefined,
  }),
})
