/**
 * rdma-emu stats [--run-dir DIR] [--json]: ask every node of a running
 * cluster (started by `up`) for its counters over the control plane, and
 * print one row per node: data-plane packets and bytes, MRs, page pins
 * (acquired / released, as /proc/vmstat's nr_foll_pin_*), ODP page faults and
 * invalidated pages (as mlx5's per-MR page_faults / page_invalidations),
 * corruption seen by the oracle, the server's pin policy (layout changes that
 * waited / failed with ETXTBSY / kept pinned blocks, lease breaks / revocations,
 * long-term pins refused), and the data path's queue depth.
 */
import type { DataPathStatsReply, MemStatsReply, NodeStatsReply } from '../../fabric/node-message-types.ts'
import type { NodeReply } from '../../fabric/node-messages.ts'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { Command } from 'commander'
import { EmuError, ErrorCodes } from '../errors.ts'
import { displayPath } from './options.ts'
import { loadConfig } from '../config/load-config.ts'
import { formatTable } from '../report/table.ts'

interface ClusterFile {
  nodes: Array<{ id: string; role: string; pid: number; endpoint: string }>
}

export interface NodeStats {
  id: string
  role: string
  node: NodeStatsReply
  rdma: NodeReply<'verbs.counters'>
  memory?: MemStatsReply
  dataPath?: DataPathStatsReply
}

/** The newest run directory under ./runs that has a cluster file. */
function latestRunDir(): string {
  const base = resolve('runs')
  const dirs = existsSync(base) ? readdirSync(base).sort().reverse() : []
  for (const d of dirs) if (existsSync(join(base, d, 'cluster.json'))) return join(base, d)
  throw new EmuError(ErrorCodes.BAD_ARGUMENT, '--run-dir: no run directory with a cluster.json under ./runs (is `rdma-emu up` running?)')
}

export async function collectStats(runDir: string, timeoutMs = 3000): Promise<NodeStats[]> {
  const file = join(runDir, 'cluster.json')
  if (!existsSync(file)) throw new EmuError(ErrorCodes.BAD_ARGUMENT, `--run-dir: ${displayPath(file)} not found (is it the run directory of \`rdma-emu up\`?)`)
  let cluster: ClusterFile
  try {
    cluster = JSON.parse(readFileSync(file, 'utf8')) as ClusterFile
  } catch (err) {
    throw new EmuError(ErrorCodes.BAD_ARGUMENT, `--run-dir: ${displayPath(file)}: ${(err as Error).message}`)
  }
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
  const control = new ControlPlane(transport, { defaultTimeoutMs: timeoutMs, auth })
  try {
    return await Promise.all(cluster.nodes.map(async (n): Promise<NodeStats> => {
      transport.connect(n.id, n.endpoint)
      const node = await control.request(n.id, 'stats')
      const rdma = await control.request(n.id, 'verbs.counters')
      const out: NodeStats = { id: n.id, role: n.role, node, rdma }
      if (n.role === 'server') {
        out.memory = await control.request(n.id, 'mem.stats')
        out.dataPath = await control.request(n.id, 'rdma.dataPathStats')
      }
      return out
    }))
  } finally {
    control.cancelAll('stats done')
    await transport.close()
  }
}

export function register(program: Command): void {
  program
    .command('stats')
    .description('counters of every node of a running cluster (packets, bytes, MRs, pins, ODP faults, corruption, data path queue)')
    .option('--run-dir <dir>', 'run directory of the `rdma-emu up` to ask (default: the newest under ./runs)')
    .option('--json', 'print JSON instead of the table')
    .action(async (opts: { runDir?: string; json?: boolean }) => {
      const stats = await collectStats(opts.runDir ? resolve(opts.runDir) : latestRunDir())
      if (opts.json) {
        process.stdout.write(JSON.stringify(stats, null, 2) + '\n')
        return
      }
      const rows = stats.map((s) => [
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
      ])
      process.stdout.write(formatTable(['node', 'role', 'pkts in', 'pkts out', 'bytes in', 'bytes out', 'MRs', 'pins acq/rel', 'odp flt/inv', 'corrupt B', 'policy', 'layout wait/ETXTBSY/kept', 'lease brk/rev', 'pins refused', 'data path q'], rows))
    })
}
