import { EmuError, ErrorCodes } from '../errors.ts'
import { DEVICE_MODELS, Params, type DeviceModel } from '../params.ts'
import { decodePacket, encodePacket, type PacketInit } from '../../fabric/codec.ts'
import { buildIcrcTrain, buildTrain } from '../../fabric/frame.ts'
import type { FaultInjector } from '../../fabric/faults.ts'
import { FaultRuleSet } from '../../fabric/fault-rules.ts'
import { fabricIcrc, ICRC_SIZE, readIcrc } from '../../fabric/icrc.ts'
import { NetemPipeline, type WirePacket } from '../../fabric/netem.ts'
import { newEngineCounters, type EngineCounters } from '../engine/counters.ts'
import { completerReceive } from '../engine/completer.ts'
import { Mask, opInfo } from '../engine/opcodes.ts'
import { runRequester } from '../engine/requester.ts'
import { responderReceive } from '../engine/responder.ts'
import { flushPendingAck } from '../engine/responder-ack.ts'
import { InlineDataPath, type DataPath } from '../engine/data-path.ts'
import { checkPmemPages, ContiguousMemory, type RegionMemory } from '../memory/region-memory.ts'
import { checkAccessFlags, MrTable, type DeregCause, type Mr } from '../memory/stag.ts'
import { QpState } from './constants.ts'
import { AsyncEventQueue } from './async-events.ts'
import { Cq } from './cq.ts'
import { Qp, type QpCap, type QpHost } from './qp.ts'
import { AsyncEventType } from './async-events.ts'
import { MwTable, type Mw } from './mw.ts'
import { Srq, type SrqAttr } from './srq.ts'
import { allocMr, mapMrSg } from './fast-reg.ts'
import type { CompChannel } from './comp-channel.ts'

/** Where a device's packet trains go: the fabric (or a test loop). */
export interface PacketWire {
  /** Send a train laid out by buildTrain(), or by buildIcrcTrain() when `icrc`. */
  sendTrain(peer: string, train: Uint8Array, icrc?: boolean): void
}

/**
 * Observer of every data-plane packet. `original` is set on an outgoing
 * packet a fault rule corrupted: the packet before the bit flip (captures
 * record the corrupted bytes with the original's ICRC).
 */
export type PacketObserver = (dir: 'out' | 'in', peer: string, pkt: Uint8Array, original?: Uint8Array) => void

export interface DeviceOptions {
  /** Multiplier on transport timers (retransmit, RNR), from the cluster config. */
  timeScale?: number
  /** Where rxe and the IBTA differ, which one this device follows (the cluster config's `deviceModel`; default 'ibta'). */
  deviceModel?: DeviceModel
  /** Data-plane fault injection on outgoing trains (the legacy rdma.faults injector). */
  faults?: FaultInjector
  /** This host's node id: what fault rules match their `from` against. */
  nodeId?: string
  /** The node's fault rules (shared with its control plane); a fresh empty set when absent. */
  rules?: FaultRuleSet
  /** Observer for every data-plane packet (captures). */
  onPacket?: PacketObserver
}

export interface CreateQpOptions {
  pd: number
  sendCq: Cq
  recvCq?: Cq
  cap?: Partial<QpCap>
  sqSigAll?: boolean
  owner?: string
  /** Take receives from this shared receive queue (of the same PD). */
  srq?: Srq
}

/**
 * The RDMA device of one host (struct ibv_context plus rxe's device): PDs,
 * MRs, CQs and QPs, and the data-plane glue: received trains are decoded and
 * dispatched by destination QP to the responder (requests) or the completer
 * (responses); packets the engines emit are batched into one train per peer
 * and sent once per event-loop turn (doorbell batching).
 */
