// Mount options in mount(8) habits (-o a,b=c), parsed once into a typed Config.
import { ConfigError } from './errors.ts'

export interface Config {
  source: string
  mountpoint: string
  foreground: boolean
  readOnly: boolean
  allowOther: boolean
  /** The kernel checks modes (default_permissions); by default only with allow_other or acl (applyOptions). */
  defaultPermissions: boolean
  /** POSIX ACLs, kept and inherited (FUSE_POSIX_ACL, ops/acl.ts); they need the kernel's mode checks. */
  acl: boolean
  /** Block size for a store being created; unsaid, by store (applyOptions). */
  blockSize: number
  entryTimeout: number
  attrTimeout: number
  negativeTimeout: number
  writebackCache: boolean
  /** Ask for READDIRPLUS (names with attributes) where the kernel finds it worth it (FUSE_READDIRPLUS_AUTO). */
  readdirplus: boolean
  /** Keep the kernel's page cache of a file across opens (FOPEN_KEEP_CACHE), where the store's ids are stable. */
  keepCache: boolean
  /** Upper bound of buffered, not yet stored file data; writes wait for room above it. */
  dirtyLimit: number
  /** Worker threads executing store calls. */
  workers: number
  /** Run metadata calls of the embedded store in the supervisor thread instead of the pool. */
  inlineMeta: boolean
  /** The embedded store commits the supervisor's changes in groups, with a redo log (store/local/group.ts). */
  groupCommit: boolean
  /** Block I/O up to this size runs in the supervisor thread too (with inlineMeta). */
  inlineIo: number
  /** SharedArrayBuffer request slots: the bound on requests in flight. */
  slots: number
  /** The serving thread's CPU, the reader thread on the others (channel/cpus.ts). */
  serveCpu: ServeCpu
  /** Microseconds the reader thread polls for a lone caller's request to be served (channel/reader-spin.ts); 0: never. */
  readerSpin: number
  maxReadahead: number
  logLevel: string
  /** Where a background daemon writes its log; foreground daemons log to stderr. */
  logFile: string | undefined
  fsname: string | undefined
  /** Loopback port of the Prometheus endpoint (127.0.0.1 only); none when undefined. */
  metricsPort: number | undefined
  /** Flags handed to mount(8) untouched (nosuid, nodev, noexec, noatime...). */
  mountFlags: string[]
  /** Store-specific key=value options (endpoint, region, profile...). */
  storeOptions: Record<string, string>
  /** Serve through a keeper process that restarts a crashed serving process (src/keeper). */
  keeper: boolean
  /** Where the write journal and keeper state live; default /run/objfs/<mountpoint>. */
  stateDir: string | undefined
  /**
   * Under a keeper, journal acknowledged writes until they are stored, so
   * that a restarted serving process replays what a crash left buffered.
   */
  journal: boolean
}

/** serve_cpu: a CPU number, the last CPU the daemon may use, or left to the scheduler. */
export type ServeCpu = number | 'auto' | 'off'

export const MiB = 1024 * 1024

export const defaults = (): Config => ({
  source: '',
  mountpoint: '',
  foreground: false,
  readOnly: false,
  allowOther: false,
  defaultPermissions: false,
  acl: false,
  blockSize: LOCAL_BLOCK_SIZE,
  entryTimeout: 1,
  attrTimeout: 1,
  negativeTimeout: 1,
  writebackCache: false,
  readdirplus: true,
  keepCache: true,
  dirtyLimit: 256 * MiB,
  workers: 2,
  inlineMeta: true,
  groupCommit: true,
  inlineIo: 64 * 1024,
  slots: 32,
  serveCpu: 'auto',
  readerSpin: 50,
  maxReadahead: 1024 * 1024,
  logLevel: 'info',
  logFile: undefined,
  fsname: undefined,
  metricsPort: undefined,
  mountFlags: [],
  storeOptions: {},
  keeper: true,
  stateDir: undefined,
  journal: true,
})

/**
 * How long the kernel may trust a name (entry_timeout) on the embedded
 * store when the options do not say. Its names change only through this
 * daemon, and the kernel keeps its dentries right from our replies, so an
 * expiry only costs a LOOKUP round trip (`rm` of 10,000 files paid one
 * more per file with 1 s). An S3 bucket keeps defaults()'s 1 s: other
 * clients change it. attr_timeout stays 1 s for both: a write by another
 * user clears set-user-ID here (FUSE_WRITE_KILL_SUIDGID) without the
 * kernel refreshing its copy of the mode, which an exec would trust for as
 * long. negative_timeout stays 1 s: a name made here replaces a cached
 * "no such name" anyway, and nothing measured gained from more.
 */
