/**
 * rdma-emu stats [--run-dir DIR] [--json] [--watch [--interval S]]: ask
 * every node of a running cluster (started by `up`) for its counters over
 * the control plane (src/metrics/node-stats.ts), and print one row per node:
 * data-plane packets and bytes, MRs, page pins (acquired / released, as
 * /proc/vmstat's nr_foll_pin_*), ODP page faults and invalidated pages (as
 * mlx5's per-MR page_faults / page_invalidations), corruption seen by the
 * oracle, the server's pin policy (layout changes that waited / failed with
 * ETXTBSY / kept pinned blocks, lease breaks / revocations, long-term pins
 * refused), and the data path's queue depth.
 *
 * --watch refreshes the table every --interval seconds (default 2) until
 * SIGINT or SIGTERM, then exits 0; a node that does not answer a refresh
 * shows "no answer" in its row instead of ending the watch. With --json, each
 * refresh is one JSON line.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { InvalidArgumentError, type Command } from 'commander'
import type { ControlPlane } from '../../fabric/control-plane.ts'
import type { ZmqTransport } from '../../fabric/zmq-transport.ts'
import { EmuError, ErrorCodes } from '../errors.ts'
import { queryNodeStats, sampleNodes, type NodeSample, type NodeStats, type StatsTarget } from '../metrics/node-stats.ts'
import { displayPath } from './options.ts'
import { loadConfig } from '../config/load-config.ts'
import { formatTable } from '../report/table.ts'

export type { NodeStats }

interface ClusterFile {
  nodes: Array<StatsTarget & { pid: number; endpoint: string }>
}

interface StatsOpts {
  runDir?: string
  json?: boolean
  watch?: boolean
  interval?: number
}

/** How long each node has to answer one request (ms). */
const REQUEST_TIMEOUT_MS = 3000
const DEFAULT_INTERVAL_S = 2

/** The newest run directory under ./runs that has a cluster file. */
function latestRunDir(): string {
  const base = resolve('runs')
  const dirs = existsSync(base) ? readdirSync(base).sort().reverse() : []
  for (const d of dirs) if (existsSync(join(base, d, 'cluster.json'))) return join(base, d)
  throw new EmuError(ErrorCodes.BAD_ARGUMENT, '--run-dir: no run directory with a cluster.json under ./runs (is `rdma-emu up` running?)')
}

function readCluster(runDir: string): ClusterFile {
  const file = join(runDir, 'cluster.json')
  if (!existsSync(file)) throw new EmuError(ErrorCodes.BAD_ARGUMENT, `--run-dir: ${displayPath(file)} not found (is it the run directory of \`rdma-emu up\`?)`)
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as ClusterFile
  } catch (err) {
    throw new EmuError(ErrorCodes.BAD_ARGUMENT, `--run-dir: ${displayPath(file)}: ${(err as Error).message}`)
  }
}

/** A control plane of our own on the fabric, connected to every node of the run. */
class StatsClient {
  private constructor(readonly nodes: ClusterFile['nodes'], readonly control: ControlPlane, private readonly transport: ZmqTransport) {}

  static async open(runDir: string, timeoutMs: number): Promise<StatsClient> {
    const cluster = readCluster(runDir)
    const { ZmqTransport } = await import('../../fabric/zmq-transport.ts')
    const { ControlPlane } = await import('../../fabric/control-plane.ts')
    // With CURVE (the run's configuration names keys) stats speaks as an admin key.
    const { ControlAuth, transportCurve } = await import('../../fabric/control-auth.ts')
    const { curveIdentity } = await import('../config/security.ts')
    const configFile = join(runDir, 'cluster.config.json')
    const id = `@stats-${process.pid}`
    const auth = new ControlAuth({ self: id, curve: existsSync(configFile) ? curveIdentity(loadConfig(configFile), 'admin') : undefined, enforce: false })
    const transport = new ZmqTransport(id, { bind: 'tcp://127.0.0.1:0', curve: transportCurve(auth.curve, auth) })
    await transport.start()
    for (const n of cluster.nodes) transport.connect(n.id, n.endpoint)
    return new StatsClient(cluster.nodes, new ControlPlane(transport, { defaultTimeoutMs: timeoutMs, auth }), transport)
  }

  async close(): Promise<void> {
    this.control.cancelAll('stats done')
    await this.transport.close()
  }
}

/** Every node's counters; rejects when any node does not answer. */
export async function collectStats(runDir: string, timeoutMs = REQUEST_TIMEOUT_MS): Promise<NodeStats[]> {
  const client = await StatsClient.open(runDir, timeoutMs)
  try {
    return await Promise.all(client.nodes.map((n) => queryNodeStats(client.control, n, timeoutMs)))
  } finally {
    await client.close()
  }
}

