/**
 * Two RDMA hosts in one process, for tests of the RC engine: each is the
 * same stack a node runs (a LoopbackTransport, a ControlPlane over it, and
 * attachRdma's device, connection manager and remote-verbs service), on one
 * LoopbackHub. Packet trains go through the real fabric path (device ->
 * fault injector -> control plane DATA frame -> transport -> control plane ->
 * device), with the inline data path on both sides.
 *
 * QP pairs come up to RTS either directly with modify (connectQps: the test
 * chooses every attribute, starting PSNs included) or through the CM over the
 * loopback control plane (`connect` of ./rdma-cluster.ts takes a pair too, with
 * `server` driving host b's verbs as RemoteVerbs drives a server node).
 *
 * Faults: `pair.a.device.faults` / `pair.b.device.faults` hold a seeded
 * FaultInjector on that host's outgoing data plane (a -> b requests, b -> a
 * responses); set them with `faults()`. Every packet a host sends (after the
 * injector) or receives is recorded when `capture` is on; `sent()` decodes them.
 * Netem-style fault rules (fabric/fault-rules.ts) go on a host's rule set
 * (`pair.a.device.rules`, shared with its control plane) with `addRule()`
 * or the `rules` option.
 *
 * close() (also the test's teardown) stops both devices and transports and
 * fails the teardown if a referenced timer or immediate is left behind.
 */
import type { Test } from 'tap'
import { decodePacket, type Packet } from '../../fabric/codec.ts'
import { FaultInjector, type FaultOptions } from '../../fabric/faults.ts'
import type { FaultRule } from '../../fabric/fault-rules.ts'
import { LoopbackHub, type LoopbackTransport } from '../../fabric/loopback-transport.ts'
import { ControlPlane } from '../../fabric/control-plane.ts'
import { attachRdma, type RdmaService } from '../../src/host/rdma-service.ts'
import { QpState } from '../../src/verbs/constants.ts'
import type { Cq } from '../../src/verbs/cq.ts'
import type { RdmaDevice } from '../../src/verbs/device.ts'
import type { Qp, QpCap } from '../../src/verbs/qp.ts'
import { RemoteVerbs } from '../../src/verbs/remote-verbs.ts'
import { CM_QP_ACCESS } from '../../src/verbs/cm.ts'
import type { Mr } from '../../src/memory/stag.ts'
import type { DeviceModel } from '../../src/params.ts'
import { ContiguousMemory } from '../../src/memory/region-memory.ts'
import { ALL_ACCESS, PMEM_ACCESS } from './rdma-connect.ts'

export interface Host {
  id: string
  transport: LoopbackTransport
  control: ControlPlane
  rdma: RdmaService
  device: RdmaDevice
  /** Raw packets this host sent (after fault injection) and received, when capturing. */
  readonly wire: { out: Uint8Array[]; in: Uint8Array[] }
}

export interface EnginePair {
  a: Host
  b: Host
  /** Shaped like RdmaCluster (rdma-cluster.ts) for suites that run over both: a is the local host, b the "server". */
  local: RdmaService
  server: RemoteVerbs
  serverId: string
  close(): Promise<void>
}

export interface EnginePairOptions {
  /** Multiplier on retransmit and RNR timers (default 0.1: timeout 14 is 6.7 ms). */
  timeScale?: number
  /** Device model of both hosts (default 'ibta', as the cluster config's deviceModel). */
  deviceModel?: DeviceModel
  /** Record every data-plane packet (default off). */
  capture?: boolean
  /** Seeded fault injection on a's (requests) and b's (responses) outgoing packets. */
  faults?: { a?: FaultOptions; b?: FaultOptions }
  /** Netem-style fault rules on a's and b's outgoing frames. */
  rules?: { a?: FaultRule[]; b?: FaultRule[] }
  /** Heartbeat interval of both transports (default 0: none); heartbeatTimeoutMs with it. */
  heartbeatIntervalMs?: number
  heartbeatTimeoutMs?: number
  /** Called for every packet a host sends (after fault injection) or receives, as it goes; `original` on a corrupted one. */
  onPacket?: (host: string, dir: 'out' | 'in', pkt: Uint8Array, original?: Uint8Array) => void
}

export const DEFAULT_TIME_SCALE = 0.1

function activeHandles(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout' || r === 'Immediate').length
}