export class RdmaDevice implements QpHost {
  readonly mrs = new MrTable()
  readonly counters: EngineCounters = newEngineCounters()
  /** Asynchronous events (ibv_get_async_event): QP_FATAL, CQ_ERR, SQ_DRAINED ... */
  readonly asyncEvents = new AsyncEventQueue()
  /** Memory windows (ibv_alloc_mw); their rkeys resolve through it. */
  readonly mws = new MwTable()
  private readonly srqs = new Map<number, Srq>()
  private nextSrqn = 1
  /** QPs that raised COMM_EST (the first request received in RTR). */
  private readonly established = new WeakSet<Qp>()
  readonly timeScale: number
  /** 'ibta' (hardware) or 'rxe' (soft-RoCE's quirks): see DeviceModel in src/params.ts. */
  readonly model: DeviceModel
  private readonly wire: PacketWire
  /** Fault injection on outgoing trains (settable at run time by fault commands). */
  faults?: FaultInjector
  /** The node's netem-style fault rules (fabric/fault-rules.ts), applied per link to outgoing packets. */
  readonly rules: FaultRuleSet
  private readonly netem: NetemPipeline
  private readonly onPacket?: PacketObserver
  private readonly qps = new Map<number, Qp>()
  private readonly pds = new Set<number>()
  private nextPd = 1
  private nextCqn = 1
  private nextQpn: number = Params.firstQpn
  /** Per peer: packets waiting for the next train (encoded, or to encode into it). */
  private readonly out = new Map<string, Array<Uint8Array | PacketInit>>()
  private readonly runnable = new Set<Qp>()
  /** QPs whose requester restarts a retransmission on the next loop turn (kickLater). */
  private readonly retrying = new Set<Qp>()
  private retryScheduled = false
  private scheduled = false
  private closed = false
  onQpError?: (qp: Qp, reason: string) => void
  /** The responder's data path: inline by default; a server swaps in worker threads. */
  dataPath: DataPath = new InlineDataPath((qp, pkt) => this.emit(qp.attr.destNode, pkt))

  constructor(wire: PacketWire, opts: DeviceOptions = {}) {
    this.wire = wire
    this.timeScale = opts.timeScale ?? 1
    if (!(this.timeScale > 0)) throw new EmuError(ErrorCodes.EINVAL, `timeScale must be > 0, got ${this.timeScale}`)
    this.model = opts.deviceModel ?? 'ibta'
    if (!DEVICE_MODELS.includes(this.model)) throw new EmuError(ErrorCodes.EINVAL, `deviceModel must be one of ${DEVICE_MODELS.join(', ')}, got ${String(this.model)}`)
    this.faults = opts.faults
    this.onPacket = opts.onPacket
    this.rules = opts.rules ?? new FaultRuleSet(opts.nodeId ?? '')
    this.netem = new NetemPipeline(this.rules, (peer, pkts) => this.sendImpaired(peer, pkts))
  }

  // ---- objects ----

  allocPd(): number {
    const pd = this.nextPd++
    this.pds.add(pd)
    return pd
  }

  deallocPd(pd: number): void {
    for (const mr of this.mrs.all()) if (mr.pd === pd) throw new EmuError(ErrorCodes.EBUSY, `PD ${pd} still has MRs`)
    for (const qp of this.qps.values()) if (qp.pd === pd) throw new EmuError(ErrorCodes.EBUSY, `PD ${pd} still has QPs`)
    for (const srq of this.srqs.values()) if (srq.pd === pd) throw new EmuError(ErrorCodes.EBUSY, `PD ${pd} still has SRQs`)
    if (this.mws.inPd(pd)) throw new EmuError(ErrorCodes.EBUSY, `PD ${pd} still has memory windows`)
    if (!this.pds.delete(pd)) throw new EmuError(ErrorCodes.EINVAL, `no PD ${pd}`)
  }

  private checkPd(pd: number): void {
    if (!this.pds.has(pd)) throw new EmuError(ErrorCodes.EINVAL, `no PD ${pd}`)
  }

