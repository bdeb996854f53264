// Extended attributes, stored as rows; Linux's limits and flag semantics.
import { FsError, errno as E } from '../../errors.ts'
import { XATTR_CREATE, XATTR_REPLACE } from '../types.ts'
import { checkExists, transaction, type Ctx } from './context.ts'
import { nowTimespec as now } from '../../time.ts'

/** XATTR_NAME_MAX and XATTR_SIZE_MAX of linux/limits.h. */
const XATTR_NAME_MAX = 255
const XATTR_SIZE_MAX = 65536

function checkXattrName (name: string): void {
  // The kernel answers ERANGE for an empty or over-long name.
  const len = Buffer.byteLength(name, 'utf8')
  if (len === 0 || len > XATTR_NAME_MAX) throw new FsError(E.ERANGE, 'bad xattr name length')
}

export function getxattr (ctx: Ctx, id: string, name: string): Uint8Array {
  checkXattrName(name)
  checkExists(ctx.st, id)
  const row = ctx.st.getXattr.get(id, name) as { value: Uint8Array } | undefined
  if (row === undefined) throw new FsError(E.ENODATA)
  // A copy in its own ArrayBuffer: the result may be transferred between threads.
  return new Uint8Array(row.value)
}

export function setxattr (ctx: Ctx, id: string, name: string, value: Uint8Array, flags: number): void {
  checkXattrName(name)
  if (value.byteLength > XATTR_SIZE_MAX) throw new FsError(E.E2BIG)
  if ((flags & ~(XATTR_CREATE | XATTR_REPLACE)) !== 0) throw new FsError(E.EINVAL, `invalid xattr flags ${flags}`)
  const { st } = ctx
  transaction(ctx, () => {
    checkExists(st, id)
    const present = st.getXattr.get(id, name) !== undefined
    if (present && (flags & XATTR_CREATE) !== 0) throw new FsError(E.EEXIST)
    if (!present && (flags & XATTR_REPLACE) !== 0) throw new FsError(E.ENODATA)
    st.putXattr.run(id, name, value)
    const t = now()
    st.touchCtime.run(t.sec, t.nsec, id)
  })
}

export function listxattr (ctx: Ctx, id: string): string[] {
  checkExists(ctx.st, id)
  return (ctx.st.listXattr.all(id) as Array<{ name: string }>).map(r => r.name)
}

export function removexattr (ctx: Ctx, id: string, name: string): void {
  checkXattrName(name)
  const { st } = ctx
  transaction(ctx, () => {
    checkExists(st, id)
    if (Number(st.deleteXattr.run(id, name).changes) === 0) throw new FsError(E.ENODATA)
    const t = now()
    st.touchCtime.run(t.sec, t.nsec, id)
  })
}
