/**
 * Run one perftest-style test on a running cluster: one server is the
 * target, one or more client nodes the load generators. Every QP (-q per
 * client node) gets its own server target (data-check.ts), is connected from
 * its client node, and runs the closed-loop workload inside that node
 * process; all QPs run in parallel. Afterwards the server memory is checked.
 */
import type { ControlPlane } from '../host/control-plane.ts'
import { Access, WrOpcode, wcStatusName } from '../verbs/constants.ts'
import type { Wc } from '../verbs/cq.ts'
import { RemoteVerbs } from '../verbs/remote-verbs.ts'
import type { WorkloadResult, WorkloadSpec } from '../verbs/workload.ts'
import type { BenchOptions } from './bench-options.ts'
import { peakOpsPerSec } from './bandwidth-stats.ts'
import { checkRegion, prepareRegion, type BenchRegion } from './data-check.ts'
import { latencyStats, type LatencyStats } from './latency-stats.ts'

/** perftest's default port; the CM port of the server's listener. */
export const BENCH_PORT = 18515
const SERVER_ACCESS = Access.LOCAL_WRITE | Access.REMOTE_WRITE | Access.REMOTE_READ | Access.REMOTE_ATOMIC
/** Receives posted per control request (send tests). */
const RECV_CHUNK = 1000

export interface BwFigures {
  MsgSize: number
  n_iterations: number
  BW_peak: number
  BW_average: number
  MsgRate: number
}
export type LatFigures = { MsgSize: number; n_iterations: number } & LatencyStats

export interface BenchOutcome {
  options: BenchOptions
  /** The client nodes that drove the load (one per --clients). */
  clients: string[]
  /** 'MiB/sec' or 'Gb/sec' (bw tests). */
  bwUnit: string
  bw?: BwFigures
  lat?: LatFigures
  /** Latency reported as half the measured round trip (write_lat, send_lat), as perftest. */
  halfRoundTrip: boolean
  elapsedMs: number
  /** Empty when every completion succeeded and the server data is right. */
  problems: string[]
}

const OPCODES = {
  write: WrOpcode.RDMA_WRITE,
  read: WrOpcode.RDMA_READ,
  send: WrOpcode.SEND,
  atomic: WrOpcode.ATOMIC_FETCH_AND_ADD,
} as const

/** One QP's closed-loop run, as the figures need it. */
export interface QpRunResult {
  completed: number
  elapsedMs: number
  latenciesUs: readonly number[]
}

/** perftest's figures of parallel QP runs: bandwidth summed over QPs, latency over every operation. */
export function benchFigures(o: BenchOptions, results: readonly QpRunResult[], halfRoundTrip: boolean): { bw?: BwFigures; lat?: LatFigures; elapsedMs: number } {
  const elapsedMs = Math.max(...results.map((r) => r.elapsedMs))
  if (o.kind === 'lat') {
    return { elapsedMs, lat: { MsgSize: o.size, n_iterations: o.iters, ...latencyStats(results.flatMap((r) => r.latenciesUs), halfRoundTrip ? 0.5 : 1) } }
  }
  const ops = results.reduce((s, r) => s + r.completed, 0)
  const toUnit = (bytesPerSec: number) => (o.reportGbits ? (bytesPerSec * 8) / 1e9 : bytesPerSec / 2 ** 20)
  const opsPerSec = elapsedMs > 0 ? ops / (elapsedMs / 1000) : 0
  const peakOps = results.reduce((s, r) => s + peakOpsPerSec(r.latenciesUs, o.txDepth), 0)
  return {
    elapsedMs,
    bw: {
      MsgSize: o.size,
      n_iterations: o.iters,
      BW_peak: toUnit(Math.max(peakOps, opsPerSec) * o.size),
      BW_average: toUnit(opsPerSec * o.size),
      MsgRate: opsPerSec / 1e6,
    },
  }
}

/** Latency is half the round trip for write_lat and send_lat (perftest's ping-pong), the full one otherwise. */
export function isHalfRoundTrip(o: BenchOptions): boolean {
  return o.kind === 'lat' && (o.verb === 'write' || o.verb === 'send')
}

