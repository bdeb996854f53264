// The optional Prometheus endpoint (-o metrics_port=N). It binds the
// loopback address only: the counters name the mount and its traffic, and
// anything wider is a reverse proxy's decision, not a mount option's.
import { createServer, type Server } from 'node:http'
import { ConfigError } from '../errors.ts'
import { PROMETHEUS_CONTENT_TYPE, renderPrometheus } from './prometheus.ts'
import type { StatsSnapshot } from './snapshot.ts'

export const METRICS_HOST = '127.0.0.1'

/**
 * Serve GET /metrics (Prometheus text) and GET /stats (the JSON of
 * `objfs stats --json`). Resolves once listening; a port in use is a
 * ConfigError, raised before anything is mounted.
 */
export async function serveMetrics (port: number, snapshot: () => StatsSnapshot): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end()
      return
    }
    let body: string
    let type: string
    if (path === '/metrics') {
      body = renderPrometheus(snapshot())
      type = PROMETHEUS_CONTENT_TYPE
    } else if (path === '/stats') {
      body = JSON.stringify(snapshot())
      type = 'application/json'
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('objfs serves /metrics and /stats\n')
      return
    }
    res.writeHead(200, { 'content-type': type, 'content-length': Buffer.byteLength(body) })
    res.end(req.method === 'HEAD' ? undefined : body)
  })
  // Scrapes are short: do not let an idle keep-alive connection hold the daemon's exit.
  server.keepAliveTimeout = 5000
  await new Promise<void>((resolve, reject) => {
    server.once('error', err => {
      const code = (err as NodeJS.ErrnoException).code
      reject(code === 'EADDRINUSE' || code === 'EACCES' ? new ConfigError(`metrics_port=${port}: cannot listen on ${METRICS_HOST}:${port} (${code})`) : err)
    })
    server.listen(port, METRICS_HOST, () => resolve())
  })
  // The session keeps the daemon alive; the endpoint alone must not.
  server.unref()
  return server
}

/** Stop listening and drop idle scrape connections. */
export function closeMetrics (server: Server | undefined): void {
  if (server === undefined) return
  server.close()
  server.closeAllConnections()
}
