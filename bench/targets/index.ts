// Every target the harness knows, by the name `--targets` uses, in the
// order the tables show them.
//
// Targets are data: a kernel filesystem (tmpfs) or a FuseSpec row (how to
// mount s.data on s.mnt, how to unmount, what to build first). The S3
// group (objfs, rclone and s3fs on one bucket) are s3Target rows: their
// `prepare` finds the endpoint and the bucket, and each mount gets a fresh
// prefix instead of s.data.
import { bindfs } from './bindfs.ts'
import { objfs } from './objfs.ts'
import { objfsS3 } from './objfs-s3.ts'
import { passthroughLl } from './passthrough-ll.ts'
import { rclone } from './rclone.ts'
import { rcloneS3 } from './rclone-s3.ts'
import { s3fs } from './s3fs.ts'
import { tmpfs } from './tmpfs.ts'
import type { Target, TargetGroup } from './types.ts'

export const targets: Target[] = [tmpfs, bindfs, passthroughLl, rclone, objfs, s3fs, rcloneS3, objfsS3]

/** Each group's subject: the objfs its peers are compared with. */
export const SUBJECTS: Record<TargetGroup, string> = { local: 'objfs', s3: 'objfs-s3' }