  /** ibv_reg_mr over a buffer (or a fresh zeroed one of `length` bytes). */
  regMr(pd: number, buf: Uint8Array | number, access: number, opts: { iova?: number; owner?: string } = {}): Mr {
    if (typeof buf === 'number') {
      if (!Number.isInteger(buf) || buf < 0 || buf > Params.maxMessageSize) throw new EmuError(ErrorCodes.EINVAL, `bad MR length ${buf}`)
      buf = new Uint8Array(buf)
    }
    return this.regMemory(pd, new ContiguousMemory(buf), access, opts)
  }

  /**
   * ibv_reg_mr over any region memory (file ranges, ODP ...). EINVAL for
   * FLUSH_PERSISTENT over memory that is not persistent (checkPmemPages, as
   * rxe_mr_init_user).
   */
  regMemory(pd: number, memory: RegionMemory, access: number, opts: { iova?: number; owner?: string } = {}): Mr {
    this.checkPd(pd)
    checkAccessFlags(access)
    checkPmemPages(memory, access)
    return this.mrs.register(pd, memory, access, opts.iova, opts.owner)
  }

  reregMr(mr: Mr, change: { access?: number; pd?: number }): void {
    if (change.pd !== undefined) this.checkPd(change.pd)
    this.mrs.reregister(mr, change)
  }

  deregMr(mr: Mr, cause?: DeregCause): void {
    // rxe_dereg_mr: not while memory windows are bound over it (an owner's clean-up goes ahead).
    if (cause !== 'owner-gone' && this.mws.boundOver(mr) > 0) throw new EmuError(ErrorCodes.EBUSY, `MR 0x${mr.stag.toString(16)} has memory windows bound`)
    this.mrs.deregister(mr, cause)
  }

  /** ib_alloc_mr(IB_MR_TYPE_MEM_REG): a fast-register MR of up to `maxPages` pages, FREE until a REG_MR WR (src/verbs/fast-reg.ts). */
  allocMr(pd: number, maxPages: number, opts: { owner?: string } = {}): Mr {
    this.checkPd(pd)
    return allocMr(this.mrs, pd, maxPages, opts.owner)
  }

  /** ib_map_mr_sg: the buffer the next REG_MR maps, at `iova`. Returns the pages it spans. */
  mapMrSg(mr: Mr, buf: Uint8Array | RegionMemory, iova: number): number {
    return mapMrSg(mr, buf, iova)
  }

  /** ibv_alloc_mw: a memory window of `type` (2 by default) in `pd`. */
  allocMw(pd: number, type: 1 | 2 = 2): Mw {
    this.checkPd(pd)
    return this.mws.alloc(pd, type)
  }

  /** ibv_dealloc_mw: its rkey stops resolving at once. */
  deallocMw(mw: Mw): void {
    this.mws.dealloc(mw)
  }

  /** ibv_create_srq */
  createSrq(pd: number, attr: Partial<SrqAttr> = {}): Srq {
    this.checkPd(pd)
    const srq = new Srq(this, this.nextSrqn++, pd, attr)
    this.srqs.set(srq.srqn, srq)
    return srq
  }

  /** ibv_destroy_srq: EBUSY while a QP uses it. */
  destroySrq(srq: Srq): void {
    srq.destroy()
    this.srqs.delete(srq.srqn)
  }

  /**
   * ibv_create_cq. A completion the CQ has no room for fails as in
   * rxe_cq_post: CQ_ERR is raised on the async event queue and the QP whose
   * completion it was goes to ERR.
   */
  createCq(depth: number = Params.defaultCqDepth, opts: { channel?: CompChannel } = {}): Cq {
    const cq = new Cq(depth)
    cq.channel = opts.channel
    cq.cqn = this.nextCqn++
    cq.onOverrun = (wc) => {
      this.asyncEvents.push({ type: AsyncEventType.CQ_ERR, cqn: cq.cqn, qpn: wc.qpNum, reason: `CQ ${cq.cqn} overrun (depth ${cq.depth})` })
      this.qps.get(wc.qpNum)?.toError(`CQ ${cq.cqn} overrun`)
    }
    return cq
  }

