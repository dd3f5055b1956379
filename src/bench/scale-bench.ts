/**
 * `rdma-emu scale`: how a cluster of many nodes on one machine behaves, as a
 * benchmark (figures, not a pass/fail on time). From one generated
 * configuration (S servers, C clients; 4 and 28 by default) it measures:
 *
 * 1. time to ready: launchCluster until every node has reported ready (each
 *    has reached every peer: the full mesh is up);
 * 2. RSS per node, idle (each node's own process.memoryUsage().rss);
 * 3. idle CPU per node over a window (`proc.cpu` before and after): what the
 *    heartbeats of the full mesh and the timers cost when nothing runs;
 * 4. write_bw from every client at once: client k writes to server k mod S,
 *    one QP each, one perftest run per server in parallel (run-bench.ts, with
 *    its data check); the aggregate is the bytes of every QP over the wall
 *    time of the whole phase, beside the sum of the servers' BW_average;
 * 5. RSS per node after that load;
 * 6. teardown: Cluster.stop() until every process has exited; then nothing
 *    may be left: no process whose command line names the run directory.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import type { ClusterConfig } from '../config/defaults.ts'
import { parseConfig } from '../config/load-config.ts'
import { launchCluster, type Cluster } from '../launcher/launch-cluster.ts'
import { nodeFlags } from '../launcher/node-process.ts'
import { sampleNodes } from '../metrics/node-stats.ts'
import { cpuSnapshot } from './cpu-util.ts'
import { parseBenchOptions } from './bench-options.ts'
import { runBench, type BenchOutcome } from './run-bench.ts'

export interface ScaleOptions {
  servers: number
  clients: number
  /** Data-path worker threads of each server (the configuration's default: 2). */
  workers: number
  /** Seconds of the idle CPU window. */
  idleSecs: number
  /** write_bw: bytes per WRITE and WRITEs per client. */
  size: number
  iters: number
  /** write_bw: WRITEs in flight per QP (perftest -t) and the QPs' ACK timeout exponent (perftest -u). */
  txDepth: number
  qpTimeout: number
  runDir: string
  readyTimeoutMs: number
  /** Called with a line of progress (stderr), or not at all. */
  progress?: (line: string) => void
  signal?: AbortSignal
}

/** One node's figures. */
export interface ScaleNode {
  id: string
  role: string
  pid: number
  idleRssBytes: number
  /** CPU time over the idle window / its wall time, % of one core. */
  idleCpuPercent: number
  loadedRssBytes?: number
}

export interface ScaleResult {
  servers: number
  clients: number
  workersPerServer: number
  /** V8 flags every node process started with (Params.nodeV8Flags + RDMA_EMU_NODE_FLAGS). */
  nodeFlags: string[]
  /** The fabric heartbeat of every node (interval and timeout, ms). */
  heartbeat: { intervalMs: number; timeoutMs: number }
  readyMs: number
  idleWindowMs: number
  nodes: ScaleNode[]
  writeBw: {
    size: number
    itersPerClient: number
    txDepth: number
    qpTimeout: number
    /** Every QP's bytes over the wall time of the phase (MiB/s). */
    aggregateMiBps: number
    /** The sum of each server's perftest BW_average (MiB/s). */
    sumOfServersMiBps: number
    wallMs: number
    bytes: number
    problems: string[]
  }
  teardownMs: number
  /** Processes naming the run directory still alive after the teardown (none expected). */
  leftBehind: number[]
}

/** The generated configuration: servers server0.., clients client0.., every port picked free. */
export function scaleConfig(o: Pick<ScaleOptions, 'servers' | 'clients' | 'workers'>): ClusterConfig {
  return parseConfig({
    name: `scale-${o.servers}s-${o.clients}c`,
    logLevel: 'warn',
    // The default heartbeat (every 250 ms to every peer: what idle costs), with a timeout that
    // 32 processes sharing a few cores under the write_bw load do not outlast by accident.
    fabric: { heartbeatIntervalMs: 250, heartbeatTimeoutMs: 10_000 },
    nodes: [
      ...Array.from({ length: o.servers }, (_, i) => ({ id: `server${i}`, role: 'server', port: 0, server: { workers: o.workers } })),
      ...Array.from({ length: o.clients }, (_, i) => ({ id: `client${i}`, role: 'client', port: 0 })),
    ],
  }, 'scale')
}

