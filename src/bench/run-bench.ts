/**
 * Run one perftest-style test on a running cluster: one server is the
 * target, one or more client nodes the load generators. Every QP (-q per
 * client node) gets its own server target (data-check.ts), is connected from
 * its client node, and runs the closed-loop workload inside that node
 * process; all QPs run in parallel. Afterwards the server memory is checked.
 */
import type { ControlPlane } from '../../fabric/control-plane.ts'
import { Access, WrOpcode, wcStatusName } from '../verbs/constants.ts'
import type { Wc } from '../verbs/cq.ts'
import { Params } from '../params.ts'
import { RemoteVerbs } from '../verbs/remote-verbs.ts'
import type { WorkloadResult, WorkloadSpec } from '../verbs/workload.ts'
import type { BenchOptions } from './bench-options.ts'
import { peakOpsPerSec, rebuildTimeline } from './bandwidth-stats.ts'
import { checkRegion, prepareRegion, type BenchRegion } from './data-check.ts'
import { latencyStats, type LatencyStats } from './latency-stats.ts'
import { pingPongProblems, runPingPongs, usesPingPong } from './pingpong-bench.ts'

/** perftest's default port; the CM port of the server's listener. */
export const BENCH_PORT = 18515
const SERVER_ACCESS = Access.LOCAL_WRITE | Access.REMOTE_WRITE | Access.REMOTE_READ | Access.REMOTE_ATOMIC
/** Receives posted per control request (send tests). */
const RECV_CHUNK = 1000
/** Receives kept posted per QP in a -D send test (re-posted as they complete). */
export const RECV_RING = 4096
/** How long a remote workload may take beyond its duration (drain, slow machines). */
const WORKLOAD_MARGIN_MS = 120_000

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
  /** Operations each QP completed (-n runs: the iterations; -D runs: what fitted in the duration). */
  completedPerQp: number[]
  /** Access flags of the server MRs as the server registered them (ON_DEMAND with --odp). */
  serverMrAccess: number
  /** Read/atomic depths of QP 0 as its two ends report them (`qp.query`), after the connection. */
  qpDepths: QpDepths
  /** Empty when every completion succeeded and the server data is right. */
  problems: string[]
}

