// objfs upgrade MOUNTPOINT: replace the process serving a mount with one
// running the code now installed, without unmounting (the keeper hands the
// connection over). `systemctl reload objfs@...` does the same.
import type { Argv, ArgumentsCamelCase } from 'yargs'
import { findMount, resolveMountpoint } from '../channel/unmount.ts'
import { defaults } from '../config.ts'
import { ConfigError } from '../errors.ts'
import { readKeeperState } from '../keeper/state.ts'

interface UpgradeArgs { mountpoint: string, o: string[], timeout: number }

export const command = 'upgrade <mountpoint>'
export const describe = 'replace the serving process of a mount without unmounting it'

export function builder (y: Argv): Argv<UpgradeArgs> {
  return y
    .positional('mountpoint', { describe: 'where the store is mounted', type: 'string', demandOption: true })
    .option('o', { describe: 'state_dir=PATH, if the mount was given one', type: 'string', array: true, default: [] })
    .option('timeout', { describe: 'seconds to wait for the new process', type: 'number', default: 120 }) as unknown as Argv<UpgradeArgs>
}

export async function handler (argv: ArgumentsCamelCase<UpgradeArgs>): Promise<void> {
  const mountpoint = resolveMountpoint(argv.mountpoint)
  if (findMount(mountpoint) === undefined) throw new ConfigError(`${mountpoint} is not mounted`)
  const stateDir = argv.o.flatMap(o => o.split(',')).find(o => o.startsWith('state_dir='))?.slice('state_dir='.length)
  const where = { ...defaults(), mountpoint, stateDir }
  const before = readKeeperState(where)
  if (before === undefined) throw new ConfigError(`no keeper serves ${mountpoint} (mounted with no_keeper, or by another program)`)
  try {
    process.kill(before.keeper, 'SIGUSR2')
  } catch {
    throw new Error(`the keeper of ${mountpoint} (pid ${before.keeper}) is gone`)
  }
  const until = Date.now() + argv.timeout * 1000
  for (;;) {
    const now = readKeeperState(where)
    if (now !== undefined && now.generation > before.generation) {
      process.stdout.write(`${mountpoint}: serving process ${before.server} replaced by ${now.server}\n`)
      return
    }
    if (Date.now() > until) throw new Error(`${mountpoint}: no new serving process within ${argv.timeout} s; see the daemon's log`)
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}