  createQp(o: CreateQpOptions): Qp {
    this.checkPd(o.pd)
    if (o.srq && (o.srq.destroyed || o.srq.pd !== o.pd)) throw new EmuError(ErrorCodes.EINVAL, `SRQ ${o.srq.srqn} is destroyed or in another PD`)
    const qpn = this.allocQpn()
    const qp = new Qp(this, qpn, { pd: o.pd, sendCq: o.sendCq, recvCq: o.recvCq ?? o.sendCq, cap: o.cap, sqSigAll: o.sqSigAll, srq: o.srq })
    qp.owner = o.owner
    o.srq?.users.add(qpn)
    this.qps.set(qpn, qp)
    return qp
  }

  destroyQp(qp: Qp): void {
    qp.stopTimers()
    this.runnable.delete(qp)
    this.qps.delete(qp.qpNum)
    qp.srq?.users.delete(qp.qpNum)
  }

  qp(qpn: number): Qp | undefined {
    return this.qps.get(qpn)
  }

  allQps(): IterableIterator<Qp> {
    return this.qps.values()
  }

  private allocQpn(): number {
    for (let i = 0; i < 0xffffff; i++) {
      const q = this.nextQpn
      this.nextQpn = this.nextQpn >= 0xffffff ? Params.firstQpn : this.nextQpn + 1
      if (!this.qps.has(q)) return q
    }
    throw new EmuError(ErrorCodes.ENOMEM, 'no free QP number')
  }

  // ---- data plane ----

  /**
   * A train of packets arrived from `from`. Never throws: bad packets are
   * counted and dropped. With `icrc` each packet ends in its ICRC, checked
   * as a NIC checks it: a mismatch is dropped and counted (icrcErrors).
   */
  receiveTrain(from: string, packets: Uint8Array[], icrc = false): void {
    const c = this.counters
    c.trainsReceived++
    const touched = new Set<Qp>()
    for (let raw of packets) {
      c.pktsReceived++
      if (icrc) {
        if (raw.length < ICRC_SIZE) {
          c.badPackets++
          continue
        }
        const body = raw.subarray(0, raw.length - ICRC_SIZE)
        if (readIcrc(raw, body.length) !== fabricIcrc(body)) {
          c.icrcErrors++
          continue
        }
        raw = body
      }
      c.bytesReceived += raw.length
      this.onPacket?.('in', from, raw)
      let pkt
      try {
        pkt = decodePacket(raw)
      } catch {
        c.badPackets++
        continue
      }
      const qp = this.qps.get(pkt.destQp)
      if (!qp || qp.attr.destNode !== from) {
        c.unknownQp++
        continue
      }
      const mask = opInfo(pkt.opcode)!.mask
      // IBTA 11.6.3: the first request received in RTR establishes communication (IBV_EVENT_COMM_EST).
      if (mask & Mask.REQ && qp.state === QpState.RTR && !this.established.has(qp)) {
        this.established.add(qp)
        this.asyncEvents.push({ type: AsyncEventType.COMM_EST, qpn: qp.qpNum })
      }
      try {
        if (mask & Mask.REQ) {
          responderReceive(qp, pkt)
          touched.add(qp)
        } else {
          completerReceive(qp, pkt)
        }
      } catch (err) {
        // An engine bug must not take the node down: count it, fail the QP.
        c.badPackets++
        qp.toError(`internal error: ${(err as Error).message}`, AsyncEventType.QP_FATAL)
      }
    }
    for (const qp of touched) {
      if (qp.state !== QpState.ERR && !qp.resp.failed) flushPendingAck(qp)
      this.dataPath.commit(qp, touched.size === 1)
    }
    this.schedule()
  }

  emit(node: string, pkt: Uint8Array | PacketInit): void {
    let q = this.out.get(node)
    if (!q) this.out.set(node, (q = []))
    q.push(pkt)
    this.schedule()
  }