/** max_rd_atomic / max_dest_rd_atomic of the client's QP and of the server's QP it is connected to. */
export interface QpDepths {
  client: { maxRdAtomic: number; maxDestRdAtomic: number }
  server: { maxRdAtomic: number; maxDestRdAtomic: number }
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

/**
 * perftest's figures of parallel QP runs: bandwidth summed over QPs, latency
 * over every operation. n_iterations is -n x QPs for -n runs (perftest's
 * iterations x num_of_qps); for -D runs it is the operations completed inside
 * the margins (-f, perftest's margin: the first and last `margin` seconds are
 * dropped), summed over every QP, and the figures cover only that window.
 * BW_peak is 0 when the options turn the peak off (-N, -D, -n above 20000).
 */
export function benchFigures(o: BenchOptions, results: readonly QpRunResult[], halfRoundTrip: boolean): { bw?: BwFigures; lat?: LatFigures; elapsedMs: number } {
  const elapsedMs = Math.max(...results.map((r) => r.elapsedMs))
  const runs = o.duration !== undefined && o.margin > 0 ? results.map((r) => insideMargins(r, o.txDepth, o.margin * 1000, (o.duration! - o.margin) * 1000)) : results
  const windowMs = o.duration !== undefined && o.margin > 0 ? Math.max(...runs.map((r) => r.elapsedMs)) : elapsedMs
  const ops = runs.reduce((s, r) => s + r.completed, 0)
  const nIterations = o.duration !== undefined ? ops : o.iters * results.length
  if (o.kind === 'lat') {
    return { elapsedMs, lat: { MsgSize: o.size, n_iterations: nIterations, ...latencyStats(runs.flatMap((r) => r.latenciesUs), halfRoundTrip ? 0.5 : 1) } }
  }
  const toUnit = (bytesPerSec: number) => (o.reportGbits ? (bytesPerSec * 8) / 1e9 : bytesPerSec / 2 ** 20)
  const opsPerSec = windowMs > 0 ? ops / (windowMs / 1000) : 0
  const peakOps = o.peak ? results.reduce((s, r) => s + peakOpsPerSec(r.latenciesUs, o.txDepth), 0) : 0
  return {
    elapsedMs,
    bw: {
      MsgSize: o.size,
      n_iterations: nIterations,
      BW_peak: o.peak ? toUnit(Math.max(peakOps, opsPerSec) * o.size) : 0,
      BW_average: toUnit(opsPerSec * o.size),
      MsgRate: opsPerSec / 1e6,
    },
  }
}

/**
 * The part of one QP's -D run that perftest measures: the operations that
 * completed between `fromMs` and `toMs` (the run's own end when it stopped
 * earlier), with elapsedMs the length of that window.
 */
export function insideMargins(r: QpRunResult, window: number, fromMs: number, toMs: number): QpRunResult {
  const { completed } = rebuildTimeline(r.latenciesUs, window)
  const end = Math.min(toMs, r.elapsedMs)
  const latenciesUs: number[] = []
  for (let j = 0; j < completed.length; j++) {
    const atMs = completed[j]! / 1000
    if (atMs >= fromMs && atMs <= end) latenciesUs.push(r.latenciesUs[j]!)
  }
  return { completed: latenciesUs.length, elapsedMs: Math.max(0, end - fromMs), latenciesUs }
}

/** Latency is half the round trip for write_lat and send_lat (perftest's ping-pong), the full one otherwise. */
export function isHalfRoundTrip(o: BenchOptions): boolean {
  return o.kind === 'lat' && (o.verb === 'write' || o.verb === 'send')
}

/** The server MRs' access: remote write, read and atomics, plus ON_DEMAND with --odp. */
export function serverAccess(o: Pick<BenchOptions, 'odp'>): number {
  return SERVER_ACCESS | (o.odp ? Access.ON_DEMAND : 0)
}

interface Conn {
  client: RemoteVerbs
  qpn: number
  pd: number
  remoteQpn: number
}

export async function runBench(control: ControlPlane, serverId: string, clientIds: string | readonly string[], o: BenchOptions): Promise<BenchOutcome> {
  const clientList = typeof clientIds === 'string' ? [clientIds] : [...clientIds]
  const server = new RemoteVerbs(control, serverId)
  // QP k of client node c is QP number c * qps + k of the run (its target, its data check).
  const nQps = clientList.length * o.qps
  const send = o.verb === 'send'
  const timed = o.duration !== undefined
  const pingpong = usesPingPong(o)
  const regions: BenchRegion[] = []
  const conns: Conn[] = []
  /** Ping-pong buffers registered on the client nodes. */
  const clientMrs: Array<{ client: RemoteVerbs; stag: number }> = []
  let pd: number | undefined
  let listening = false

  // Everything the run set up goes again, on the server and the client nodes,
  // so runs can follow each other on one cluster (bench --attach).
  const cleanUp = async (quiet: boolean): Promise<void> => {
    const step = async (fn: () => Promise<void>) => {
      try {
        await fn()
      } catch (err) {
        if (!quiet) throw err
      }
    }
    for (const c of conns.splice(0)) await step(() => c.client.disconnect(c.qpn))
    for (const m of clientMrs.splice(0)) await step(() => m.client.deregMr(m.stag))
    if (listening) await step(() => server.unlisten(BENCH_PORT))
    listening = false
    for (const r of regions.splice(0)) await step(() => server.deregMr(r.mr.stag))
    if (pd !== undefined) {
      const p = pd
      pd = undefined
      await step(() => server.deallocPd(p))
    }
  }

  try {
    pd = await server.allocPd()
    for (let k = 0; k < nQps; k++) regions.push(await prepareRegion(server, pd, serverAccess(o), o, k))
    const serverMrAccess = regions[0]!.mr.access

    // Send tests need a receive per send: -n runs post them all up front; -D
    // runs keep a ring of RECV_RING posted and re-post as receives complete.
    const recvDepth = timed ? RECV_RING : o.iters
    await server.listen({ port: BENCH_PORT, pd, ...(send ? { cqDepth: recvDepth + 16, cap: { maxRecvWr: recvDepth } } : {}) })
    listening = true
    // -o: our max_rd_atomic and the responder's max_dest_rd_atomic (perftest sets both ends to -o).
    const options = o.outs !== undefined ? { initiatorDepth: o.outs, responderResources: o.outs } : undefined
    // -t beyond the default send queue: a send queue (and CQ) that holds -t operations.
    const sendQueue = o.txDepth > Params.defaultMaxSendWr ? { cap: { maxSendWr: o.txDepth }, cqDepth: Math.max(Params.defaultCqDepth, o.txDepth + 16) } : {}
    for (const id of clientList) {
      const client = new RemoteVerbs(control, id)
      for (let k = 0; k < o.qps; k++) conns.push({ client, ...(await client.connect(serverId, BENCH_PORT, { ...sendQueue, ...(options ? { options } : {}) })) })
    }
    const qpDepths = await queryDepths(server, conns[0]!)
    const receivers = send && !pingpong ? conns.map((c, k) => new Receiver(server, c.remoteQpn, regions[k]!, o, k)) : []
    for (const r of receivers) await r.post(recvDepth)

    const atomicCas = o.verb === 'atomic' && o.atomicType === 'CMP_AND_SWAP'
    const timeoutMs = WORKLOAD_MARGIN_MS + (o.duration ?? 0) * 1000
    const pongs = pingpong ? await runPingPongs(server, conns, regions, o, timeoutMs, clientMrs) : undefined
    const workloads = pongs ? Promise.resolve(pongs.map((p) => p.client)) : Promise.all(conns.map((c, k) => {
      const spec: WorkloadSpec = {
        opcode: atomicCas ? WrOpcode.ATOMIC_CMP_AND_SWP : OPCODES[o.verb],
        count: o.iters,
        ...(timed ? { durationMs: o.duration! * 1000 } : {}),
        window: o.txDepth,
        size: o.size,
        remoteAddr: regions[k]!.mr.iova,
        rkey: regions[k]!.mr.stag,
        ...(o.verb === 'atomic' ? (atomicCas ? { compareAdd: 0n, swap: 1n } : { compareAdd: 1n }) : {}),
      }
      return c.client.workload(c.qpn, Math.min(o.txDepth, o.iters) * o.size, spec, timeoutMs)
    }))
    let results: Array<Pick<WorkloadResult, 'completed' | 'errors' | 'firstError' | 'elapsedMs' | 'latenciesUs' | 'atomicResults'>>
    if (send && timed) {
      const done = { value: false }
      const refills = Promise.all(receivers.map((r) => r.refillWhile(done)))
      try {
        results = await workloads
      } finally {
        done.value = true
        await refills.catch(() => {})
      }
      await refills
    } else {
      results = await workloads
    }

    const problems: string[] = []
    results.forEach((r, k) => {
      if (r.errors > 0) problems.push(`QP ${k}: ${r.errors} completion(s) in error, first ${wcStatusName(r.firstError ?? -1)}`)
      else if (!timed && r.completed !== o.iters) problems.push(`QP ${k}: ${r.completed} of ${o.iters} operations completed`)
      else if (timed && r.completed < 1) problems.push(`QP ${k}: no operation completed in ${o.duration} s`)
    })
    for (const [k, r] of receivers.entries()) problems.push(...(await r.check(results[k]!.completed)))
    for (const [k, p] of (pongs ?? []).entries()) problems.push(...pingPongProblems(k, p))
    for (let k = 0; k < nQps; k++) problems.push(...(await checkRegion(server, regions[k]!, o, k, results[k]!.atomicResults, results[k]!.completed, pingpong)))
    await cleanUp(false)

    const halfRoundTrip = isHalfRoundTrip(o)
    const bwUnit = o.reportGbits ? 'Gb/sec' : 'MiB/sec'
    return {
      options: o, clients: clientList, bwUnit, halfRoundTrip, problems, qpDepths, serverMrAccess,
      completedPerQp: results.map((r) => r.completed),
      ...benchFigures(o, results, halfRoundTrip),
    }
  } catch (err) {
    await cleanUp(true)
    throw err
  }
}

async function queryDepths(server: RemoteVerbs, c: Conn): Promise<QpDepths> {
  const [client, remote] = await Promise.all([c.client.queryQp(c.qpn), server.queryQp(c.remoteQpn)])
  return {
    client: { maxRdAtomic: client.maxRdAtomic, maxDestRdAtomic: client.maxDestRdAtomic },
    server: { maxRdAtomic: remote.maxRdAtomic, maxDestRdAtomic: remote.maxDestRdAtomic },
  }
}

/** The receive side of one send-test QP on the server: posts receives, collects and checks their completions. */
class Receiver {
  private posted = 0
  private received = 0
  private firstBad: Wc | undefined

