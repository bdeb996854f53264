// Milliseconds as the seconds and nanoseconds that FUSE attributes and the
// stores carry.
import type { Timespec } from './store/types.ts'

export const timespecOf = (ms: number): Timespec => ({ sec: Math.floor(ms / 1000), nsec: (ms % 1000) * 1e6 })

export const nowTimespec = (): Timespec => timespecOf(Date.now())
