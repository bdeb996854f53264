// Measure one objfs mount option at several values: `npm run bench:sweep --
// --set workers=1,2,4 --rounds 2 --quick --workloads seq,rsync`.
//
// Each value is a whole `npm run bench` of objfs alone with `-o NAME=VALUE`
// (plus any --objfs-opts), and the values take turns, round after round, so
// that the machine's drift over minutes falls on all of them alike. The
// figure per step and value is the median over rounds of each run's median.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { table } from './report.ts'
import type { RunRecord } from './results.ts'
import { median } from './summary.ts'
import { formatRate } from './units.ts'

export interface Setting { name: string, values: string[] }

/** `name=v1,v2,...`; a bare `name` (a flag) is swept as off and on. */
export function parseSetting (text: string): Setting {
  const eq = text.indexOf('=')
  if (eq < 0) return { name: text, values: ['', text] }
  const name = text.slice(0, eq)
  const values = text.slice(eq + 1).split(',').map(v => v.trim()).filter(v => v !== '')
  if (!/^[a-z_]+$/.test(name) || values.length < 2) throw new Error(`--set takes NAME=V1,V2[,...] or a flag NAME, not '${text}'`)
  return { name, values }
}

/** The -o string of one value ('' for a flag swept off). */
export const optionOf = (s: Setting, value: string): string =>
  value === '' ? '' : value === s.name ? s.name : `${s.name}=${value}`

export interface SweepRow { step: string, unit: string, seconds: Array<number | undefined>, cpu: Array<number | undefined> }

/**
 * Per step, per value: the median over rounds of objfs's per-run median
 * seconds and daemon CPU. Steps of a fixed time (random reads) count reads
 * instead: their `seconds` are then the median reads per second.
 */
export function sweepTable (runs: Array<{ value: number, record: RunRecord }>, valueCount: number): SweepRow[] {
  const rows = new Map<string, { unit: string, seconds: number[][], cpu: number[][] }>()
  for (const { value, record } of runs) {
    const byStep = new Map<string, typeof record.samples>()
    for (const s of record.samples) {
      if (s.target !== 'objfs' || s.invalid !== undefined) continue
      const list = byStep.get(s.step) ?? []
      list.push(s)
      byStep.set(s.step, list)
    }
    for (const [step, samples] of byStep) {
      const row = rows.get(step) ?? { unit: samples[0].unit, seconds: Array.from({ length: valueCount }, () => []), cpu: Array.from({ length: valueCount }, () => []) }
      row.seconds[value].push(median(samples.map(s => s.unit === 'ios' ? s.amount / s.seconds : s.seconds)))
      const cpu = samples.map(s => s.daemonCpuSeconds).filter((c): c is number => c !== null)
      if (cpu.length > 0) row.cpu[value].push(median(cpu))
      rows.set(step, row)
    }
  }
  return [...rows].map(([step, r]) => ({
    step,
    unit: r.unit,
    seconds: r.seconds.map(xs => xs.length > 0 ? median(xs) : undefined),
    cpu: r.cpu.map(xs => xs.length > 0 ? median(xs) : undefined),
  }))
}

export function renderSweep (s: Setting, rows: SweepRow[]): string {
  const labels = s.values.map(v => optionOf(s, v) === '' ? 'default' : optionOf(s, v))
  const figure = (r: SweepRow, x: number): string => r.unit === 'ios' ? formatRate('ios', x) : x.toFixed(3)
  const body = rows.map(r => [r.step, ...r.seconds.map((x, i) => x === undefined ? '-' : `${figure(r, x)} (${r.cpu[i]?.toFixed(2) ?? '-'})`)])
  return table(['step', ...labels.map(l => `${l} s (cpu)`)], body, 'l' + 'r'.repeat(labels.length)) + '\n'
}

export interface SweepArgs { setting: Setting, rounds: number, extra: string, rest: string[] }

/**
 * The sweep's own options; everything else goes to each `npm run bench`
 * unchanged, in order. Undefined when --set is missing (usage).
 */
export function parseSweepArgs (argv: string[]): SweepArgs | undefined {
  const { values, tokens } = parseArgs({
    args: argv,
    // Not strict: the bench's options pass through, to be checked by the bench.
    strict: false,
    allowPositionals: true,
    tokens: true,
    options: { set: { type: 'string' }, rounds: { type: 'string' }, 'objfs-opts': { type: 'string' } },
  })
  const rest: string[] = []
  for (const tk of tokens) {
    if (tk.kind === 'positional') rest.push(tk.value)
    else if (tk.kind === 'option-terminator') rest.push('--')
    else if (tk.name === 'targets' || tk.name === 'json') throw new Error(`--${tk.name} is the sweep's own: it runs objfs alone`)
    else if (tk.name !== 'set' && tk.name !== 'rounds' && tk.name !== 'objfs-opts') rest.push(tk.inlineValue === true ? `${tk.rawName}=${tk.value ?? ''}` : tk.rawName)
  }
  if (typeof values.set !== 'string') return undefined
  const rounds = values.rounds === undefined ? 2 : Number(values.rounds)
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds takes a whole number of at least 1, not '${String(values.rounds)}'`)
  const extra = typeof values['objfs-opts'] === 'string' ? values['objfs-opts'] : ''
  return { setting: parseSetting(values.set), rounds, extra, rest }
}

function main (argv: string[]): number {
  const args = parseSweepArgs(argv)
  if (args === undefined) {
    process.stderr.write('usage: npm run bench:sweep -- --set NAME=V1,V2[,...] [--rounds N] [--objfs-opts OPTS] [bench options]\n')
    return 2
  }
  const { setting, rounds, extra, rest } = args
  const dir = mkdtempSync(join(tmpdir(), 'objfs-sweep-'))
  const runBench = fileURLToPath(new URL('./run.ts', import.meta.url))
  const runs: Array<{ value: number, record: RunRecord }> = []
  try {
    for (let round = 1; round <= rounds; round++) {
      setting.values.forEach((value, i) => {
        const opts = [extra, optionOf(setting, value)].filter(o => o !== '').join(',')
        const json = join(dir, `${round}-${i}.json`)
        process.stderr.write(`[sweep] round ${round}/${rounds}: -o ${opts === '' ? '(none)' : opts}\n`)
        execFileSync(process.execPath, [runBench, '--targets', 'objfs', '--json', json, ...(opts === '' ? [] : ['--objfs-opts', opts]), ...rest], { stdio: ['ignore', 'ignore', 'inherit'] })
        runs.push({ value: i, record: JSON.parse(readFileSync(json, 'utf8')) as RunRecord })
      })
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
  process.stdout.write(`objfs, -o ${setting.name}: median over ${rounds} interleaved rounds of each run's median seconds, or IOPS (daemon CPU s)\n`)
  process.stdout.write(renderSweep(setting, sweepTable(runs, setting.values.length)))
  return 0
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    process.exitCode = main(process.argv.slice(2))
  } catch (err) {
    process.stderr.write(`[sweep] ${(err as Error).message}\n`)
    process.exitCode = 2
  }
}