  constructor(
    private readonly server: RemoteVerbs,
    private readonly qpn: number,
    private readonly region: BenchRegion,
    private readonly o: BenchOptions,
    private readonly k: number,
  ) {}

  /** Post `n` more receives, each for one whole message into the QP's target. */
  async post(n: number): Promise<void> {
    for (let left = n; left > 0; ) {
      const wrs = []
      for (let i = 0; i < Math.min(left, RECV_CHUNK); i++) wrs.push({ wrId: this.posted + i, sgList: [{ stag: this.region.mr.stag, offset: 0, length: this.o.size }] })
      await this.server.postRecv(this.qpn, wrs)
      this.posted += wrs.length
      left -= wrs.length
    }
  }

  private take(wcs: readonly Wc[]): void {
    this.received += wcs.length
    this.firstBad ??= wcs.find((w) => w.status !== 0 || w.byteLen !== this.o.size)
  }

  /** -D: while the sends run, re-post a receive for every one that completed. */
  async refillWhile(done: { value: boolean }): Promise<void> {
    while (!done.value) {
      const wcs = await this.server.pollCq(this.qpn, 'recv', { max: RECV_CHUNK, min: 1, waitMs: 200 })
      this.take(wcs)
      if (wcs.length > 0 && !done.value) await this.post(wcs.length)
    }
  }

  /** After the run: every one of the `sends` sends completed a receive with the full message. */
  async check(sends: number): Promise<string[]> {
    const deadline = Date.now() + 10_000
    while (this.received < sends && Date.now() < deadline) {
      this.take(await this.server.pollCq(this.qpn, 'recv', { max: 4096, min: 1, waitMs: 500 }))
    }
    const problems: string[] = []
    if (this.received !== sends) problems.push(`QP ${this.k}: server saw ${this.received} receive completions for ${sends} sends`)
    const bad = this.firstBad
    if (bad) problems.push(`QP ${this.k}: receive ${bad.wrId} completed with ${wcStatusName(bad.status)}, ${bad.byteLen} bytes (expected ${this.o.size})`)
    return problems
  }
}