export async function runBench(control: ControlPlane, serverId: string, clientIds: string | readonly string[], o: BenchOptions): Promise<BenchOutcome> {
  const clientList = typeof clientIds === 'string' ? [clientIds] : [...clientIds]
  const server = new RemoteVerbs(control, serverId)
  const pd = await server.allocPd()
  // QP k of client node c is QP number c * qps + k of the run (its target, its data check).
  const nQps = clientList.length * o.qps
  const regions: BenchRegion[] = []
  for (let k = 0; k < nQps; k++) regions.push(await prepareRegion(server, pd, SERVER_ACCESS, o, k))

  const send = o.verb === 'send'
  // Send tests pre-post every receive, so the server's queue and CQ must hold them all.
  await server.listen({ port: BENCH_PORT, pd, ...(send ? { cqDepth: o.iters + 16, cap: { maxRecvWr: o.iters } } : {}) })
  const conns: Array<{ client: RemoteVerbs; qpn: number; remoteQpn: number }> = []
  for (const id of clientList) {
    const client = new RemoteVerbs(control, id)
    for (let k = 0; k < o.qps; k++) conns.push({ client, ...(await client.connect(serverId, BENCH_PORT)) })
  }
  if (send) {
    for (let k = 0; k < nQps; k++) {
      for (let first = 0; first < o.iters; first += RECV_CHUNK) {
        const wrs = []
        for (let i = first; i < Math.min(o.iters, first + RECV_CHUNK); i++) wrs.push({ wrId: i, sgList: [{ stag: regions[k]!.mr.stag, offset: 0, length: o.size }] })
        await server.postRecv(conns[k]!.remoteQpn, wrs)
      }
    }
  }

  const atomicCas = o.verb === 'atomic' && o.atomicType === 'CMP_AND_SWAP'
  const results: WorkloadResult[] = await Promise.all(conns.map((c, k) => {
    const spec: WorkloadSpec = {
      opcode: atomicCas ? WrOpcode.ATOMIC_CMP_AND_SWP : OPCODES[o.verb],
      count: o.iters,
      window: o.txDepth,
      size: o.size,
      remoteAddr: regions[k]!.mr.iova,
      rkey: regions[k]!.mr.stag,
      ...(o.verb === 'atomic' ? (atomicCas ? { compareAdd: 0n, swap: 1n } : { compareAdd: 1n }) : {}),
    }
    return c.client.workload(c.qpn, Math.min(o.txDepth, o.iters) * o.size, spec)
  }))

  const problems: string[] = []
  results.forEach((r, k) => {
    if (r.errors > 0) problems.push(`QP ${k}: ${r.errors} completion(s) in error, first ${wcStatusName(r.firstError ?? -1)}`)
    else if (r.completed !== o.iters) problems.push(`QP ${k}: ${r.completed} of ${o.iters} operations completed`)
  })
  if (send) {
    for (let k = 0; k < nQps; k++) problems.push(...(await checkReceives(server, conns[k]!.remoteQpn, o, k)))
  }
  for (let k = 0; k < nQps; k++) problems.push(...(await checkRegion(server, regions[k]!, o, k, results[k]!.atomicResults)))
  await server.unlisten(BENCH_PORT)
  // Give the server memory back, so runs can follow each other on one cluster.
  for (const r of regions) await server.deregMr(r.mr.stag)

  const halfRoundTrip = isHalfRoundTrip(o)
  const bwUnit = o.reportGbits ? 'Gb/sec' : 'MiB/sec'
  return { options: o, clients: clientList, bwUnit, halfRoundTrip, problems, ...benchFigures(o, results, halfRoundTrip) }
}

/** Every pre-posted receive of QP `k` completed successfully with the full message. */
async function checkReceives(server: RemoteVerbs, qpn: number, o: BenchOptions, k: number): Promise<string[]> {
  const wcs: Wc[] = []
  const deadline = Date.now() + 10_000
  while (wcs.length < o.iters && Date.now() < deadline) {
    wcs.push(...(await server.pollCq(qpn, 'recv', { max: 4096, min: 1, waitMs: 500 })))
  }
  const problems: string[] = []
  if (wcs.length !== o.iters) problems.push(`QP ${k}: server saw ${wcs.length} receive completions for ${o.iters} sends`)
  const bad = wcs.find((w) => w.status !== 0 || w.byteLen !== o.size)
  if (bad) problems.push(`QP ${k}: receive ${bad.wrId} completed with ${wcStatusName(bad.status)}, ${bad.byteLen} bytes (expected ${o.size})`)
  return problems
}
