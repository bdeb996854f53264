// Every target the harness knows, by the name `--targets` uses, in the
// order the tables show them.
//
// Targets are data: a kernel filesystem (tmpfs) or a FuseSpec row (how to
// mount s.data on s.mnt, how to unmount, what to build first). S3 peers
// (objfs, rclone and s3fs on a bucket) are more FuseSpec rows whose
// `prepare` checks for an endpoint and creates a fresh bucket prefix, and
// whose mountArgv names that prefix instead of s.data.
import { bindfs } from './bindfs.ts'
import { objfs } from './objfs.ts'
import { passthroughLl } from './passthrough-ll.ts'
import { rclone } from './rclone.ts'
import { tmpfs } from './tmpfs.ts'
import type { Target } from './types.ts'

export const targets: Target[] = [tmpfs, bindfs, passthroughLl, rclone, objfs]
