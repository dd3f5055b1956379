import t from 'tap'
import { MetricSet } from '../src/metrics/metric-set.ts'
import type { NodeSample, NodeStats } from '../src/metrics/node-stats.ts'
import { parsePromText, sampleValue } from './helpers/prom-text.ts'

// Counter semantics across what a node's own counters do: a node that
// restarts (a new pid, its counters back at zero) or whose counter reads
// lower than before must never make an exported counter go down; what it
// counts after the restart is added on top. A node that does not answer
// keeps its counters, loses its gauges and is rdma_emu_up 0.
function stats(pid: number, pktsSent: number, mrs: number): NodeStats {
  return {
    id: 'client0',
    role: 'client',
    node: { id: 'client0', role: 'client', pid, uptimeMs: 1000, endpoint: 'tcp://127.0.0.1:1', peers: [], control: {}, transport: {}, rssBytes: 1 << 20 },
    rdma: { pktsSent, mrs },
  }
}

const sample = (s: NodeStats): NodeSample => ({ id: s.id, role: s.role, stats: s })

t.test('metrics - exported counters stay monotonic across node restarts', async (t) => {
  const m = new MetricSet()
  const read = async () => parsePromText(await m.text())
  const sent = async () => sampleValue(await read(), 'rdma_emu_packets_sent_total', { node: 'client0', role: 'client' })

  m.update([sample(stats(100, 10, 2))], 0.01)
  t.equal(await sent(), 10, 'first reading taken whole')
  m.update([sample(stats(100, 25, 1))], 0.01)
  t.equal(await sent(), 25, 'same process: what it moved since (15) added')
  t.equal(sampleValue(await read(), 'rdma_emu_mrs', { node: 'client0' }), 1, 'a gauge is the current value, down as well as up')

  m.update([sample(stats(200, 4, 0))], 0.01)
  t.equal(await sent(), 29, 'restarted (new pid, counter at 4): its 4 added, never back to 4')
  m.update([sample(stats(200, 3, 0))], 0.01)
  t.equal(await sent(), 32, 'a counter read lower in the same process is taken as a reset: still up')

  m.update([{ id: 'client0', role: 'client', error: 'no answer' }], 2)
  const silent = await read()
  t.equal(sampleValue(silent, 'rdma_emu_up', { node: 'client0' }), 0, 'a silent node is up 0')
  t.equal(sampleValue(silent, 'rdma_emu_packets_sent_total', { node: 'client0' }), 32, 'its counters keep their last value')
  t.notOk(silent.get('rdma_emu_mrs')!.samples.some((s) => s.labels.node === 'client0'), 'its gauges are left out')
  t.equal(sampleValue(silent, 'rdma_emu_scrape_duration_seconds', {}), 2, 'the scrape took 2 s')

  m.update([sample(stats(200, 10, 0))], 0.01)
  t.equal(await sent(), 39, 'back: what it moved while silent (3 -> 10) is added')
  t.equal(sampleValue(await read(), 'rdma_emu_up', { node: 'client0' }), 1)
})
