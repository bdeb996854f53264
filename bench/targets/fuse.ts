// The shape every FUSE target shares: a command that mounts and returns once
// the mount is live, a daemon left behind whose CPU time we charge, and a
// teardown that unmounts (forcibly if need be) and waits the daemon out.
import { join } from 'node:path'
import { runChild, describeFailure, findExecutable } from '../child.ts'
import { findDaemonPids, isAlive, mountAt } from '../proc.ts'
import { makeScratch, removeScratch, type Scratch } from './scratch.ts'
import { unmount } from './unmount.ts'
import { NotRunnable, type Mounted, type Target, type TargetEnv, type TargetGroup } from './types.ts'

export interface FuseSpec {
  name: string
  group?: TargetGroup
  /**
   * Once per setup, before anything else: build or find the daemon. Rejects
   * with NotRunnable when the target cannot run here.
   */
  prepare?: (env: TargetEnv) => Promise<void>
  /** argv that mounts `s.data` (or a store in it) on `s.mnt` and returns when the mount is live. */
  mountArgv: (s: Scratch, env: TargetEnv) => string[]
  unmountArgv: (s: Scratch) => string[]
  /** Environment of the mount command, and so of the daemon it leaves (credentials go here, never into argv). */
  mountEnv?: (s: Scratch) => NodeJS.ProcessEnv
  /** Once the scratch dirs exist, before mounting. */
  beforeMount?: (s: Scratch, env: TargetEnv) => Promise<void>
  /** Once unmounted, before the scratch dirs go: what the target keeps outside them. Never throws. */
  afterUnmount?: (s: Scratch, log: (msg: string) => void) => Promise<void>
}

const MOUNT_TIMEOUT_MS = 30_000
// A daemon gets this long to exit after its unmount before we SIGTERM it.
const DAEMON_EXIT_MS = 5_000

export function fuseTarget (spec: FuseSpec): Target {
  return {
    name: spec.name,
    group: spec.group ?? 'local',
    async setup (env) {
      await spec.prepare?.(env)
      const probe = spec.mountArgv({ root: '', mnt: '', data: '' }, env)[0]
      if (findExecutable(probe) === undefined) throw new NotRunnable(`${probe} not found`)
      const s = makeScratch(env.workdir, spec.name)
      try {
        await spec.beforeMount?.(s, env)
      } catch (err) {
        await teardown(spec, s, [], env.log)
        throw new NotRunnable(`before mounting: ${(err as Error).message}`)
      }
      const argv = spec.mountArgv(s, env)
      const r = await runChild(argv[0], argv.slice(1), { timeoutMs: MOUNT_TIMEOUT_MS, signal: env.signal, env: spec.mountEnv?.(s), outputFile: join(s.root, 'daemon.log') })
      const m = mountAt(s.mnt)
      if (r.code !== 0 || m === undefined) {
        const pids = findDaemonPids(s.mnt)
        await teardown(spec, s, pids, env.log)
        throw new NotRunnable(m === undefined && r.code === 0 ? `${argv[0]} returned but nothing is mounted` : describeFailure(argv[0], r))
      }
      const daemonPids = findDaemonPids(s.mnt)
      if (daemonPids.length === 0) env.log(`${spec.name}: no process names ${s.mnt}; no daemon CPU figures`)
      let done: Promise<void> | undefined
      const mounted: Mounted = {
        dir: s.mnt,
        daemonPids,
        detail: `${argv.join(' ')} (${m.fstype}, daemon pids ${daemonPids.join(',') || 'unknown'})`,
        teardown: () => (done ??= teardown(spec, s, daemonPids, env.log)),
      }
      return mounted
    },
  }
}

async function teardown (spec: FuseSpec, s: Scratch, pids: number[], log: (msg: string) => void): Promise<void> {
  try {
    const how = await unmount(s.mnt, spec.unmountArgv(s), log)
    if (how !== 'unmounted' && how !== 'not-mounted') log(`${spec.name}: unmount needed force (${how})`)
  } catch (err) {
    log(`${spec.name}: could not unmount ${s.mnt}: ${(err as Error).message}`)
  }
  const deadline = Date.now() + DAEMON_EXIT_MS
  while (pids.some(isAlive) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100))
  for (const pid of pids.filter(isAlive)) {
    log(`${spec.name}: daemon ${pid} still running after unmount; SIGTERM`)
    // SIGCONT too: a daemon stopped (SIGSTOP, a debugger) never sees SIGTERM otherwise.
    try { process.kill(pid, 'SIGTERM'); process.kill(pid, 'SIGCONT') } catch {}
  }
  await spec.afterUnmount?.(s, log)
  removeScratch(s, log)
}
