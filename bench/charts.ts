// One SVG chart per workload family, next to the run's JSON: a vega-lite
// spec of the Summary, compiled to vega and rendered headless (no browser,
// no canvas) by a vega View's toSVG.
import { writeFileSync } from 'node:fs'
import * as vega from 'vega'
import { compile, type TopLevelSpec } from 'vega-lite'
import type { Cell, StepSummary, Summary } from './summary.ts'
import { RATE_LABEL, rateValue } from './units.ts'

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

const short = (v: number): string => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toPrecision(2))
const clip = (s: string, n: number): string => (s.length <= n ? s : s.slice(0, n - 1) + '…')

function specOf (family: string, steps: StepSummary[], s: Summary): TopLevelSpec {
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
    s.repeats === 1 ? 'one run each' : `median of ${s.repeats} runs`,
    ...[...absent.values()],
    ...(invalid.length > 0 ? [`invalid (pale): ${invalid.join(', ')}`] : []),
  ]
  const x = { field: 'step', type: 'nominal', sort: steps.map((st) => st.step), title: null, axis: { labelAngle: 0 } } as const
  const xOffset = { field: 'target', type: 'nominal', sort: targets } as const
  const y = { field: 'value', type: 'quantitative', title: metric.title } as const
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
          x, xOffset, y,
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
export async function writeCharts (s: Summary, base: string): Promise<string[]> {
  const families = [...new Set(s.steps.map((st) => st.family))]
  const written: string[] = []
  for (const family of families) {
    const steps = s.steps.filter((st) => st.family === family)
    const path = `${base}-${family}.svg`
    writeFileSync(path, await render(specOf(family, steps, s)))
    written.push(path)
  }
  return written
}