/** Two hosts, "a" and "b", on one loopback hub; torn down with the test. */
export async function startEnginePair(t: Test, o: EnginePairOptions = {}): Promise<EnginePair> {
  const baseline = activeHandles()
  const hub = new LoopbackHub()
  const host = async (id: string): Promise<Host> => {
    // No heartbeats: a host stalled by a loaded machine must not be declared
    // down (and its QPs flushed) in the middle of an engine test.
    const transport = hub.create(id, { heartbeatIntervalMs: o.heartbeatIntervalMs ?? 0, heartbeatTimeoutMs: o.heartbeatTimeoutMs })
    await transport.start()
    const control = new ControlPlane(transport)
    const wire = { out: [] as Uint8Array[], in: [] as Uint8Array[] }
    // Copies: the packet is a view into a train buffer the pool recycles.
    const onPacket = o.capture || o.onPacket
      ? (dir: 'out' | 'in', _peer: string, pkt: Uint8Array, original?: Uint8Array) => {
          if (o.capture) wire[dir].push(Uint8Array.from(pkt))
          o.onPacket?.(id, dir, pkt, original)
        }
      : undefined
    const rdma = attachRdma(control, { timeScale: o.timeScale ?? DEFAULT_TIME_SCALE, deviceModel: o.deviceModel, onPacket })
    return { id, transport, control, rdma, device: rdma.device, wire }
  }
  const a = await host('a')
  const b = await host('b')
  a.transport.connect(b.id, b.transport.endpoint)
  b.transport.connect(a.id, a.transport.endpoint)
  if (o.faults?.a) faults(a, o.faults.a)
  if (o.faults?.b) faults(b, o.faults.b)
  for (const r of o.rules?.a ?? []) addRule(a, r)
  for (const r of o.rules?.b ?? []) addRule(b, r)
  let closed: Promise<void> | undefined
  const close = (): Promise<void> =>
    (closed ??= (async () => {
      for (const h of [a, b]) {
        h.rdma.close()
        h.control.cancelAll('engine pair closed')
      }
      for (const h of [a, b]) await h.transport.close()
      // Frames already handed to the loopback are delivered (and dropped) on the next turn.
      await new Promise((r) => setImmediate(r))
      const left = activeHandles() - baseline
      if (left > 0) throw new Error(`engine pair left ${left} timer(s) or immediate(s) behind: ${process.getActiveResourcesInfo().join(', ')}`)
    })())
  t.teardown(close)
  return { a, b, local: a.rdma, server: new RemoteVerbs(a.control, b.id), serverId: b.id, close }
}

/** Set (or clear, with null) the seeded fault injector on a host's outgoing packets. */
export function faults(h: Host, opts: FaultOptions | null): FaultInjector | undefined {
  h.device.faults = opts ? new FaultInjector(opts) : undefined
  return h.device.faults
}

/** Add a netem-style fault rule to a host's outgoing frames (data packets and control messages). */
export function addRule(h: Host, rule: FaultRule): void {
  h.device.rules.add(rule)
}

/** Resolve once no packet waits in either host's fault queues (delayed or held back), and the frames sent are delivered. */
export async function faultQueuesDrained(pair: EnginePair, ms = 5000): Promise<void> {
  await until('fault queues drained', () => !pair.a.device.faultQueuePending && !pair.b.device.faultQueuePending, ms)
  for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r))
}

/** The packets a host sent (after fault injection), decoded. */
export function sent(h: Host): Packet[] {
  return h.wire.out.map((p) => decodePacket(p))
}

/**
 * The packets a host sent, less retransmissions: the first of each (QP, PSN,
 * opcode). A loaded machine can stall past a short ACK timeout and resend;
 * tests of what a message looks like on the wire read this.
 */
export function firstSent(h: Host): Packet[] {
  const seen = new Set<string>()
  return sent(h).filter((p) => {
    const key = `${p.destQp}:${p.psn}:${p.opcode}`
    if (seen.has(key)) return false
    seen.add(key)
    return true
  })
}

/** The packets a host received, decoded. */
export function received(h: Host): Packet[] {
  return h.wire.in.map((p) => decodePacket(p))
}

export interface QpEnd {
  qp: Qp
  /** Send and receive completions (one CQ). */
  cq: Cq
  pd: number
  /** A registered buffer of `mrBytes` (ALL_ACCESS; PMEM_ACCESS with `pmem`), zero-filled. */
  mr: Mr
  /** mr's bytes. */
  buf: Uint8Array
}

