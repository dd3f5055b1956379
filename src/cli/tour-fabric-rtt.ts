/** Tour step: ping every ordered pair of nodes over the fabric and print round-trip figures. */
import type { Cluster } from '../launcher/launch-cluster.ts'
import { Msg, type PingPeerBody } from '../launcher/protocol.ts'
import { formatTable } from '../report/table.ts'

export interface TourStep {
  title: string
  run(cluster: Cluster, out: (line: string) => void, opts: { count: number; signal?: AbortSignal }): Promise<void>
}

export const fabricRoundTrips: TourStep = {
  title: 'fabric round trips',
  async run(cluster, out, { count }) {
    const rows: Array<Array<string | number>> = []
    for (const a of cluster.nodes) {
      for (const b of cluster.nodes) {
        if (a.id === b.id) continue
        const body: PingPeerBody = { peer: b.id, count, warmup: Math.min(50, count) }
        const r = await cluster.control.request(a.id, Msg.PING_PEER, body, 60000)
        rows.push([r.from, r.to, r.count, r.minUs.toFixed(1), r.avgUs.toFixed(1), r.p50Us.toFixed(1), r.p99Us.toFixed(1)])
      }
    }
    out(`control-plane ping over the ZeroMQ fabric, ${count} round trips per pair, microseconds:`)
    out('')
    out(formatTable(['FROM', 'TO', 'N', 'MIN µs', 'AVG µs', 'P50 µs', 'P99 µs'], rows, [2, 3, 4, 5, 6]))
  },
}
