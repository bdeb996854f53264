// SOURCE -> store: which implementation a mount source names, and opening it.
//
//   local:/abs/path     the embedded store in that directory
//   /abs/path, rel/path the same (a relative path is resolved against the cwd)
//   s3://bucket/prefix  the S3 store
import { resolve } from 'node:path'
import { ConfigError } from '../errors.ts'
import { withEnvFaults } from './fault.ts'
import { LocalStore } from './local/store.ts'
import type { ObjectStore, StoreConfig } from './types.ts'

export interface ParsedSource {
  scheme: 'local' | 's3'
  /** Normalised: `local:/abs/path` or `s3://bucket/prefix`. */
  url: string
  path?: string
  bucket?: string
  prefix?: string
}

// S3 bucket naming rules, loosely: 3-63 of lowercase letters, digits, dots, hyphens.
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/

function parseS3 (source: string): ParsedSource {
  const rest = source.slice('s3://'.length)
  // s3:// alone: every bucket, each a directory of the mount root.
  if (rest === '') return { scheme: 's3', url: 's3://', prefix: '' }
  const slash = rest.indexOf('/')
  const bucket = slash < 0 ? rest : rest.slice(0, slash)
  if (!BUCKET.test(bucket)) throw new ConfigError(`'${source}': '${bucket}' is not a valid S3 bucket name (s3://bucket[/prefix])`)
  // No leading or trailing slash, no empty components: keys are joined with '/'.
  const prefix = (slash < 0 ? '' : rest.slice(slash + 1)).split('/').filter(p => p !== '').join('/')
  return { scheme: 's3', url: prefix === '' ? `s3://${bucket}` : `s3://${bucket}/${prefix}`, bucket, prefix }
}

function local (path: string): ParsedSource {
  const abs = resolve(path)
  return { scheme: 'local', url: `local:${abs}`, path: abs }
}

/** Parse a mount SOURCE; a ConfigError with a one-line reason when it names nothing we can open. */
export function parseSource (source: string): ParsedSource {
  const text = source.trim()
  if (text === '') throw new ConfigError('no store given: expected a path, local:/path or s3://bucket/prefix')
  if (text.startsWith('s3://')) return parseS3(text)
  if (text.startsWith('local:')) {
    // local:///abs is the URL spelling of local:/abs.
    const path = text.slice('local:'.length).replace(/^\/\/(?=\/)/, '')
    if (path === '') throw new ConfigError(`'${source}': local: needs a path (local:/var/lib/objfs)`)
    return local(path)
  }
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(text)
  if (scheme !== null && (text.includes('://') || scheme[1].toLowerCase() === 's3')) {
    throw new ConfigError(`'${source}': unsupported store '${scheme[1]}:' (expected a path, local:/path or s3://bucket/prefix)`)
  }
  return local(text)
}

/** Open the store a config's URL names (behind test-only faults when OBJFS_FAULTS is set: fault.ts). */
export async function openStore (config: StoreConfig): Promise<ObjectStore> {
  return withEnvFaults(await openNamed(config))
}

async function openNamed (config: StoreConfig): Promise<ObjectStore> {
  const parsed = parseSource(config.url)
  switch (parsed.scheme) {
    case 'local': return await LocalStore.open({ ...config, url: parsed.url })
    case 's3': {
      const { S3Store } = await import('./s3/store.ts')
      if (parsed.bucket === undefined) {
        const { S3Buckets } = await import('./s3/buckets.ts')
        return await S3Buckets.open({ ...config, url: parsed.url })
      }
      return await S3Store.open({ ...config, url: parsed.url }, { bucket: parsed.bucket as string, prefix: parsed.prefix ?? '' })
    }
  }
}
