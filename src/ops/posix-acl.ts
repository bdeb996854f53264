// POSIX ACLs in the form the kernel passes them through
// system.posix_acl_access and system.posix_acl_default (FUSE_POSIX_ACL), and
// the three rules a filesystem keeps for them, as the kernel's own
// filesystems do in fs/posix_acl.c: the mode's permission bits mirror the
// access ACL (posix_acl_equiv_mode), chmod rewrites the ACL's base entries
// (__posix_acl_chmod), and a new object inherits its directory's default
// ACL, cut down by the mode it was created with (posix_acl_create_masq).
// The kernel enforces the ACLs; the daemon only keeps them consistent.
import { FsError, errno as E } from '../errors.ts'

export const ACL_ACCESS = 'system.posix_acl_access'
export const ACL_DEFAULT = 'system.posix_acl_default'

export const isAclName = (name: string): boolean => name === ACL_ACCESS || name === ACL_DEFAULT

// <linux/posix_acl_xattr.h>: a u32 version, then {u16 tag, u16 perm, u32 id} entries.
const VERSION = 2
const HEADER = 4
const ENTRY = 8
export const USER_OBJ = 0x01
export const USER = 0x02
export const GROUP_OBJ = 0x04
export const GROUP = 0x08
export const MASK = 0x10
export const OTHER = 0x20
const UNDEFINED_ID = 0xffffffff

export interface AclEntry { tag: number, perm: number, id: number }

const PERMS = 0o777

/** The entries of an ACL xattr; EINVAL for anything posix_acl_valid would refuse. */
export function parseAcl (bytes: Uint8Array): AclEntry[] {
  if (bytes.byteLength < HEADER || (bytes.byteLength - HEADER) % ENTRY !== 0) throw new FsError(E.EINVAL, 'malformed POSIX ACL')
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (view.getUint32(0, true) !== VERSION) throw new FsError(E.EOPNOTSUPP, 'POSIX ACL version')
  const entries: AclEntry[] = []
  for (let at = HEADER; at < bytes.byteLength; at += ENTRY) {
    const tag = view.getUint16(at, true)
    const named = tag === USER || tag === GROUP
    entries.push({ tag, perm: view.getUint16(at + 2, true), id: named ? view.getUint32(at + 4, true) : UNDEFINED_ID })
  }
  validate(entries)
  return entries
}

/** Base entries once each, named ones in order of id, a mask whenever there are named ones, tags in order. */
function validate (entries: readonly AclEntry[]): void {
  const bad = (): never => { throw new FsError(E.EINVAL, 'invalid POSIX ACL') }
  const seen = new Map<number, number>()
  let previous: AclEntry | undefined
  for (const e of entries) {
    if (![USER_OBJ, USER, GROUP_OBJ, GROUP, MASK, OTHER].includes(e.tag) || e.perm > 7) bad()
    if (previous !== undefined && (e.tag < previous.tag || (e.tag === previous.tag && e.id <= previous.id))) bad()
    seen.set(e.tag, (seen.get(e.tag) ?? 0) + 1)
    previous = e
  }
  for (const base of [USER_OBJ, GROUP_OBJ, OTHER]) if (seen.get(base) !== 1) bad()
  if ((seen.has(USER) || seen.has(GROUP)) && !seen.has(MASK)) bad()
  if ((seen.get(MASK) ?? 0) > 1) bad()
}

export function encodeAcl (entries: readonly AclEntry[]): Uint8Array {
  const bytes = new Uint8Array(HEADER + ENTRY * entries.length)
  const view = new DataView(bytes.buffer)
  view.setUint32(0, VERSION, true)
  entries.forEach((e, i) => {
    const at = HEADER + ENTRY * i
    view.setUint16(at, e.tag, true)
    view.setUint16(at + 2, e.perm, true)
    view.setUint32(at + 4, e.id, true)
  })
  return bytes
}

/** Only the three base entries: the mode says it all, and no xattr is kept. */
export const isMinimal = (entries: readonly AclEntry[]): boolean =>
  entries.every(e => e.tag === USER_OBJ || e.tag === GROUP_OBJ || e.tag === OTHER)

/** `mode` with its permission bits from the ACL: the group bits are the mask's where there is one. */
export function modeFromAcl (entries: readonly AclEntry[], mode: number): number {
  let perms = 0
  let mask: number | undefined
  for (const e of entries) {
    if (e.tag === USER_OBJ) perms |= e.perm << 6
    else if (e.tag === GROUP_OBJ) perms |= e.perm << 3
    else if (e.tag === OTHER) perms |= e.perm
    else if (e.tag === MASK) mask = e.perm
  }
  if (mask !== undefined) perms = (perms & ~0o070) | (mask << 3)
  return (mode & ~PERMS) | perms
}

/** The ACL after chmod to `mode`: the base entries (the mask for the group's) take the new bits. */
export function chmodAcl (entries: readonly AclEntry[], mode: number): AclEntry[] {
  const hasMask = entries.some(e => e.tag === MASK)
  return entries.map(e => {
    if (e.tag === USER_OBJ) return { ...e, perm: (mode >> 6) & 7 }
    if (e.tag === OTHER) return { ...e, perm: mode & 7 }
    if (e.tag === (hasMask ? MASK : GROUP_OBJ)) return { ...e, perm: (mode >> 3) & 7 }
    return e
  })
}

/**
 * What a new object made with `mode` in a directory with the default ACL
 * `inherited` gets: the ACL's base entries (the mask for the group's) keep
 * only what the mode allows, the mode only what they allow; `access` is
 * undefined when the result says no more than the mode.
 */
export function createMasq (inherited: readonly AclEntry[], mode: number): { mode: number, access: AclEntry[] | undefined } {
  let perms = mode & PERMS
  const hasMask = inherited.some(e => e.tag === MASK)
  const access = inherited.map(e => ({ ...e }))
  for (const e of access) {
    if (e.tag === USER_OBJ) {
      e.perm &= (perms >> 6) & 7
      perms &= (e.perm << 6) | ~0o700
    } else if (e.tag === OTHER) {
      e.perm &= perms & 7
      perms &= e.perm | ~0o007
    }
  }
  for (const e of access) {
    if (e.tag === (hasMask ? MASK : GROUP_OBJ)) {
      e.perm &= (perms >> 3) & 7
      perms &= (e.perm << 3) | ~0o070
    }
  }
  return { mode: (mode & ~PERMS) | (perms & PERMS), access: isMinimal(access) ? undefined : access }
}
