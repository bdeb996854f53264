// Every target the harness knows, by the name `--targets` uses.
import { bindfs } from './bindfs.ts'
import { objfs } from './objfs.ts'
import { tmpfs } from './tmpfs.ts'
import type { Target } from './types.ts'

export const targets: Target[] = [tmpfs, bindfs, objfs]
