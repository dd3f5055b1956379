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
import { EmuError, ErrorCodes } from '../errors.ts'
import { RemoteVerbs } from '../verbs/remote-verbs.ts'
import type { WorkloadResult, WorkloadSpec } from '../verbs/workload.ts'
import type { BenchOptions } from './bench-options.ts'
import { peakOpsPerSec, rebuildTimeline } from './bandwidth-stats.ts'
import { checkRegion, prepareRegion, type BenchRegion } from './data-check.ts'
import { latencyDurationStats, latencyStats, qpSamples, type LatencyDurationStats, type LatencyStats } from './latency-stats.ts'
import { CpuWindow, type CpuFigures } from './cpu-util.ts'
import { DEF_PORT } from './perftest-options.ts'
import { pingPongProblems, runPingPongs, usesPingPong } from './pingpong-bench.ts'

/** perftest's default port; the CM port of the server's listener (-p sets another). */
export const BENCH_PORT = DEF_PORT
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
/** perftest's figures of a -D latency test (print_report_lat_duration). */
export type LatDurationFigures = { MsgSize: number; n_iterations: number } & LatencyDurationStats

/** One end of a connected QP, as perftest prints it (ctx_print_pingpong_data). */
export interface QpAddress {
  /** 0: a RoCE port has no LID. */
  lid: number
  qpn: number
  /** The initial PSN of the QP's send queue. */
  psn: number
  /** The MR this end offers: the client's workload buffer, the server's target. */
  rkey: number
  vaddr: number
  /** max_rd_atomic (local) / max_dest_rd_atomic (remote): perftest's OUT. */
  outReads: number
}

/** QP k of the run: the client's end (perftest's local address) and the server's (remote address). */
export interface QpAddresses {
  local: QpAddress
  remote: QpAddress
}

export interface BenchOutcome {
  options: BenchOptions
  /** The client nodes that drove the load (one per --clients). */
  clients: string[]
  /** 'MiB/sec' or 'Gb/sec' (bw tests). */
  bwUnit: string
  bw?: BwFigures
  /** Latency figures (-n runs: perftest's; -D runs: ours, beside latDuration). */
  lat?: LatFigures
  /** -D latency tests: perftest's t_avg and tps_average. */
  latDuration?: LatDurationFigures
  /** Every QP's two ends (QPN, PSN, RKey, VAddr), client node by client node. */
  addresses: QpAddresses[]
  /** The connected QPs' path MTU (bytes). */
  mtu: number
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
  /** What the perftest options did (issue 13 item 17, --cpu_util): see PerftestEffects. */
  effects: PerftestEffects
}

/**
 * What the perftest options of the run did, measured: one place, so the JSON
 * can keep it apart from perftest's own keys.
 */