const HEADER = ['node', 'role', 'pkts in', 'pkts out', 'bytes in', 'bytes out', 'MRs', 'pins acq/rel', 'odp flt/inv', 'corrupt B', 'policy', 'layout wait/ETXTBSY/kept', 'lease brk/rev', 'pins refused', 'data path q']

function statsRow(s: NodeStats): string[] {
  return [
    s.id, s.role,
    String(s.rdma.pktsReceived), String(s.rdma.pktsSent), String(s.rdma.bytesReceived), String(s.rdma.bytesSent),
    String(s.rdma.mrs),
    s.memory ? `${s.memory.pins.nr_foll_pin_acquired}/${s.memory.pins.nr_foll_pin_released}` : '-',
    s.memory?.odp ? `${s.memory.odp.pageFaults}/${s.memory.odp.pagesInvalidated}` : '-',
    s.memory ? String(s.memory.oracle.corruptBytes) : '-',
    s.memory?.policy?.name ?? '-',
    s.memory?.policy ? `${s.memory.policy.layoutWaited}/${s.memory.policy.layoutFailed}/${s.memory.policy.blocksKept}` : '-',
    s.memory?.policy ? `${s.memory.policy.leases.breaks}/${s.memory.policy.leases.revocations}` : '-',
    s.memory?.policy ? String(s.memory.policy.pinRefusals) : '-',
    s.dataPath ? `${s.dataPath.mode}${s.dataPath.workers ? `(${s.dataPath.workers})` : ''} ${s.dataPath.queueDepth}` : '-',
  ]
}

/** A row for every node of a refresh: its counters, or "no answer" for one that gave none. */
function sampleRow(s: NodeSample): string[] {
  return s.stats ? statsRow(s.stats) : [s.id, String(s.role), 'no answer', ...HEADER.slice(3).map(() => '-')]
}

/** --interval: seconds, a positive number (fractions allowed) up to an hour. */
function secondsArg(value: string): number {
  const n = Number(value)
  if (!/^\s*\d+(\.\d+)?\s*$/.test(value) || !(n >= 0.1 && n <= 3600)) throw new InvalidArgumentError('expected a number of seconds, 0.1-3600')
  return n
}

/**
 * Refresh until SIGINT or SIGTERM: one table (or JSON line) per interval. On
 * a terminal each refresh redraws the screen; otherwise tables follow one
 * another, each under a line with its time.
 */
async function watch(runDir: string, opts: StatsOpts): Promise<void> {
  const intervalMs = (opts.interval ?? DEFAULT_INTERVAL_S) * 1000
  const stop = new AbortController()
  const onSignal = () => stop.abort()
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  const tty = process.stdout.isTTY === true && !opts.json
  let client: StatsClient | undefined
  try {
    client = await StatsClient.open(runDir, REQUEST_TIMEOUT_MS)
    while (!stop.signal.aborted) {
      const samples = await sampleNodes(client.control, client.nodes, REQUEST_TIMEOUT_MS)
      if (stop.signal.aborted) break
      const at = new Date().toISOString()
      if (opts.json) {
        process.stdout.write(JSON.stringify({ at, nodes: samples.map((s) => (s.stats ?? { id: s.id, role: s.role, error: s.error })) }) + '\n')
      } else {
        const head = `rdma-emu stats: ${displayPath(runDir)}  ${at}  (every ${intervalMs / 1000} s; Ctrl-C stops)`
        process.stdout.write(`${tty ? '\x1b[H\x1b[2J' : ''}${head}\n${formatTable(HEADER, samples.map(sampleRow))}\n${tty ? '' : '\n'}`)
      }
      await sleep(intervalMs, undefined, { signal: stop.signal }).catch(() => undefined)
    }
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    await client?.close()
  }
}

export function register(program: Command): void {
  program
    .command('stats')
    .description('counters of every node of a running cluster (packets, bytes, MRs, pins, ODP faults, corruption, data path queue)')
    .option('--run-dir <dir>', 'run directory of the `rdma-emu up` to ask (default: the newest under ./runs)')
    .option('--json', 'print JSON instead of the table (with --watch: one JSON line per refresh)')
    .option('--watch', 'refresh the table until Ctrl-C (SIGINT) or SIGTERM')
    .option('--interval <seconds>', `with --watch: seconds between refreshes (default ${DEFAULT_INTERVAL_S})`, secondsArg)
    .action(async (opts: StatsOpts) => {
      if (opts.interval !== undefined && !opts.watch) throw new EmuError(ErrorCodes.BAD_ARGUMENT, '--interval: only with --watch')
      const runDir = opts.runDir ? resolve(opts.runDir) : latestRunDir()
      if (opts.watch) return watch(runDir, opts)
      const stats = await collectStats(runDir)
      if (opts.json) {
        process.stdout.write(JSON.stringify(stats, null, 2) + '\n')
        return
      }
      process.stdout.write(formatTable(HEADER, stats.map(statsRow)) + '\n')
    })
}
