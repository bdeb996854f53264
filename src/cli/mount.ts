// objfs mount [SOURCE] MOUNTPOINT [-o opt[,opt...]] [-f]
import { statSync } from 'node:fs'
import { resolve } from 'node:path'
import type { Argv, ArgumentsCamelCase } from 'yargs'
import { applyOptions, defaults, type Config } from '../config.ts'
import { ConfigError } from '../errors.ts'
import { parseSource } from '../store/registry.ts'
import { findMount, forceUnmount, resolveMountpoint } from '../channel/unmount.ts'
import { reportReadiness, spawnDaemon } from './daemon-proc.ts'
import { notifyReady } from './sd-notify.ts'
import { defaultLogFile } from '../keeper/state.ts'

export const DEFAULT_SOURCE = 'local:/var/lib/objfs/data'

interface MountArgs {
  args: string[]
  o: string[]
  foreground: boolean
}

export const command = 'mount <args..>'
export const describe = 'mount a store: objfs mount [SOURCE] MOUNTPOINT (SOURCE defaults to ' + DEFAULT_SOURCE + ')'

export function builder (y: Argv): Argv<MountArgs> {
  return y
    .positional('args', { describe: '[SOURCE] MOUNTPOINT; SOURCE is local:/path, a directory path, or s3://bucket[/prefix]', type: 'string', array: true })
    .option('o', { describe: 'mount options, comma-separated (mount(8) style): ro, allow_other, acl (POSIX ACLs), block_size=4M, entry_timeout=1, attr_timeout=1, negative_timeout=1, writeback_cache, no_readdirplus, no_keep_cache, dirty_limit=256M, workers=2, slots=32, log_level=info, log_file=PATH, no_keeper (one process; a crash unmounts), no_journal, state_dir=PATH', type: 'string', array: true, default: [] })
    .option('foreground', { alias: 'f', describe: 'stay in the foreground, logging to stderr (systemd)', type: 'boolean', default: false })
    .example('$0 mount local:/var/lib/objfs/data /mnt/data', 'mount the embedded store, creating it on first use')
    .example('$0 mount /srv/store /mnt/data -o allow_other,block_size=4M', '') as unknown as Argv<MountArgs>
}

/** The typed Config for a mount command line; throws ConfigError with a one-line reason. */
export function configOf (args: string[], o: string[], foreground: boolean): Config {
  if (args.length < 1 || args.length > 2) throw new ConfigError('usage: objfs mount [SOURCE] MOUNTPOINT [-o options]')
  const c = defaults()
  c.source = args.length === 2 ? args[0] : DEFAULT_SOURCE
  c.mountpoint = resolveMountpoint(args[args.length - 1])
  c.foreground = foreground
  applyOptions(c, o)
  c.source = parseSource(c.source).url
  return c
}

/** Refuse a missing mountpoint, clean a stale one (its daemon died), refuse a live one. */
async function prepareMountpoint (mp: string): Promise<void> {
  if (findMount(mp) !== undefined) {
    try {
      statSync(mp)
      throw new ConfigError(`${mp} is already mounted`)
    } catch (err) {
      // ENOTCONN: the daemon died; ECONNABORTED: its connection was aborted (fusectl).
      const code = (err as NodeJS.ErrnoException).code
      if (code !== 'ENOTCONN' && code !== 'ECONNABORTED') throw err
      await forceUnmount(mp)
    }
  }
  let st
  try {
    st = statSync(mp)
  } catch {
    throw new ConfigError(`mountpoint ${mp} does not exist`)
  }
  if (!st.isDirectory()) throw new ConfigError(`mountpoint ${mp} is not a directory`)
}


/**
 * Start a daemon in the background for `config` (from configOf with the same
 * `o`); resolves with its pid once the mount is live. `objfs mount` and the
 * mount(8) helper both come here.
 */
export async function mountInBackground (config: Config, o: string[]): Promise<number> {
  await prepareMountpoint(config.mountpoint)
  const logFile = config.logFile ?? defaultLogFile(config.mountpoint)
  return await spawnDaemon(['mount', config.source, config.mountpoint, ...o.flatMap(x => ['-o', x]), '--foreground'], resolve(logFile))
}

export async function handler (argv: ArgumentsCamelCase<MountArgs>): Promise<void> {
  const config = configOf(argv.args, argv.o, argv.foreground)
  if (!config.foreground) {
    await mountInBackground(config, argv.o)
    return
  }
  await prepareMountpoint(config.mountpoint)
  const { runForeground } = await import('../main.ts')
  await runForeground(config, message => {
    reportReadiness(message)
    // Under systemd (Type=notify): the service is started once the mount is live.
    if (message === 'ready') void notifyReady(`serving ${config.source} on ${config.mountpoint}`)
  })
}
