/**
 * The Prometheus endpoint: GET /metrics answers the text format of a
 * MetricSet, gathered fresh for the scrape by `gather` (the launcher of `up`
 * asks every node over the control plane; `rdma-emu node` reads its own
 * counters). Scrapes that arrive while one is being gathered share it, so
 * a burst of scrapes costs the nodes one round of requests. Each gathering
 * is bounded by the sources' own timeouts (a node that does not answer is
 * `rdma_emu_up 0`, never a hang); the HTTP server bounds each request too.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { MetricsConfig } from '../config/defaults.ts'
import { EmuError, ErrorCodes } from '../errors.ts'
import { MetricSet } from './metric-set.ts'
import type { NodeSample } from './node-stats.ts'

/** Every node's counters for one scrape; must resolve (a node that fails is a sample with an error). */
export type Gather = () => Promise<NodeSample[]>

/** An HTTP request must be done within this long (ms): far above a scrape's own bound. */
const REQUEST_TIMEOUT_MS = 30_000

export class MetricsServer {
  readonly metrics = new MetricSet()
  private gathering: Promise<string> | undefined
  private gather: Gather | undefined

  private constructor(private readonly server: Server, readonly url: string) {}

  /**
   * Bind the endpoint at `cfg` (before the cluster starts, so a port in use is
   * found at once: EmuError(BAD_ARGUMENT) naming the option). Until
   * setSource(), a scrape answers the scrape gauges only.
   */
  static async listen(cfg: MetricsConfig, what = 'metrics'): Promise<MetricsServer> {
    const server = createServer()
    server.requestTimeout = REQUEST_TIMEOUT_MS
    server.headersTimeout = REQUEST_TIMEOUT_MS
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => {
        reject(new EmuError(ErrorCodes.BAD_ARGUMENT, `${what}: cannot serve on ${cfg.host}:${cfg.port} (--metrics-port, config metrics.port): ${err.code ?? err.message}`))
      })
      server.listen(cfg.port, cfg.host, () => resolve())
    })
    const addr = server.address() as AddressInfo
    const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address
    const self = new MetricsServer(server, `http://${host}:${addr.port}/metrics`)
    server.on('request', (req, res) => void self.answer(req, res))
    return self
  }

  /** Where the counters come from from now on. */
  setSource(gather: Gather): void {
    this.gather = gather
  }

  /** One scrape's text: gathered now, or shared with the scrape already gathering. */
  scrape(): Promise<string> {
    this.gathering ??= (async () => {
      try {
        const t0 = performance.now()
        const samples = this.gather ? await this.gather() : []
        this.metrics.update(samples, (performance.now() - t0) / 1000)
        return await this.metrics.text()
      } finally {
        this.gathering = undefined
      }
    })()
    return this.gathering
  }

  async close(): Promise<void> {
    this.server.closeAllConnections()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }

  private async answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain' }).end('method not allowed\n')
      return
    }
    if (path !== '/metrics') {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('rdma-emu: the metrics are at /metrics\n')
      return
    }
    try {
      const body = await this.scrape()
      res.writeHead(200, { 'Content-Type': this.metrics.contentType })
      res.end(req.method === 'HEAD' ? undefined : body)
    } catch (err) {
      res.writeHead(500, { 'Content-Type': 'text/plain' }).end(`rdma-emu: scrape failed: ${(err as Error).message}\n`)
    }
  }
}
