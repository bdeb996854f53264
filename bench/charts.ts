// One SVG chart per workload family, next to the run's JSON: a vega-lite
// spec of the Summary, compiled to vega and rendered headless (no browser,
// no canvas) by a vega View's toSVG.
import { writeFileSync } from 'node:fs'
import * as vega from 'vega'
import { compile, type TopLevelSpec } from 'vega-lite'
import type { RunRecord } from './results.ts'
import type { Cell, StepSummary, Summary } from './summary.ts'
import { formatMiB, RATE_LABEL, rateValue } from './units.ts'

interface Bar {
  step: string
  target: string
  value: number
  label: string
  invalid: boolean
}

interface Metric {
  title: string
  value: (c: Cell, st: StepSummary) => number | undefined
}

// Tool runs (rsync, git, tar) read as time taken; rates where the unit is
// throughput (MiB/s, ops/s, IOPS).
function metricOf (steps: StepSummary[]): Metric {
  if (steps.every((st) => st.unit === 'files')) return { title: 'seconds (lower is better)', value: (c) => c.seconds }
  const units = [...new Set(steps.map((st) => RATE_LABEL[st.unit]))].join(', ')
  return { title: `${units} (higher is better)`, value: (c, st) => (c.rate === undefined ? undefined : rateValue(st.unit, c.rate)) }
}

/** What each family's chart shows, in a line under its title. */
function caption (family: string, r: RunRecord): string | undefined {
  const { tree, repo } = r.fixtures
  const sz = r.options.sizes
  const files = (n: number): string => n.toLocaleString('en-US')
  const treeText = tree === undefined ? 'the tree' : `a tree of ${files(tree.files)} files (${formatMiB(tree.bytes)}, ${files(tree.dirs)} directories)`
  switch (family) {
    case 'rsync': return `rsync -a of ${treeText}: into the target by 1, 2, 4, 8 processes; again, unchanged; out of it, cold`
    case 'tools': return `git clone of ${repo === undefined ? 'a repository' : `${repo.commits} commits, ${files(repo.files)} files`}; tar -x, cp -a, rm -rf of ${treeText}`
    case 'seq': return `fio, 1 MiB blocks: write (with fsync) and cold read of a ${formatMiB(sz.fileBytes)} file; cold read of four files of a quarter of that, by four readers at once`
    case 'meta': return `create, cold stat, unlink of ${files(sz.fileCount)} empty files in one directory`
    case 'random': return `fio, 4 KiB random reads of a ${formatMiB(sz.fileBytes)} file for ${sz.randomSeconds} s, cold cache`
    default: return undefined
  }
}

const short = (v: number): string => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toPrecision(2))
const clip = (s: string, n: number): string => (s.length <= n ? s : s.slice(0, n - 1) + '…')

function specOf (family: string, steps: StepSummary[], s: Summary, r: RunRecord): TopLevelSpec {
  const metric = metricOf(steps)
  const bars: Bar[] = []
  const absent = new Map<string, string>()
  for (const st of steps) {
    for (const c of st.cells) {
      const v = c.status === 'ok' ? metric.value(c, st) : undefined
      if (v === undefined) {
        absent.set(c.target, `${c.target}: ${c.status === 'missing' ? 'no figures' : c.status.replace('-', ' ')}${c.reason === undefined ? '' : ` (${clip(c.reason, 70)})`}`)
        continue
      }
      bars.push({ step: st.step, target: c.target, value: v, label: short(v), invalid: c.invalid !== undefined })
    }
  }
  const targets = s.targets.map((t) => t.name)
  const invalid = bars.filter((b) => b.invalid).map((b) => `${b.step} on ${b.target}`)
  const subtitle = [
    caption(family, r) ?? '',
    `${s.repeats === 1 ? 'one run each' : `median of ${s.repeats} runs`}${r.options.quick ? ' (--quick)' : ''}; ${r.host.cpus} CPUs, ${r.startedAt.slice(0, 16)}Z`,
    ...[...absent.values()],
    ...(invalid.length > 0 ? [`invalid (pale): ${invalid.join(', ')}`] : []),
  ]
  const x = { field: 'step', type: 'nominal', sort: steps.map((st) => st.step), title: null, axis: { labelAngle: 0 } } as const
  const xOffset = { field: 'target', type: 'nominal', sort: targets } as const
  // tmpfs runs 10-100x ahead of any FUSE target: on a linear axis the FUSE
  // bars, the ones worth comparing, would be slivers.
  const values = bars.map((b) => b.value).filter((v) => v > 0)
  const log = values.length > 0 && Math.max(...values) / Math.min(...values) > 30
  const floor = log ? 10 ** Math.floor(Math.log10(Math.min(...values))) : 0
  const scale = log ? { type: 'log', domain: [floor, 10 ** Math.ceil(Math.log10(Math.max(...values)))] } : { type: 'linear' }
  const y = { field: 'value', type: 'quantitative', title: `${metric.title}${log ? ', log scale' : ''}`, scale } as const
  // Bars on a log axis start from the axis floor, not from 0 (which it lacks).
  const base = log ? { y2: { datum: floor } } : {}
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: `${family}`, subtitle, anchor: 'start', subtitleFontSize: 10 },
    data: { values: bars },
    width: Math.max(240, steps.length * (targets.length * 18 + 24)),
    height: 260,
    layer: [
      {
        mark: { type: 'bar' },
        encoding: {
          x, xOffset, y, ...base,
          color: { field: 'target', type: 'nominal', sort: targets, title: 'target' },
          opacity: { condition: { test: 'datum.invalid', value: 0.3 }, value: 1 },
        },
      },
      {
        mark: { type: 'text', angle: 270, align: 'left', baseline: 'middle', dx: 3, fontSize: 9 },
        encoding: { x, xOffset, y, text: { field: 'label', type: 'nominal' } },
      },
    ],
    config: { font: 'sans-serif', background: 'white' },
  } as TopLevelSpec
}

async function render (spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' })
  try {
    return await view.toSVG()
  } finally {
    view.finalize()
  }
}

/** Writes `<base>-<family>.svg` for every family with steps; returns the paths written. */
export async function writeCharts (s: Summary, r: RunRecord, base: string): Promise<string[]> {
  const families = [...new Set(s.steps.map((st) => st.family))]
  const written: string[] = []
  for (const family of families) {
    const steps = s.steps.filter((st) => st.family === family)
    const path = `${base}-${family}.svg`
    writeFileSync(path, await render(specOf(family, steps, s, r)))
    written.push(path)
  }
  return written
}
