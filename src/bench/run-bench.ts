/**
 * Run one perftest-style test on a running cluster: the first server is the
 * target, the first client the load generator. Every QP gets its own server
 * target (data-check.ts), is connected from the client node, and runs the
 * closed-loop workload inside the client node process; the QPs run in
 * parallel. Afterwards the server memory is checked.
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

export async function runBench(control: ControlPlane, serverId: string, clientId: string, o: BenchOptions): Promise<BenchOutcome> {
  const server = new RemoteVerbs(control, serverId)
  const client = new RemoteVerbs(control, clientId)
  const pd = await server.allocPd()
  const regions: BenchRegion[] = []
  for (let k = 0; k < o.qps; k++) regions.push(await prepareRegion(server, pd, SERVER_ACCESS, o, k))

  const send = o.verb === 'send'
  // Send tests pre-post every receive, so the server's queue and CQ must hold them all.
  await server.listen({ port: BENCH_PORT, pd, ...(send ? { cqDepth: o.iters + 16, cap: { maxRecvWr: o.iters } } : {}) })
  const conns = []
  for (let k = 0; k < o.qps; k++) conns.push(await client.connect(serverId, BENCH_PORT))
  if (send) {
    for (let k = 0; k < o.qps; k++) {
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
    return client.workload(c.qpn, Math.min(o.txDepth, o.iters) * o.size, spec)
  }))

  const problems: string[] = []
  results.forEach((r, k) => {
    if (r.errors > 0) problems.push(`QP ${k}: ${r.errors} completion(s) in error, first ${wcStatusName(r.firstError ?? -1)}`)
    else if (r.completed !== o.iters) problems.push(`QP ${k}: ${r.completed} of ${o.iters} operations completed`)
  })
  if (send) {
    for (let k = 0; k < o.qps; k++) problems.push(...(await checkReceives(server, conns[k]!.remoteQpn, o, k)))
  }
  for (let k = 0; k < o.qps; k++) problems.push(...(await checkRegion(server, regions[k]!, o, k, results[k]!.atomicResults)))
  await server.unlisten(BENCH_PORT)
  // Give the server memory back, so runs can follow each other on one cluster.
  for (const r of regions) await server.deregMr(r.mr.stag)

  const elapsedMs = Math.max(...results.map((r) => r.elapsedMs))
  const halfRoundTrip = o.kind === 'lat' && (o.verb === 'write' || o.verb === 'send')
  const gbits = o.reportGbits
  const bwUnit = gbits ? 'Gb/sec' : 'MiB/sec'
  const outcome: BenchOutcome = { options: o, bwUnit, halfRoundTrip, elapsedMs, problems }
  if (o.kind === 'bw') {
    const ops = results.reduce((s, r) => s + r.completed, 0)
    const toUnit = (bytesPerSec: number) => (gbits ? (bytesPerSec * 8) / 1e9 : bytesPerSec / 2 ** 20)
    const opsPerSec = elapsedMs > 0 ? ops / (elapsedMs / 1000) : 0
    const peakOps = results.reduce((s, r) => s + peakOpsPerSec(r.latenciesUs, o.txDepth), 0)
    outcome.bw = {
      MsgSize: o.size,
      n_iterations: o.iters,
      BW_peak: toUnit(Math.max(peakOps, opsPerSec) * o.size),
      BW_average: toUnit(opsPerSec * o.size),
      MsgRate: opsPerSec / 1e6,
    }
  } else {
    outcome.lat = { MsgSize: o.size, n_iterations: o.iters, ...latencyStats(results.flatMap((r) => r.latenciesUs), halfRoundTrip ? 0.5 : 1) }
  }
  return outcome
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
