// The checkpoint thread (checkpoint.ts): copies the WAL back into the
// database file while the serving thread goes on committing.
import { DatabaseSync } from 'node:sqlite'
import { workerData } from 'node:worker_threads'
import { leaveServingCpu } from '../../channel/cpus.ts'
import { CHECKPOINT_GATHER_MS, COMMITS, SLEEPING, STOP, type CheckpointSetup } from './checkpoint.ts'

const { path, control } = workerData as CheckpointSetup
// Started once the store has committed a while: after the serving thread took its CPU.
leaveServingCpu()
const ctl = new Int32Array(control)
const db = new DatabaseSync(path)
// Its fsyncs are what the serving thread no longer waits for; NORMAL syncs
// the WAL before copying and the database after, as the writer's would.
db.exec('PRAGMA synchronous = NORMAL')
// PASSIVE never waits for readers or the writer: it copies what it can.
const checkpoint = db.prepare('PRAGMA wal_checkpoint(PASSIVE)')

let seen = 0
while (Atomics.load(ctl, STOP) === 0) {
  const commits = Atomics.load(ctl, COMMITS)
  if (commits === seen) {
    // Idle: sleep until the next commit (the writer notifies only a sleeper).
    Atomics.store(ctl, SLEEPING, 1)
    Atomics.wait(ctl, COMMITS, commits)
    Atomics.store(ctl, SLEEPING, 0)
    continue
  }
  // Let commits gather: one checkpoint, two fsyncs, covers them all.
  Atomics.wait(ctl, STOP, 0, CHECKPOINT_GATHER_MS)
  seen = Atomics.load(ctl, COMMITS)
  try {
    checkpoint.get()
  } catch {
    // SQLITE_BUSY (another connection is checkpointing) or a full disk:
    // the writer's own autocheckpoint is the backstop.
  }
}
db.close()