  kick(qp: Qp): void {
    this.runnable.add(qp)
    this.schedule()
  }

  kickLater(qp: Qp): void {
    this.retrying.add(qp)
    if (this.retryScheduled || this.closed) return
    this.retryScheduled = true
    setImmediate(() => {
      this.retryScheduled = false
      for (const q of this.retrying) this.runnable.add(q)
      this.retrying.clear()
      this.pump()
    })
  }

  /**
   * Run the pump once the current JavaScript turn is done: posts, received
   * trains and the completions they trigger in one turn share one train per
   * peer (doorbell batching), and the train leaves without waiting for the
   * event loop to come round (a setImmediate costs 8-15 us of latency per
   * hop here). A requester that still has work after its run continues in a
   * later loop turn, so a long queue never starves fabric input.
   */
  private schedule(): void {
    if (this.scheduled || this.closed) return
    this.scheduled = true
    queueMicrotask(this.pumpNow)
  }

  private readonly pumpNow = (): void => this.pump()

  /** Run requesters, then send one train per peer. */
  private pump(): void {
    this.scheduled = false
    if (this.closed) return
    const again: Qp[] = []
    for (const qp of this.runnable) {
      this.runnable.delete(qp)
      // A retransmission waits for its own turn (kickLater puts it back).
      if (this.retrying.has(qp)) continue
      if (runRequester(qp)) again.push(qp)
    }
    for (const qp of again) this.runnable.add(qp)
    this.flushTrains()
    if (this.runnable.size && !this.scheduled && !this.closed) {
      this.scheduled = true
      setImmediate(this.pumpNow)
    }
  }

  private flushTrains(): void {
    const c = this.counters
    for (const [node, pkts] of this.out) {
      this.out.delete(node)
      const items = this.faults ? this.faults.apply(node, pkts) : pkts
      if (items.length === 0) continue
      if (this.rules.size > 0 && this.netem.applies(node)) {
        // Encoded now: a delayed packet carries the memory as it was when sent.
        this.netem.submit(node, items.map((it) => (it instanceof Uint8Array ? Uint8Array.from(it) : encodePacket(it))))
        continue
      }
      const onPacket = this.onPacket
      const train = buildTrain(items, onPacket && ((p) => onPacket('out', node, p)))
      c.pktsSent += items.length
      c.bytesSent += train.length - 4 * items.length
      c.trainsSent++
      this.wire.sendTrain(node, train)
    }
  }

  /** True while packets delayed or held back by the fault rules wait to be sent. */
  get faultQueuePending(): boolean {
    return this.netem.pending
  }

  /** Send packets that went through the fault rules (fabric/netem.ts) as one train. */
  private sendImpaired(node: string, pkts: WirePacket[]): void {
    const c = this.counters
    const onPacket = this.onPacket
    let bytes = 0
    for (const p of pkts) {
      bytes += p.bytes.length
      onPacket?.('out', node, p.bytes, p.original)
    }
    const icrc = pkts.some((p) => p.icrc !== undefined)
    const packets = pkts.map((p) => p.bytes)
    const train = icrc ? buildIcrcTrain(packets, pkts.map((p) => p.icrc ?? fabricIcrc(p.original ?? p.bytes))) : buildTrain(packets)
    c.pktsSent += pkts.length
    c.bytesSent += bytes
    c.trainsSent++
    this.wire.sendTrain(node, train, icrc)
  }

  /** Move every QP talking to `node` to ERR (the peer is gone). */
  peerLost(node: string): void {
    for (const qp of this.qps.values()) if (qp.attr.destNode === node && qp.state !== QpState.RESET) qp.toError(`peer ${node} lost`, AsyncEventType.QP_FATAL)
  }

  close(): void {
    this.closed = true
    this.netem.close()
    for (const qp of this.qps.values()) qp.stopTimers()
    void this.dataPath.close()
  }
}
