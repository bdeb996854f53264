// Waiting for work a FUSE request can give up on.
//
// A store call that is already running cannot be cancelled (aborting a
// running piscina task kills its worker thread), but a request waiting for
// it can stop waiting: the kernel keeps the interrupted process in the
// syscall until the request is answered, so a read of a hung store would
// otherwise hold Ctrl-C hostage for as long as the store takes. Used only
// where walking away is harmless: the work goes on and its result stays
// where it belongs (block reads have no effect; a store write still lands
// and its error stays recorded for the next flush).
import { FsError, errno as E } from './errors.ts'

/** `work`'s outcome, or EINTR as soon as `signal` aborts; `work` itself runs on. */
export async function untilAborted<T> (work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return await work
  if (signal.aborted) {
    // Nobody awaits it any more: a late rejection must not go unhandled.
    work.catch(() => {})
    throw new FsError(E.EINTR)
  }
  let onAbort: (() => void) | undefined
  const aborted = new Promise<never>((_resolve, reject) => {
    onAbort = () => reject(new FsError(E.EINTR))
    signal.addEventListener('abort', onAbort, { once: true })
  })
  try {
    return await Promise.race([work, aborted])
  } finally {
    signal.removeEventListener('abort', onAbort as () => void)
    work.catch(() => {})
  }
}
