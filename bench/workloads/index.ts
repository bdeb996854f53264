// Every workload the harness knows, by the name `--workloads` uses, in run order.
import { files } from './files.ts'
import { seq } from './seq.ts'
import type { Workload } from './types.ts'

export const workloads: Workload[] = [seq, files]