export const LOCAL_ENTRY_TIMEOUT = 60

/** The block size of a new embedded store whose mount names none. */
export const LOCAL_BLOCK_SIZE = MiB
/**
 * The block size of a new S3 store whose mount names none: a block is a
 * ranged GET and a multipart upload's part is whole blocks of at least
 * 5 MiB (s3/parts.ts), so 1 MiB would mean many small GETs and five
 * blocks a part.
 */
export const S3_BLOCK_SIZE = 8 * MiB

const isS3Source = (source: string): boolean => source.trim().startsWith('s3://')
const isLocalSource = (source: string): boolean => source.trim() !== '' && !isS3Source(source)

/** "4M", "4MiB", "512k", "1G", "4096" -> bytes. */
export function parseSize (text: string, what: string): number {
  const m = /^(\d+)\s*([kmgt]?)(i?b)?$/i.exec(text.trim())
  if (m === null) throw new ConfigError(`${what}: '${text}' is not a size (examples: 4096, 512K, 4M, 1G)`)
  const scale = { '': 1, k: 1024, m: MiB, g: 1024 * MiB, t: 1024 * 1024 * MiB }[m[2].toLowerCase() as '' | 'k' | 'm' | 'g' | 't']
  return Number(m[1]) * scale
}

function parseSeconds (text: string, what: string): number {
  const n = Number(text)
  if (text === '' || !Number.isFinite(n) || n < 0) throw new ConfigError(`${what}: '${text}' is not a number of seconds`)
  return n
}

function parseCount (text: string, what: string, min: number, max: number): number {
  const n = Number(text)
  if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(`${what}: '${text}' must be a whole number from ${min} to ${max}`)
  return n
}

// mount(8) and systemd options that are not ours: accepted and ignored (they
// steer mount(8), fstab ordering or systemd, not the filesystem).
const ignored = new Set(['defaults', 'auto', 'noauto', 'nofail', '_netdev', 'user', 'nouser', 'users', 'owner', 'group', 'rw', 'async', 'suid', 'dev', 'exec', 'atime', 'diratime', 'nodiratime', 'relatime', 'loud', 'silent'])
// Generic VFS flags we pass on to mount(8).
const passed = new Set(['nosuid', 'nodev', 'noexec', 'noatime', 'strictatime', 'lazytime', 'sync', 'dirsync'])
const storeKeys = new Set(['block_io', 'endpoint', 'region', 'profile', 'uid', 'gid', 'umask', 'file_mode', 'dir_mode', 'metadata_ttl', 'cache_dir', 'commit_delay', 'part_size', 'stream_threshold', 'upload_buffer'])

type Setter = (c: Config, value: string | undefined, name: string) => void
const flag = (f: (c: Config) => void): Setter => (c, v, name) => {
  if (v !== undefined) throw new ConfigError(`mount option '${name}' takes no value`)
  f(c)
}
const valued = (f: (c: Config, v: string, name: string) => void): Setter => (c, v, name) => {
  if (v === undefined || v === '') throw new ConfigError(`mount option '${name}' needs a value (${name}=...)`)
  f(c, v, name)
}

