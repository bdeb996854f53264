// The notifier thread (notify.ts): writes each notification it is given to
// /dev/fuse, one write(2) each, and says how it went. The only place a
// notification is written, so that the write may block here.
import { writeSync } from 'node:fs'
import { parentPort, workerData } from 'node:worker_threads'

export interface NotifierSetup {
  fd: number
}

/** code: undefined when written; ENOENT when the kernel no longer knows the inode or name; ENODEV when unmounted. */
export interface NotifyResult {
  code: string | undefined
}

const { fd } = workerData as NotifierSetup
const port = parentPort

port?.on('message', (bytes: Uint8Array) => {
  let code: string | undefined
  try {
    writeSync(fd, bytes)
  } catch (err) {
    code = (err as NodeJS.ErrnoException).code ?? 'EIO'
  }
  port.postMessage({ code } satisfies NotifyResult)
})
