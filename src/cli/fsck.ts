// objfs fsck SOURCE [--repair] [--force] [--json]: check a store, report what
// is wrong, fix it on request. Exit 0: clean; 1: problems found (repaired or
// not, as the report says); 2: bad input (not a store, a newer format, in use).
import type { Argv, ArgumentsCamelCase } from 'yargs'
import { ConfigError } from '../errors.ts'
import { fsck, type FsckReport } from '../store/local/fsck.ts'
import { parseSource } from '../store/registry.ts'

interface FsckArgs {
  source: string
  repair: boolean
  force: boolean
  json: boolean
}

export const command = 'fsck <source>'
export const describe = 'check a store for dangling entries, orphans, link counts and sizes vs blocks; --repair fixes them'

export function builder (y: Argv): Argv<FsckArgs> {
  return y
    .positional('source', { describe: 'the store: local:/path or a directory path', type: 'string', demandOption: true })
    .option('repair', { describe: 'fix what is found (good data is never touched)', type: 'boolean', default: false })
    .option('force', { describe: 'run even while a daemon has the store open (what it may be using is left alone)', type: 'boolean', default: false })
    .option('json', { describe: 'print the report as JSON', type: 'boolean', default: false })
    .example('$0 fsck /var/lib/objfs/data', 'check the default store')
    .example('$0 fsck local:/srv/store --repair', 'check and repair') as unknown as Argv<FsckArgs>
}

function print (r: FsckReport, repair: boolean): void {
  const out: string[] = [`checked ${r.dir}: ${r.objects} objects, ${r.entries} entries, ${r.blocks} blocks, ${r.blockFiles} data files (block size ${r.blockSize})`]
  if (r.live.length > 0) out.push(`in use by process ${r.live.join(', ')}: ${r.held} open orphans and the data files were left alone`)
  for (const f of r.findings) {
    const outcome = f.repaired === true ? ' [repaired]' : f.notRepaired !== undefined && repair ? ` [not repaired: ${f.notRepaired}]` : ''
    out.push(`${f.kind}: ${f.detail}${outcome}`)
  }
  const n = r.findings.length
  const fixed = r.findings.filter(f => f.repaired === true).length
  if (n === 0) out.push('clean')
  else if (!repair) out.push(`${n} problem${n === 1 ? '' : 's'} found; objfs fsck --repair fixes them`)
  else out.push(`${n} problem${n === 1 ? '' : 's'} found, ${fixed} repaired`)
  process.stdout.write(`${out.join('\n')}\n`)
}

export async function handler (argv: ArgumentsCamelCase<FsckArgs>): Promise<void> {
  const parsed = parseSource(argv.source)
  if (parsed.scheme !== 'local' || parsed.path === undefined) throw new ConfigError(`fsck checks the embedded store (local:/path); '${argv.source}' is not one`)
  const report = fsck(parsed.path, { repair: argv.repair, force: argv.force })
  if (argv.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`)
  else print(report, argv.repair)
  process.exitCode = report.findings.length === 0 ? 0 : 1
}
