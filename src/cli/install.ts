// objfs install [--root DIR] [--systemd] [--force] [--uninstall]
//
// Puts /sbin/mount.fuse.objfs in place, so that mount(8), fstab and
// systemd's mount units can mount type fuse.objfs; with --systemd also the
// template unit objfs@.service. Both point at this checkout's bin/objfs,
// which runs the checkout's own Node 24. Files carry a marker line: only
// marked files are replaced without --force, or removed by --uninstall.
import { spawnSync } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, readFileSync, realpathSync, renameSync, unlinkSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Argv, ArgumentsCamelCase } from 'yargs'
import { ConfigError } from '../errors.ts'

export const MARKER = 'Installed by `objfs install`'
/** Where `npm install -g` puts objfs: the paths the shipped unit names. */
const NPM_BIN = '/usr/local/bin/objfs'
const NPM_ROOT = '/usr/local/lib/node_modules/objfs'

const checkout = (): string => realpathSync(fileURLToPath(new URL('../..', import.meta.url)))

interface InstallArgs {
  root: string
  systemd: boolean
  force: boolean
  uninstall: boolean
}

export const command = 'install'
export const describe = 'install the mount(8) helper /sbin/mount.fuse.objfs (and, with --systemd, objfs@.service)'

export function builder (y: Argv): Argv<InstallArgs> {
  return y
    .option('root', { describe: 'install under this directory instead of /', type: 'string', default: '/' })
    .option('systemd', { describe: 'also install the systemd template unit objfs@.service', type: 'boolean', default: false })
    .option('force', { describe: 'replace files that objfs install did not write', type: 'boolean', default: false })
    .option('uninstall', { describe: 'remove what objfs install wrote', type: 'boolean', default: false })
    .example('$0 install --systemd', 'then: systemctl enable --now objfs@$(systemd-escape --path /mnt/data)') as unknown as Argv<InstallArgs>
}

const quote = (s: string): string => `'${s.replaceAll("'", "'\\''")}'`

/** The helper mount(8) runs: a fixed PATH (it survives any environment) and the checkout's objfs. */
export function helperScript (bin: string): string {
  return [
    '#!/bin/sh',
    `# ${MARKER}: mount(8) runs this for filesystems of type fuse.objfs`,
    '# (fstab lines, mount -t fuse.objfs, systemd mount units).',
    '# objfs runs mount(8), umount(8) and systemd-notify by name: fix PATH.',
    'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    'export PATH',
    `exec ${quote(bin)} mount-helper "$@"`,
    '',
  ].join('\n')
}

/** The shipped unit with its npm -g paths pointing at `root` (a checkout), marked as ours. */
export function renderUnit (text: string, root: string): string {
  // Unit files would need such a path quoted (and % and $ escaped) in ExecStart=.
  if (/[\s"'\\%$]/.test(root)) throw new ConfigError(`cannot write a unit for a checkout at '${root}': move it to a path without spaces, quotes, % or $`)
  return `# ${MARKER} from ${root}/systemd/\n` + text.replaceAll(NPM_BIN, join(root, 'bin/objfs')).replaceAll(NPM_ROOT, root)
}

interface Target { path: string, content: string, mode: number }

export function targets (root: string, systemd: boolean, from: string = checkout()): Target[] {
  const out: Target[] = [{ path: join(root, 'sbin/mount.fuse.objfs'), content: helperScript(join(from, 'bin/objfs')), mode: 0o755 }]
  if (systemd) {
    const unit = readFileSync(join(from, 'systemd/objfs@.service'), 'utf8')
    out.push({ path: join(root, 'etc/systemd/system/objfs@.service'), content: renderUnit(unit, from), mode: 0o644 })
  }
  return out
}

const ours = (path: string): boolean => readFileSync(path, 'utf8').includes(MARKER)

/** Write next to the target, then rename: mount(8) never runs half a script. */
function writeAtomically (t: Target): void {
  mkdirSync(dirname(t.path), { recursive: true, mode: 0o755 })
  const tmp = `${t.path}.objfs-install.${process.pid}`
  writeFileSync(tmp, t.content, { mode: t.mode })
  chmodSync(tmp, t.mode)
  renameSync(tmp, t.path)
}

function reloadSystemd (): void {
  if (!existsSync('/run/systemd/system')) return   // systemd is not the init here
  const r = spawnSync('systemctl', ['daemon-reload'], { stdio: 'inherit', timeout: 60_000 })
  if (r.status !== 0) process.stderr.write('objfs: systemctl daemon-reload failed; run it before using objfs@.service\n')
}

export async function handler (argv: ArgumentsCamelCase<InstallArgs>): Promise<void> {
  const root = resolve(argv.root)
  let unitsChanged = false
  for (const t of targets(root, argv.systemd || argv.uninstall)) {
    const exists = existsSync(t.path)
    if (argv.uninstall) {
      if (!exists) continue
      if (!ours(t.path)) { process.stdout.write(`left ${t.path}: not written by objfs install\n`); continue }
      unlinkSync(t.path)
      process.stdout.write(`removed ${t.path}\n`)
    } else {
      if (exists && !argv.force && !ours(t.path)) throw new ConfigError(`${t.path} exists and was not written by objfs install (--force replaces it)`)
      writeAtomically(t)
      process.stdout.write(`installed ${t.path}\n`)
    }
    if (t.path.endsWith('.service')) unitsChanged = true
  }
  if (root === '/' && unitsChanged) reloadSystemd()
}
