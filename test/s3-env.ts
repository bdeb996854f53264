// The S3 tier's environment: a real S3 engine, Ceph RGW from
// scripts/ceph-up.sh, found running or started once for the test run.
//
// Order: S3_ENDPOINT (with AWS_* keys) if it answers; else the cluster
// ceph-up.sh keeps in $OBJFS_CEPH_DIR (/tmp/objfs-ceph) if it answers;
// else start that cluster (under a lock, so test files running in
// parallel start it once; it is left running for the next run:
// scripts/ceph-down.sh stops it). Without Ceph installed the tier is
// skipped with a message, except under CI=true, where it fails.
import { spawnSync } from 'node:child_process'
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { S3Client } from '@aws-sdk/client-s3'
import type { Test } from 'tap'
import { answers, cephDir as cephDirOf, ensureBucket, readEnvFile, s3Client } from '../bench/targets/s3-endpoint.ts'

export { deletePrefix, listKeys } from '../bench/targets/s3-endpoint.ts'

export interface S3Env {
  endpoint: string
  region: string
}

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const cephDir = cephDirOf()

const isCI = (): boolean => {
  const v = process.env.CI
  return v !== undefined && v !== '' && v !== '0' && v !== 'false'
}

/** Credentials go to the environment: the SDK's chain and every daemon a test spawns read them there. */
function adopt (vars: Record<string, string>): S3Env {
  for (const k of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_REGION']) if (vars[k] !== undefined) process.env[k] = vars[k]
  process.env.S3_ENDPOINT = vars.S3_ENDPOINT
  process.env.AWS_REGION ??= 'us-east-1'
  return { endpoint: vars.S3_ENDPOINT, region: process.env.AWS_REGION }
}

let found: Promise<S3Env | string> | undefined

async function find (): Promise<S3Env | string> {
  const given = process.env.S3_ENDPOINT
  if (given !== undefined && given !== '' && await answers(given)) return adopt({ ...process.env as Record<string, string> })
  let vars = readEnvFile()
  if (vars?.S3_ENDPOINT !== undefined && await answers(vars.S3_ENDPOINT)) return adopt(vars)
  const missing = ['ceph-mon', 'ceph-osd', 'radosgw', 'flock'].filter(c => spawnSync('sh', ['-c', `command -v ${c}`]).status !== 0)
  if (missing.length > 0) return `no S3 engine: ${missing.join(', ')} not installed (scripts/setup-deps.sh installs Ceph), and S3_ENDPOINT is not set`
  const r = spawnSync('flock', [`${cephDir}.lock`, join(repoRoot, 'scripts/ceph-up.sh'), cephDir], {
    env: { ...process.env, NO_MGR: '1' }, timeout: 240_000, encoding: 'utf8',
  })
  vars = readEnvFile()
  if (r.status !== 0 || vars?.S3_ENDPOINT === undefined) return `starting Ceph failed (status ${r.status}): ${(r.stderr ?? '').trim().split('\n').slice(-3).join(' | ')}`
  return adopt(vars)
}

/**
 * Call at the top of each S3 test file. The environment when the tier can
 * run; otherwise undefined, with the file skipped (or, in CI, failed).
 */
export async function s3Tier (t: Test): Promise<S3Env | undefined> {
  found ??= find()
  const env = await found
  if (typeof env !== 'string') return env
  if (isCI()) t.fail(`${env}; CI must run the S3 tier, not skip it`)
  else void t.test('S3 tests', { skip: env }, () => {})
  return undefined
}

export const client = (env: S3Env): S3Client => s3Client(env)

/** The tests' bucket, created when missing. */
export const testBucket = async (c: S3Client, name = 'objfs-test'): Promise<string> => await ensureBucket(c, name)

/** A prefix no other test (or run) uses. */
export const uniquePrefix = (what: string): string => `${what}-${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`

/**
 * An HTTP proxy in front of the S3 engine, for tests that make it fail:
 * `intercept` answers a request itself (and returns true) or lets it pass
 * through, headers untouched (the signature covers the Host the client used).
 */
export async function s3Proxy (endpoint: string, intercept: (req: IncomingMessage, res: ServerResponse) => boolean): Promise<{ endpoint: string, server: Server }> {
  const target = new URL(endpoint)
  const server = createServer((req, res) => {
    if (intercept(req, res)) return
    const up = request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, r => {
      res.writeHead(r.statusCode ?? 502, r.headers)
      r.pipe(res)
    })
    up.on('error', () => { res.destroy() })
    req.pipe(up)
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return { endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server }
}