export interface QpPairOptions {
  /** Path MTU (default 4096). */
  mtu?: number
  /** First PSN a sends with (b expects it); default 0. */
  psnA?: number
  /** First PSN b sends with (a expects it); default 0. */
  psnB?: number
  /** ACK timeout exponent (default 14), retry_cnt (7), rnr_retry (7), on both QPs. */
  timeout?: number
  retryCnt?: number
  rnrRetry?: number
  /** RNR timer b asks for in its RNR NAKs (default 1: 10 us, before the time scale). */
  minRnrTimerB?: number
  /** max_rd_atomic of a / max_dest_rd_atomic of b (default 16 both). */
  rdAtomic?: number
  /** max_dest_rd_atomic of b alone (default rdAtomic). */
  destRdAtomicB?: number
  /** Remote rights of b's QP (default the CM's: write, read, atomic). */
  accessB?: number
  capA?: Partial<QpCap>
  capB?: Partial<QpCap>
  /** Size of each side's buffer (default 64 KiB). */
  mrBytes?: number
  /** Each side's buffer stands for persistent memory, registered with PMEM_ACCESS (FLUSH_PERSISTENT); default RAM, ALL_ACCESS. */
  pmem?: boolean
  cqDepth?: number
}

/** An RC QP on each host, each with a CQ, a PD and a buffer, brought to RTS by modify. */
export function connectQps(pair: EnginePair, o: QpPairOptions = {}): { a: QpEnd; b: QpEnd } {
  const end = (h: Host, cap?: Partial<QpCap>): QpEnd => {
    const pd = h.device.allocPd()
    const cq = h.device.createCq(o.cqDepth ?? 16384)
    const qp = h.device.createQp({ pd, sendCq: cq, cap })
    const bytes = new Uint8Array(o.mrBytes ?? 1 << 16)
    const mr = o.pmem ? h.device.regMemory(pd, new ContiguousMemory(bytes, { persistent: true }), PMEM_ACCESS) : h.device.regMr(pd, bytes, ALL_ACCESS)
    return { qp, cq, pd, mr, buf: mr.memory.view(0, mr.length)! }
  }
  const a = end(pair.a, o.capA)
  const b = end(pair.b, o.capB)
  const depth = o.rdAtomic ?? 16
  const up = (me: QpEnd, peer: QpEnd, peerHost: Host, access: number, sqPsn: number, rqPsn: number, minRnrTimer: number, destDepth = depth): void => {
    me.qp.modify({ qpState: QpState.INIT, pkeyIndex: 0, portNum: 1, qpAccessFlags: access })
    me.qp.modify({ qpState: QpState.RTR, destNode: peerHost.id, destQpNum: peer.qp.qpNum, rqPsn, pathMtu: o.mtu ?? 4096, maxDestRdAtomic: destDepth, minRnrTimer })
    me.qp.modify({ qpState: QpState.RTS, sqPsn, timeout: o.timeout ?? 14, retryCnt: o.retryCnt ?? 7, rnrRetry: o.rnrRetry ?? 7, maxRdAtomic: depth })
  }
  up(a, b, pair.b, CM_QP_ACCESS, o.psnA ?? 0, o.psnB ?? 0, 1)
  up(b, a, pair.a, o.accessB ?? CM_QP_ACCESS, o.psnB ?? 0, o.psnA ?? 0, o.minRnrTimerB ?? 1, o.destRdAtomicB)
  return { a, b }
}

/**
 * A seed for which FaultInjector({ drop, seed }) drops exactly the packets at
 * `indices` among the first `total` it sees (and none other): the drops a
 * test wants, found with the real injector rather than imitated.
 */
export function seedDropping(total: number, indices: number[], drop = 1 / total): number {
  const want = [...Array(total).keys()].filter((i) => !indices.includes(i)).join()
  for (let seed = 1; seed < 1_000_000; seed++) {
    if (new FaultInjector({ drop, seed }).apply('probe', [...Array(total).keys()]).join() === want) return seed
  }
  throw new Error(`no seed drops exactly packets ${indices.join()} of ${total}`)
}

/** Resolve once `cond()` holds, checking every few ms; rejects after `ms`. */
export async function until(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 2))
  }
}
