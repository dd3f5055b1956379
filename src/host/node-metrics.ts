/**
 * The metrics of one node that serves its own (`rdma-emu node` run by hand,
 * with a `metrics` block or --metrics-port): the same series the launcher of
 * `up` exports for every node, read from the node's own services instead of
 * asked over the control plane.
 */
import type { NodeSample } from '../metrics/node-stats.ts'
import type { MetricsServer } from '../metrics/metrics-server.ts'
import type { NodeHandle } from './node-host.ts'

/** The node's counters now, as `stats`, `verbs.counters`, `mem.stats` and `rdma.dataPathStats` answer them. */
export function localSample(node: NodeHandle): NodeSample {
  const { ctx, services } = node
  const { device } = services.rdma
  const memory = services.server?.stats()
  const dataPath = services.dataPath?.stats()
  return {
    id: ctx.id,
    role: ctx.role,
    stats: {
      id: ctx.id,
      role: ctx.role,
      node: node.stats(),
      rdma: { ...device.counters, mrs: device.mrs.size },
      ...(memory ? { memory } : {}),
      ...(dataPath ? { dataPath } : {}),
    },
  }
}

/** Serve `node`'s own metrics on `server` until the node shuts down. */
export function serveNodeMetrics(node: NodeHandle, server: MetricsServer): void {
  server.setSource(async () => [localSample(node)])
  node.ctx.onShutdown(() => server.close())
}
