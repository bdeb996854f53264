// How each unit reads as a rate, in the progress lines, the tables and the charts.
import type { Unit } from './workloads/types.ts'

const MiB = 1024 * 1024

export const RATE_LABEL: Record<Unit, string> = {
  bytes: 'MiB/s',
  ops: 'ops/s',
  files: 'files/s',
  ios: 'IOPS',
}

/** Rate per second in the unit people read: MiB/s for bytes, plain counts otherwise. */
export const rateValue = (unit: Unit, perSecond: number): number => (unit === 'bytes' ? perSecond / MiB : perSecond)

export function formatRate (unit: Unit, perSecond: number): string {
  const v = rateValue(unit, perSecond)
  return `${unit === 'bytes' ? v.toFixed(1) : Math.round(v)} ${RATE_LABEL[unit]}`
}

export const formatMiB = (bytes: number): string => `${(bytes / MiB).toFixed(0)} MiB`