export async function runScale(o: ScaleOptions): Promise<ScaleResult> {
  const say = o.progress ?? (() => {})
  const config = scaleConfig(o)
  const t0 = performance.now()
  say(`starting ${config.nodes.length} nodes (${o.servers} servers, ${o.clients} clients)`)
  const cluster = await launchCluster({ config, runDir: o.runDir, readyTimeoutMs: o.readyTimeoutMs, signal: o.signal })
  const readyMs = performance.now() - t0
  let stopped = false
  const stop = async (): Promise<number> => {
    stopped = true
    const t = performance.now()
    await cluster.stop()
    return performance.now() - t
  }
  try {
    say(`ready in ${(readyMs / 1000).toFixed(2)} s; idle for ${o.idleSecs} s`)
    const { control } = cluster
    const ids = cluster.nodes.map((n) => n.id)
    // Let the start-up settle (the last pings, the first collections) before the idle window.
    await sleep(1000, undefined, { signal: o.signal })
    const before = await cpuSnapshot(control, ids)
    await sleep(o.idleSecs * 1000, undefined, { signal: o.signal })
    const after = await cpuSnapshot(control, ids)
    const idle = await sampleNodes(control, cluster.nodes, 5000)
    const nodes: ScaleNode[] = cluster.nodes.map((n, i) => {
      const a = before.get(n.id)!
      const b = after.get(n.id)!
      const cpuUs = b.userUs - a.userUs + (b.systemUs - a.systemUs)
      return { id: n.id, role: n.role, pid: n.pid, idleRssBytes: idle[i]!.stats?.node.rssBytes ?? 0, idleCpuPercent: (cpuUs / 1000 / (b.atMs - a.atMs)) * 100 }
    })
    const idleWindowMs = Math.max(...cluster.nodes.map((n) => after.get(n.id)!.atMs - before.get(n.id)!.atMs))

    say(`write_bw: ${o.clients} clients -> ${o.servers} servers, ${o.iters} x ${o.size} B each`)
    const writeBw = await allClientsWriteBw(cluster, o)
    const loaded = await sampleNodes(control, cluster.nodes, 5000)
    loaded.forEach((s, i) => (nodes[i]!.loadedRssBytes = s.stats?.node.rssBytes))

    say('stopping')
    const teardownMs = await stop()
    return {
      servers: o.servers, clients: o.clients, workersPerServer: o.workers, nodeFlags: nodeFlags(),
      heartbeat: { intervalMs: config.fabric.heartbeatIntervalMs, timeoutMs: config.fabric.heartbeatTimeoutMs },
      readyMs, idleWindowMs, nodes, writeBw, teardownMs, leftBehind: leftBehind(o.runDir, nodes.map((n) => n.pid)),
    }
  } finally {
    if (!stopped) await cluster.stop()
  }
}

async function allClientsWriteBw(cluster: Cluster, o: ScaleOptions): Promise<ScaleResult['writeBw']> {
  const servers = cluster.nodes.filter((n) => n.role === 'server').map((n) => n.id)
  const clients = cluster.nodes.filter((n) => n.role === 'client').map((n) => n.id)
  const groups = servers.map((s, i) => ({ server: s, clients: clients.filter((_, k) => k % servers.length === i) })).filter((g) => g.clients.length > 0)
  const bench = parseBenchOptions('write_bw', { size: String(o.size), iters: String(o.iters), txDepth: String(o.txDepth), qpTimeout: String(o.qpTimeout) })
  const t0 = performance.now()
  const outcomes: BenchOutcome[] = await Promise.all(groups.map((g) => runBench(cluster.control, g.server, g.clients, bench)))
  const wallMs = performance.now() - t0
  const ops = outcomes.reduce((s, r) => s + r.completedPerQp.reduce((a, b) => a + b, 0), 0)
  const bytes = ops * o.size
  return {
    size: o.size,
    itersPerClient: o.iters,
    txDepth: o.txDepth,
    qpTimeout: o.qpTimeout,
    aggregateMiBps: bytes / 2 ** 20 / (wallMs / 1000),
    sumOfServersMiBps: outcomes.reduce((s, r) => s + (r.bw?.BW_average ?? 0), 0),
    wallMs,
    bytes,
    problems: outcomes.flatMap((r, i) => r.problems.map((p) => `${groups[i]!.server}: ${p}`)),
  }
}

/** The node processes still alive, and (where /proc is) any process whose command line names the run directory. */
function leftBehind(runDir: string, pids: number[]): number[] {
  const alive = pids.filter((pid) => {
    try {
      process.kill(pid, 0)
      return true
    } catch {
      return false
    }
  })
  if (!existsSync('/proc')) return alive
  return [...new Set([...processesNaming(runDir), ...alive.filter(isLive)])]
}

function isLive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z'
  } catch {
    return false
  }
}

/** Live processes (not zombies) whose command line names `needle`. */
export function processesNaming(needle: string): number[] {
  const pids: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ')
      if (cmd.includes(needle) && isLive(Number(entry))) pids.push(Number(entry))
    } catch {
      // Gone while we looked.
    }
  }
  return pids
}
