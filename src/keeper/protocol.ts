// What the keeper and its serving process tell each other over the IPC
// channel the keeper opens for it, and the environment it starts it with.
import type { Negotiation } from '../channel/session.ts'
import type { Connection } from '../channel/unmount.ts'
import type { Config } from '../config.ts'

/** Serving process -> keeper. */
export type ServerMessage =
  /** The first process opened the store (so it is good): the keeper may mount now. */
  | { type: 'store-open' }
  /** Serving: the first process after answering INIT, later ones after taking over. */
  | { type: 'ready', negotiation: Negotiation }
  /** Could not start; `bad` for bad input (exit status 2 for `objfs mount`). */
  | { type: 'failed', message: string, bad: boolean }
  /** The filesystem was unmounted and everything is stored: the keeper exits too. */
  | { type: 'closed' }
  /** Let go of the connection after a handover request; start the next process. */
  | { type: 'detached' }
  /** Kernels that cannot resend: the uniques this process read and has not answered yet. */
  | { type: 'unanswered', low: number, high: number }

/** Keeper -> serving process. */
export type KeeperMessage =
  | { type: 'handover' }
  /** The filesystem is mounted: INIT comes next on fd 3. `connection`: as fusectl names it, where it could be read. */
  | { type: 'mounted', connection?: Connection }

/** The serving process's start: the connection arrives as fd 3. */
export interface ServeSetup {
  config: Config
  generation: number
  negotiation?: Negotiation
  /** The connection as fusectl names it, once mounted: what this process unmounts when stopped. */
  connection?: Connection
}

export const SERVE_SETUP_ENV = 'OBJFS_SERVE_SETUP'
/** Test-only: behave as on a kernel that cannot resend (before Linux 6.9), to exercise the keeper's error replies. */
export const NO_RESEND_ENV = 'OBJFS_TEST_NO_RESEND'
export const CONNECTION_FD = 3
