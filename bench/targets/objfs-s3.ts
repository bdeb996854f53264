// objfs on its S3 store, over the same engine and bucket as rclone-s3 and
// s3fs: the subject of the S3 group. Credentials reach it through the AWS
// variables of its environment, the chain its README documents.
import { join } from 'node:path'
import { OBJFS_BIN } from './objfs.ts'
import { s3Target } from './s3.ts'

export const objfsS3 = s3Target({
  name: 'objfs-s3',
  // Staged files, the log and the keeper's state in the scratch directory.
  mountArgv: (s, at) => [OBJFS_BIN, 'mount', `s3://${at.bucket}/${at.prefix}`, s.mnt,
    '-o', `endpoint=${at.s3.endpoint},region=${at.s3.region},cache_dir=${join(s.root, 'cache')},state_dir=${join(s.root, 'state')},log_file=${join(s.root, 'objfs.log')}`],
  unmountArgv: (s) => [OBJFS_BIN, 'umount', s.mnt],
  mountEnv: (_s, at) => ({ AWS_ACCESS_KEY_ID: at.s3.accessKeyId, AWS_SECRET_ACCESS_KEY: at.s3.secretAccessKey, AWS_REGION: at.s3.region }),
})