export interface PerftestEffects {
  /** -m / -u: path MTU and ACK timeout of QP 0 at both ends (qp.query after the connection). */
  qp?: { client: { pathMtu: number; timeout: number }; server: { pathMtu: number; timeout: number } }
  /** -Q / -l / -e: completions polled, CQ events taken, postSend calls, summed over the QPs (absent without them). */
  completions?: { polled: number; cqEvents: number; postCalls: number }
  /** --use-srq: the server's SRQ (receives posted to it, and taken from it by the QPs). */
  srq?: { srqn: number; posted: number; taken: number }
  /** --cpu_util: CPU time over the measured window. */
  cpu?: CpuFigures
  /** -H / -U: every latency sample (usec, as reported: half the round trip where perftest halves it), in completion order. */
  samplesUs?: number[]
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
export function benchFigures(o: BenchOptions, results: readonly QpRunResult[], halfRoundTrip: boolean): { bw?: BwFigures; lat?: LatFigures; latDuration?: LatDurationFigures; elapsedMs: number } {
  const elapsedMs = Math.max(...results.map((r) => r.elapsedMs))
  const runs = o.duration !== undefined && o.margin > 0 ? results.map((r) => insideMargins(r, o.txDepth, o.margin * 1000, (o.duration! - o.margin) * 1000)) : results
  const windowMs = o.duration !== undefined && o.margin > 0 ? Math.max(...runs.map((r) => r.elapsedMs)) : elapsedMs
  const ops = runs.reduce((s, r) => s + r.completed, 0)
  const nIterations = o.duration !== undefined ? ops : o.iters * results.length
  if (o.kind === 'lat') {
    const factor = halfRoundTrip ? 0.5 : 1
    const lat = { MsgSize: o.size, n_iterations: nIterations, ...latencyStats(qpSamples(runs.map((r) => r.latenciesUs)), factor) }
    if (o.duration === undefined) return { elapsedMs, lat }
    return { elapsedMs, lat, latDuration: { MsgSize: o.size, n_iterations: nIterations, ...latencyDurationStats(ops, windowMs, runs.length, factor) } }
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
  const clientMrs: Array<{ client: RemoteVerbs; stag: number; iova: number }> = []
  let pd: number | undefined
  let listening = false
  const p = o.perftest
  const port = p.port
  let cpuWindow: CpuWindow | undefined

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
    if (listening) await step(() => server.unlisten(port))
    listening = false
    for (const r of regions.splice(0)) await step(() => server.deregMr(r.mr.stag))
    if (pd !== undefined) {
      const freed = pd
      pd = undefined
      await step(() => server.deallocPd(freed))
    }
  }

  try {
    pd = await server.allocPd()
    for (let k = 0; k < nQps; k++) regions.push(await prepareRegion(server, pd, serverAccess(o), o, k))
    const serverMrAccess = regions[0]!.mr.access

    // Send tests need a receive per send: -n runs post them all up front; -D
    // runs keep a ring of RECV_RING posted and re-post as receives complete;
    // -r keeps that many posted and re-posts, in both.
    const refill = timed || p.rxDepth !== undefined
    const recvDepth = p.rxDepth ?? (timed ? RECV_RING : o.iters)
    // --use-srq: the QPs the listener accepts share one SRQ, and the receives go there.
    if (p.useSrq && nQps > 1) throw new EmuError(ErrorCodes.BAD_ARGUMENT, `--use-srq: with one QP only for now (${nQps} asked for: -q, --clients); the data check keeps one target per QP`)
    await server.listen({ port, pd, ...(send ? { cqDepth: recvDepth + 16, cap: { maxRecvWr: recvDepth } } : {}), ...(p.useSrq ? { srq: { maxWr: recvDepth } } : {}) })
    listening = true
    // -o: our max_rd_atomic and the responder's max_dest_rd_atomic (perftest sets both ends to -o);
    // -m the path MTU (the passive side takes the smaller of both), -u the local ACK timeout.
    const connectOptions = {
      ...(o.outs !== undefined ? { initiatorDepth: o.outs, responderResources: o.outs } : {}),
      ...(p.mtu !== undefined ? { mtu: p.mtu } : {}),
      ...(p.qpTimeout !== undefined ? { timeout: p.qpTimeout } : {}),
    }
    const options = Object.keys(connectOptions).length > 0 ? connectOptions : undefined
    // -t beyond the default send queue: a send queue (and CQ) that holds -t operations.
    const sendQueue = o.txDepth > Params.defaultMaxSendWr ? { cap: { maxSendWr: o.txDepth }, cqDepth: Math.max(Params.defaultCqDepth, o.txDepth + 16) } : {}
    for (const id of clientList) {
      const client = new RemoteVerbs(control, id)
      for (let k = 0; k < o.qps; k++) conns.push({ client, ...(await client.connect(serverId, port, { ...sendQueue, ...(options ? { options } : {}) })) })
    }
    const { path: qpPath, ...qpDepths } = await queryDepths(server, conns[0]!)
    const ends = await Promise.all(conns.map((c) => Promise.all([c.client.queryQp(c.qpn), server.queryQp(c.remoteQpn)])))
    const receivers = send && !pingpong ? conns.map((c, k) => new Receiver(server, c.remoteQpn, regions[k]!, o, k, p.useSrq ? port : undefined)) : []
    for (const r of receivers) await r.post(recvDepth)

    const atomicCas = o.verb === 'atomic' && o.atomicType === 'CMP_AND_SWAP'
    // --cpu_util: every node's CPU time over the measured window (the margins of a -D run).
    if (o.cpuUtil) {
      cpuWindow = new CpuWindow(control, [serverId, ...clientList], timed ? { durationMs: o.duration! * 1000, marginMs: o.margin * 1000 } : undefined)
      cpuWindow.start()
    }
    const timeoutMs = WORKLOAD_MARGIN_MS + (o.duration ?? 0) * 1000
    // write_lat, send_lat: perftest's ping-pong, both ends live (pingpong-bench.ts).
    const pongs = pingpong ? await runPingPongs(server, conns, regions, o, timeoutMs, clientMrs) : undefined
    const workloads = pongs ? Promise.resolve(pongs.map((x) => x.client)) : Promise.all(conns.map((c, k) => {
      const spec: WorkloadSpec = {
        opcode: atomicCas ? WrOpcode.ATOMIC_CMP_AND_SWP : OPCODES[o.verb],
        count: o.iters,
        ...(timed ? { durationMs: o.duration! * 1000 } : {}),
        window: o.txDepth,
        size: o.size,
        remoteAddr: regions[k]!.mr.iova,
        rkey: regions[k]!.mr.stag,
        ...(o.verb === 'atomic' ? (atomicCas ? { compareAdd: 0n, swap: 1n } : { compareAdd: 1n }) : {}),
        // -Q, -l, -e (src/verbs/workload-moderated.ts).
        ...(p.cqMod > 1 ? { signalEvery: p.cqMod } : {}),
        ...(p.postList > 1 ? { postList: p.postList } : {}),
        ...(p.events ? { events: true } : {}),
      }
      return c.client.workload(c.qpn, Math.min(o.txDepth, o.iters) * o.size, spec, timeoutMs)
    }))
    let results: Array<Pick<WorkloadResult, 'completed' | 'errors' | 'firstError' | 'elapsedMs' | 'latenciesUs' | 'atomicResults' | 'localMr' | 'polled' | 'cqEvents' | 'postCalls'>>
    if (send && refill) {
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

    cpuWindow?.stop()
    const problems: string[] = []
    results.forEach((r, k) => {
      if (r.errors > 0) problems.push(`QP ${k}: ${r.errors} completion(s) in error, first ${wcStatusName(r.firstError ?? -1)}`)
      else if (!timed && r.completed !== o.iters) problems.push(`QP ${k}: ${r.completed} of ${o.iters} operations completed`)
      else if (timed && r.completed < 1) problems.push(`QP ${k}: no operation completed in ${o.duration} s`)
    })
    for (const [k, r] of receivers.entries()) problems.push(...(await r.check(results[k]!.completed)))
    for (const [k, x] of (pongs ?? []).entries()) problems.push(...pingPongProblems(k, x))
    const srq = p.useSrq ? await server.querySrq(port) : undefined
    for (let k = 0; k < nQps; k++) problems.push(...(await checkRegion(server, regions[k]!, o, k, results[k]!.atomicResults, results[k]!.completed, pingpong)))
    // Before cleanUp forgets the connections. The local MR: the workload's buffer, or the ping-pong's.
    const addresses = ends.map(([local, remote], k): QpAddresses => {
      const mine = pingpong ? clientMrs[k] : results[k]!.localMr
      return {
        local: { lid: 0, qpn: conns[k]!.qpn, psn: local.sqPsn, rkey: mine?.stag ?? 0, vaddr: mine?.iova ?? 0, outReads: local.maxRdAtomic },
        remote: { lid: 0, qpn: conns[k]!.remoteQpn, psn: remote.sqPsn, rkey: regions[k]!.mr.stag, vaddr: regions[k]!.mr.iova, outReads: remote.maxDestRdAtomic },
      }
    })
    await cleanUp(false)

    const halfRoundTrip = isHalfRoundTrip(o)
    const bwUnit = o.reportGbits ? 'Gb/sec' : 'MiB/sec'
    const figures = benchFigures(o, results, halfRoundTrip)
    // -m and -u as both ends of QP 0 report them (qp.query).
    const effects: PerftestEffects = { qp: qpPath }
    if (p.cqMod > 1 || p.postList > 1 || p.events) {
      effects.completions = { polled: 0, cqEvents: 0, postCalls: 0 }
      for (const r of results) {
        effects.completions.polled += r.polled ?? 0
        effects.completions.cqEvents += r.cqEvents ?? 0
        effects.completions.postCalls += r.postCalls ?? 0
      }
    }
    if (srq) effects.srq = { srqn: srq.srqn, posted: srq.posted, taken: srq.taken }
    const measuredMs = timed && o.margin > 0 ? (o.duration! - 2 * o.margin) * 1000 : figures.elapsedMs
    if (cpuWindow) effects.cpu = await cpuWindow.end(figures.bw?.n_iterations ?? figures.lat!.n_iterations, measuredMs, new Map([[serverId, 'server' as const], ...clientList.map((c) => [c, 'client' as const] as const)]))
    if (p.histogram) effects.samplesUs = Array.from(qpSamples(results.map((r) => r.latenciesUs)), (us) => (halfRoundTrip ? us / 2 : us))
    return {
      options: o, clients: clientList, bwUnit, halfRoundTrip, problems, qpDepths, serverMrAccess, effects, addresses, mtu: ends[0]![0].pathMtu,
      completedPerQp: results.map((r) => r.completed),
      ...figures,
    }
  } catch (err) {
    cpuWindow?.cancel()
    await cleanUp(true)
    throw err
  }
}

async function queryDepths(server: RemoteVerbs, c: Conn): Promise<QpDepths & { path: NonNullable<PerftestEffects['qp']> }> {
  const [client, remote] = await Promise.all([c.client.queryQp(c.qpn), server.queryQp(c.remoteQpn)])
  return {
    client: { maxRdAtomic: client.maxRdAtomic, maxDestRdAtomic: client.maxDestRdAtomic },
    server: { maxRdAtomic: remote.maxRdAtomic, maxDestRdAtomic: remote.maxDestRdAtomic },
    path: { client: { pathMtu: client.pathMtu, timeout: client.timeout }, server: { pathMtu: remote.pathMtu, timeout: remote.timeout } },
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
    /** --use-srq: the receives go to the SRQ of the listener on this port. */
    private readonly srqPort?: number,
  ) {}

  /** Post `n` more receives, each for one whole message into the QP's target. */
  async post(n: number): Promise<void> {
    for (let left = n; left > 0; ) {
      const wrs = []
      for (let i = 0; i < Math.min(left, RECV_CHUNK); i++) wrs.push({ wrId: this.posted + i, sgList: [{ stag: this.region.mr.stag, offset: 0, length: this.o.size }] })
      if (this.srqPort !== undefined) await this.server.postSrqRecv(this.srqPort, wrs)
      else await this.server.postRecv(this.qpn, wrs)
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
