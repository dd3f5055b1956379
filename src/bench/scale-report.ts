/** `rdma-emu scale`'s report: a few lines and a table per role (min / median / max), or JSON. */
import { formatTable } from '../report/table.ts'
import type { ScaleNode, ScaleResult } from './scale-bench.ts'

const MiB = 2 ** 20

function spread(values: number[]): { min: number; median: number; max: number; total: number } {
  const v = [...values].sort((a, b) => a - b)
  if (v.length === 0) return { min: 0, median: 0, max: 0, total: 0 }
  const mid = Math.floor(v.length / 2)
  return { min: v[0]!, median: v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2, max: v[v.length - 1]!, total: v.reduce((a, b) => a + b, 0) }
}

function rows(nodes: ScaleNode[], read: (n: ScaleNode) => number | undefined, fmt: (x: number) => string): string[][] {
  const out: string[][] = []
  for (const role of ['server', 'client', 'all']) {
    const of = nodes.filter((n) => role === 'all' || n.role === role).map(read).filter((x): x is number => x !== undefined)
    if (of.length === 0) continue
    const s = spread(of)
    out.push([role === 'all' ? `all ${of.length}` : `${of.length} ${role}s`, fmt(s.min), fmt(s.median), fmt(s.max), fmt(s.total)])
  }
  return out
}

export function formatScale(r: ScaleResult): string {
  const mib = (x: number) => `${(x / MiB).toFixed(1)} MiB`
  const pct = (x: number) => `${x.toFixed(2)} %`
  const w = r.writeBw
  const lines = [
    `rdma-emu scale: ${r.servers + r.clients} nodes (${r.servers} servers with ${r.workersPerServer} data-path workers each, ${r.clients} clients), one machine`,
    `node V8 flags: ${r.nodeFlags.length ? r.nodeFlags.join(' ') : '(none)'}; heartbeat every ${r.heartbeat.intervalMs} ms to every peer (timeout ${r.heartbeat.timeoutMs} ms)`,
    '',
    `time to ready:  ${(r.readyMs / 1000).toFixed(2)} s  (launch until every node has reached every peer)`,
    '',
    'RSS per node, idle:',
    formatTable(['nodes', 'min', 'median', 'max', 'total'], rows(r.nodes, (n) => n.idleRssBytes, mib), [1, 2, 3, 4]),
    '',
    `idle CPU per node over ${(r.idleWindowMs / 1000).toFixed(1)} s (heartbeats and timers; % of one core):`,
    formatTable(['nodes', 'min', 'median', 'max', 'total'], rows(r.nodes, (n) => n.idleCpuPercent, pct), [1, 2, 3, 4]),
    '',
    `write_bw, every client at once (client k -> server k mod ${r.servers}, one QP each, ${w.itersPerClient} x ${w.size} B, -t ${w.txDepth}, -u ${w.qpTimeout}):`,
    `  aggregate ${w.aggregateMiBps.toFixed(1)} MiB/s  (${(w.bytes / MiB).toFixed(0)} MiB in ${(w.wallMs / 1000).toFixed(2)} s; sum of the servers' BW_average ${w.sumOfServersMiBps.toFixed(1)} MiB/s)`,
    `  data check: ${w.problems.length === 0 ? 'ok' : w.problems.join('; ')}`,
    '',
    'RSS per node, after write_bw:',
    formatTable(['nodes', 'min', 'median', 'max', 'total'], rows(r.nodes, (n) => n.loadedRssBytes, mib), [1, 2, 3, 4]),
    '',
    `teardown:  ${(r.teardownMs / 1000).toFixed(2)} s  (stop until every node process has exited)`,
    `left behind: ${r.leftBehind.length === 0 ? 'nothing (no process of the run)' : `processes ${r.leftBehind.join(', ')}`}`,
  ]
  return lines.join('\n') + '\n'
}
