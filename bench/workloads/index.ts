// Every workload the harness knows, by the name `--workloads` uses, in run order.
import { files } from './files.ts'
import { random } from './random.ts'
import { rsync } from './rsync.ts'
import { seq } from './seq.ts'
import { streams } from './streams.ts'
import { tools } from './tools.ts'
import type { Workload } from './types.ts'

export const workloads: Workload[] = [rsync, tools, seq, streams, files, random]
