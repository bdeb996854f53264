// What mount(8) runs for filesystems of type fuse.objfs (fstab lines,
// `mount -t fuse.objfs`), through /sbin/mount.fuse.objfs (`objfs install`):
//
//   mount.fuse.objfs SOURCE MOUNTPOINT [-sfnv] [-N NAMESPACE] [-o OPTIONS] [-t TYPE]
//
// mount(8) keeps x-*, noauto, comment and loop options to itself but hands
// over the rest, its own included (rw, _netdev, nofail, user, helper=...).
// The mount is made in the background like `objfs mount`, and this returns
// once it is live. Exit status as mount(8) documents for helpers: 1 for bad
// usage or options, 32 for a mount that failed.
import type { Argv, ArgumentsCamelCase } from 'yargs'
import { isKnownOption } from '../config.ts'
import { ConfigError } from '../errors.ts'
import { configOf, mountInBackground } from './mount.ts'

const NAME = 'mount.fuse.objfs'
const EXIT_USAGE = 1
const EXIT_FAILURE = 32

interface HelperArgs {
  source: string
  mountpoint: string
  o: string[]
  s: boolean
  f: boolean
  n: boolean
  v: boolean
  N: string | undefined
  t: string | undefined
}

export const command = 'mount-helper <source> <mountpoint>'
// Hidden: mount(8) calls it, people use `objfs mount`.
export const describe = false

export function builder (y: Argv): Argv<HelperArgs> {
  return y
    .positional('source', { type: 'string', demandOption: true })
    .positional('mountpoint', { type: 'string', demandOption: true })
    .option('o', { type: 'string', array: true, default: [] })
    .option('s', { type: 'boolean', default: false, describe: 'sloppy: drop options objfs does not know' })
    .option('f', { type: 'boolean', default: false, describe: 'fake: check everything, mount nothing' })
    .option('n', { type: 'boolean', default: false, describe: 'no mtab (objfs writes none anyway)' })
    .option('v', { type: 'boolean', default: false, describe: 'verbose' })
    .option('N', { type: 'string', describe: 'mount namespace (not supported)' })
    .option('t', { type: 'string', describe: 'type, fuse.objfs' }) as unknown as Argv<HelperArgs>
}

/** Options mount(8) passes that steer mount(8) or udisks, not the filesystem: never objfs's business. */
const mountOnly = new Set(['helper', 'uhelper'])

/**
 * The option list objfs gets: mount(8)'s own options removed; with -s
 * (sloppy) unknown options dropped too, each named through `note`.
 */
export function helperOptions (o: readonly string[], sloppy: boolean, note: (msg: string) => void): string[] {
  const kept: string[] = []
  for (const group of o) {
    for (const raw of group.split(',')) {
      const opt = raw.trim()
      if (opt === '') continue
      const name = opt.split('=', 1)[0]
      if (mountOnly.has(name)) continue
      if (sloppy && !isKnownOption(name)) {
        note(`ignoring unknown option '${opt}' (-s)`)
        continue
      }
      kept.push(opt)
    }
  }
  return kept.length === 0 ? [] : [kept.join(',')]
}

const oneLine = (err: unknown): string => (err instanceof Error ? err.message : String(err)).split('\n')[0]

function fail (status: number, err: unknown): void {
  process.stderr.write(`${NAME}: ${oneLine(err)}\n`)
  process.exitCode = status
}

export async function handler (argv: ArgumentsCamelCase<HelperArgs>): Promise<void> {
  const say = (msg: string): void => { if (argv.v) process.stderr.write(`${NAME}: ${msg}\n`) }
  let config, options
  try {
    if (argv.N !== undefined) throw new ConfigError('mounting in another namespace (-N) is not supported')
    if (argv.t !== undefined && argv.t !== 'fuse.objfs' && argv.t !== 'objfs') throw new ConfigError(`type ${argv.t} is not fuse.objfs`)
    options = helperOptions(argv.o, argv.s, say)
    config = configOf([argv.source, argv.mountpoint], options, false)
  } catch (err) {
    fail(EXIT_USAGE, err)
    return
  }
  if (argv.f) {
    say(`${config.source} on ${config.mountpoint}: options checked, not mounted (-f)`)
    return
  }
  try {
    const pid = await mountInBackground(config, options)
    say(`${config.source} mounted on ${config.mountpoint} (daemon pid ${pid})`)
  } catch (err) {
    // Options were checked above: whatever fails now is the mount itself.
    fail(EXIT_FAILURE, err)
  }
}
