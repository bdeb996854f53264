// Composition root: command line -> config -> logger -> daemon; signals and
// exit codes. Everything else lives in the modules it wires.
import { realpathSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import yargs from 'yargs'
import { hideBin } from 'yargs/helpers'
import * as fsck from './cli/fsck.ts'
import * as install from './cli/install.ts'
import * as mount from './cli/mount.ts'
import * as mountHelper from './cli/mount-helper.ts'
import * as stats from './cli/stats.ts'
import * as serve from './cli/serve.ts'
import * as umount from './cli/umount.ts'
import * as upgrade from './cli/upgrade.ts'
import type { Config } from './config.ts'
import { ConfigError, FsError } from './errors.ts'
import { runKeeper } from './keeper/keeper.ts'
import { logger, setLogLevel } from './log.ts'
import { shutdownOnSignals } from './signals.ts'

const log = logger('main')

/**
 * Serve a mount until it is unmounted: through a keeper and its serving
 * processes (the default), or in this one process (no_keeper).
 */
export async function runForeground (config: Config, ready: (message: string) => void): Promise<void> {
  setLogLevel(config.logLevel)
  if (config.keeper) {
    process.exitCode = await runKeeper(config, { ready })
    setTimeout(() => process.exit(), 100).unref()
    return
  }
  // Imported here: the keeper, which runs this function too, must stay small.
  const { startDaemon } = await import('./daemon.ts')
  let daemon
  try {
    daemon = await startDaemon(config)
  } catch (err) {
    // `bad:` tells the waiting `objfs mount` to exit 2, as for bad input given in the foreground.
    ready(`${err instanceof ConfigError ? 'bad' : 'error'}: ${oneLine(err)}`)
    throw err
  }
  ready('ready')
  shutdownOnSignals(daemon.shutdown)
  process.exitCode = (await daemon.done).status
  // pino writes asynchronously; let it drain before the process ends.
  setTimeout(() => process.exit(), 100).unref()
}

const oneLine = (err: unknown): string => (err instanceof Error ? err.message : String(err)).split('\n')[0]

export async function cli (argv: string[]): Promise<void> {
  await yargs(argv)
    .scriptName('objfs')
    .usage('$0 <command> [options]\n\nMount object storage as a POSIX filesystem.')
    .command(mount)
    .command(umount)
    .command(upgrade)
    .command(serve)
    .command(fsck)
    .command(stats)
    .command(install)
    .command(mountHelper)
    .demandCommand(1, 'name a command: mount or umount')
    .strict()
    .help()
    .alias('h', 'help')
    .version(false)
    .fail((msg, err) => {
      // Bad input is one line and exit status 2; anything else is 1.
      const bad = err === undefined || err instanceof ConfigError
      process.stderr.write(`objfs: ${msg ?? oneLine(err)}\n`)
      if (err !== undefined && !bad && !(err instanceof FsError)) log.debug({ err }, 'command failed')
      process.exit(bad ? 2 : 1)
    })
    .parseAsync()
}

const isMain = (): boolean => {
  try {
    return realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)
  } catch {
    return false
  }
}

// Not a top-level await: the mount command imports runForeground from here.
if (isMain()) void cli(hideBin(process.argv))
