/**
 * One node's counters as the control plane reports them: its own view
 * (`stats`: pid, uptime, RSS), its RDMA device (`verbs.counters`), and on a
 * server its memory model (`mem.stats`: MRs, pins, ODP, oracle, the pin
 * policy and its leases) and data path (`rdma.dataPathStats`: queue depth,
 * worker counters). `rdma-emu stats` prints them; the metrics endpoint
 * (src/metrics/) exports them.
 */
import type { ControlPlane } from '../../fabric/control-plane.ts'
import type { DataPathStatsReply, MemStatsReply, NodeStatsReply } from '../../fabric/node-message-types.ts'
import type { NodeReply } from '../../fabric/node-messages.ts'
import type { Role } from '../config/defaults.ts'

export interface NodeStats {
  id: string
  role: Role | string
  node: NodeStatsReply
  rdma: NodeReply<'verbs.counters'>
  memory?: MemStatsReply
  dataPath?: DataPathStatsReply
}

/** A node of a running cluster, as a run file names it. */
export interface StatsTarget {
  id: string
  role: Role | string
}

/** Ask node `n` for its counters over `control`, each request bounded by `timeoutMs`. */
export async function queryNodeStats(control: ControlPlane, n: StatsTarget, timeoutMs: number): Promise<NodeStats> {
  const server = n.role === 'server'
  const [node, rdma, memory, dataPath] = await Promise.all([
    control.request(n.id, 'stats', undefined, timeoutMs),
    control.request(n.id, 'verbs.counters', undefined, timeoutMs),
    server ? control.request(n.id, 'mem.stats', undefined, timeoutMs) : undefined,
    server ? control.request(n.id, 'rdma.dataPathStats', undefined, timeoutMs) : undefined,
  ])
  return { id: n.id, role: n.role, node, rdma, ...(memory ? { memory } : {}), ...(dataPath ? { dataPath } : {}) }
}

/** One node's answer to a scrape: its counters, or why it gave none (timeout, gone). */
export type NodeSample = StatsTarget & ({ stats: NodeStats; error?: undefined } | { stats?: undefined; error: string })

/**
 * Every node's counters at once, never failing: a node that does not answer
 * within `timeoutMs` (or whose requests fail) comes back with its error, so a
 * scrape is bounded by the slowest answer or the timeout, whichever is first.
 */
export function sampleNodes(control: ControlPlane, nodes: readonly StatsTarget[], timeoutMs: number): Promise<NodeSample[]> {
  return Promise.all(nodes.map(async (n): Promise<NodeSample> => {
    try {
      return { id: n.id, role: n.role, stats: await queryNodeStats(control, n, timeoutMs) }
    } catch (err) {
      return { id: n.id, role: n.role, error: (err as Error).message }
    }
  }))
}