const setters: Record<string, Setter> = {
  ro: flag(c => { c.readOnly = true }),
  allow_other: flag(c => { c.allowOther = true }),
  default_permissions: flag(c => { c.defaultPermissions = true }),
  no_default_permissions: flag(c => { c.defaultPermissions = false }),
  acl: flag(c => { c.acl = true }),
  no_acl: flag(c => { c.acl = false }),
  writeback_cache: flag(c => { c.writebackCache = true }),
  no_writeback_cache: flag(c => { c.writebackCache = false }),
  readdirplus: flag(c => { c.readdirplus = true }),
  no_readdirplus: flag(c => { c.readdirplus = false }),
  keep_cache: flag(c => { c.keepCache = true }),
  no_keep_cache: flag(c => { c.keepCache = false }),
  block_size: valued((c, v, n) => {
    const size = parseSize(v, n)
    if (size < 4096 || size > 64 * MiB || (size & (size - 1)) !== 0) throw new ConfigError(`${n}: ${v} must be a power of two from 4K to 64M`)
    c.blockSize = size
  }),
  entry_timeout: valued((c, v, n) => { c.entryTimeout = parseSeconds(v, n) }),
  attr_timeout: valued((c, v, n) => { c.attrTimeout = parseSeconds(v, n) }),
  negative_timeout: valued((c, v, n) => { c.negativeTimeout = parseSeconds(v, n) }),
  dirty_limit: valued((c, v, n) => { c.dirtyLimit = Math.max(parseSize(v, n), 4 * MiB) }),
  workers: valued((c, v, n) => { c.workers = parseCount(v, n, 1, 64) }),
  slots: valued((c, v, n) => { c.slots = parseCount(v, n, 4, 1024) }),
  reader_spin: valued((c, v, n) => { c.readerSpin = parseCount(v, n, 0, 1000) }),
  serve_cpu: valued((c, v, n) => {
    if (v !== 'auto' && v !== 'off' && !/^\d{1,4}$/.test(v)) throw new ConfigError(`${n}: '${v}' must be auto, off or a CPU number`)
    c.serveCpu = v === 'auto' || v === 'off' ? v : Number(v)
  }),
  meta: valued((c, v, n) => {
    if (v !== 'inline' && v !== 'pool') throw new ConfigError(`${n}: '${v}' must be inline or pool`)
    c.inlineMeta = v === 'inline'
  }),
  commit: valued((c, v, n) => {
    if (v !== 'group' && v !== 'each') throw new ConfigError(`${n}: '${v}' must be group or each`)
    c.groupCommit = v === 'group'
  }),
  inline_io: valued((c, v, n) => { c.inlineIo = parseSize(v, n) }),
  max_readahead: valued((c, v, n) => { c.maxReadahead = parseSize(v, n) }),
  log_level: valued((c, v, n) => {
    if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(v)) throw new ConfigError(`${n}: '${v}' is not a log level (error, warn, info, debug, trace)`)
    c.logLevel = v
  }),
  log_file: valued((c, v) => { c.logFile = v }),
  keeper: flag(c => { c.keeper = true }),
  no_keeper: flag(c => { c.keeper = false }),
  state_dir: valued((c, v) => { c.stateDir = v }),
  journal: flag(c => { c.journal = true }),
  no_journal: flag(c => { c.journal = false }),
  fsname: valued((c, v) => { c.fsname = v }),
  metrics_port: valued((c, v, n) => { c.metricsPort = parseCount(v, n, 1, 65535) }),
  // Set by mount(8) helpers for fuse types; the type is always fuse.objfs.
  subtype: valued(() => {}),
}

/** Whether `name` (without =value) is an option objfs accepts, ignored ones included. */
export const isKnownOption = (name: string): boolean =>
  ignored.has(name) || name.startsWith('x-') || name === 'comment' || passed.has(name) || storeKeys.has(name) || Object.hasOwn(setters, name)

/**
 * Apply "-o" option strings (each possibly comma-separated) onto a Config;
 * with `config.source` set first, an entry_timeout or block_size they
 * leave unsaid defaults by store (LOCAL_ENTRY_TIMEOUT, S3_BLOCK_SIZE).
 * default_permissions, unsaid, follows allow_other.
 */
export function applyOptions (config: Config, optionStrings: readonly string[]): Config {
  const said = new Set<string>()
  for (const group of optionStrings) {
    for (const raw of group.split(',')) {
      const opt = raw.trim()
      if (opt === '') continue
      const eq = opt.indexOf('=')
      const name = eq < 0 ? opt : opt.slice(0, eq)
      const value = eq < 0 ? undefined : opt.slice(eq + 1)
      if (ignored.has(name) || name.startsWith('x-') || name === 'comment') continue
      if (passed.has(name)) { config.mountFlags.push(opt); continue }
      if (storeKeys.has(name)) {
        if (value === undefined) throw new ConfigError(`mount option '${name}' needs a value`)
        config.storeOptions[name] = value
        continue
      }
      const set = setters[name]
      if (set === undefined) throw new ConfigError(`unknown mount option '${name}' (see objfs mount --help)`)
      set(config, value, name)
      said.add(name)
    }
  }
  if (isLocalSource(config.source) && !said.has('entry_timeout')) config.entryTimeout = LOCAL_ENTRY_TIMEOUT
  if (isS3Source(config.source) && !said.has('block_size')) config.blockSize = S3_BLOCK_SIZE
  // Without allow_other only the mounting user (root) gets in, and root passes
  // every mode check but exec's, which the kernel makes anyway. The checks
  // would cost a GETATTR of the directory after each create, unlink or
  // rename in it (the kernel drops a changed directory's attributes):
  // 1.7x the time of an unlink. With allow_other they keep others out.
  if (!said.has('default_permissions') && !said.has('no_default_permissions')) config.defaultPermissions = config.allowOther
  // The kernel enforces ACLs only with its mode checks, and turns them on
  // for an ACL mount whatever the options say (the GETATTRs above included).
  if (config.acl) {
    if (said.has('no_default_permissions')) throw new ConfigError('mount option \'acl\' needs the kernel\'s permission checks: drop no_default_permissions')
    config.defaultPermissions = true
  }
  return config
}
