/**
 * The verbs objects of the public API, shaped like pyverbs over libibverbs:
 * a Context (the opened device), PD objects, MRs over the program's own
 * buffers, CQs, and RC QPs with the RESET -> INIT -> RTR -> RTS state
 * machine. Each is a thin wrapper over the engine's object (src/verbs), which
 * does the work; `raw` reaches it for what the wrapper does not cover.
 */
import { EmuError, ErrorCodes } from '../errors.ts'
import { Params } from '../params.ts'
import type { Mr } from '../memory/stag.ts'
import type { RecvWr, SendWr, Sge } from '../engine/wqe.ts'
import type { Cq, Wc } from '../verbs/cq.ts'
import type { RdmaDevice } from '../verbs/device.ts'
import type { Qp, QpAttr, QpCap } from '../verbs/qp.ts'
import { qpStateName, type QpStateValue } from '../verbs/constants.ts'
import { CompChannel as RawCompChannel } from '../verbs/comp-channel.ts'
import type { AsyncEvent } from '../verbs/async-events.ts'
import { MW, SRQ, type SrqAttr } from './verbs-storage.ts'

export type { QpAttr, QpCap, RecvWr, SendWr, Sge, Wc }

/** Memory a program registers: its own ArrayBuffer, SharedArrayBuffer, Buffer, Uint8Array or any typed array / DataView. */
export type RegistrableBuffer = ArrayBuffer | SharedArrayBuffer | ArrayBufferView

/** A Uint8Array over the very bytes of `buf` (no copy): what the NIC reads and writes is the program's memory. */
export function bytesOf(buf: RegistrableBuffer): Uint8Array {
  if (buf instanceof Uint8Array) return buf
  if (ArrayBuffer.isView(buf)) return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength)
  if (buf instanceof ArrayBuffer || (typeof SharedArrayBuffer !== 'undefined' && buf instanceof SharedArrayBuffer)) return new Uint8Array(buf)
  throw new EmuError(ErrorCodes.EINVAL, 'regMr: expected an ArrayBuffer, SharedArrayBuffer, Buffer or typed array, or a length')
}

/**
 * An opened RDMA device: `struct ibv_context` from ibv_open_device (pyverbs
 * `Context`). A host has one; its name is the host's fabric id, which is what
 * peers connect to. Create PDs and CQs from it.
 */
export class Context {
  /** The engine's device behind this context. */
  readonly raw: RdmaDevice
  /** This host's fabric id (rdma_cm's address: peers connect to it by this name). */
  readonly name: string
  private closed = false

  constructor(device: RdmaDevice, name: string) {
    this.raw = device
    this.name = name
  }

  /** ibv_alloc_pd: a new protection domain. */
  allocPd(): PD {
    this.check()
    return new PD(this, this.raw.allocPd())
  }

  /**
   * ibv_create_cq with `cqe` entries (a completion beyond that is lost and
   * counted in `overflows`, CQ_ERR is raised and its QP goes to ERR, as
   * rxe_cq_post); on `channel`, cq.reqNotify() arms it for a completion
   * event there.
   */
  createCq(cqe: number = Params.defaultCqDepth, opts: { channel?: CompChannel } = {}): CQ {
    this.check()
    const cq = new CQ(this, this.raw.createCq(cqe, { channel: opts.channel?.raw }))
    opts.channel?.cqs.set(cq.raw, cq)
    return cq
  }

  /** ibv_create_comp_channel (pyverbs `CompChannel`). */
  createCompChannel(): CompChannel {
    this.check()
    return new CompChannel(this)
  }

  /**
   * ibv_get_async_event (pyverbs Context.get_async_event): the next event of
   * this device (QP_FATAL, CQ_ERR, COMM_EST, SQ_DRAINED, SRQ_LIMIT_REACHED,
   * QP_LAST_WQE_REACHED ...), waiting for one; rejects EmuError(TIMEOUT)
   * after `timeoutMs`. Events need no acknowledgement here.
   */
  getAsyncEvent(timeoutMs: number = Params.cqWaitTimeoutMs): Promise<AsyncEvent> {
    return this.raw.asyncEvents.next(timeoutMs)
  }

  /** The async events already raised, oldest first, without waiting. */
  pollAsyncEvents(max = Infinity): AsyncEvent[] {
    return this.raw.asyncEvents.poll(max)
  }

  /** ibv_create_qp: an RC QP in `pd`, in RESET (same as `pd.createQp(init)`). */
  createQp(pd: PD, init: QpInitAttr): QP {
    return pd.createQp(init)
  }

  /** Data-plane counters of this device (packets, bytes, NAKs, retransmissions ...). */
  counters(): Record<string, number> {
    return { ...this.raw.counters, mrs: this.raw.mrs.size }
  }

  /**
   * ibv_close_device: this handle can make no more objects. The device
   * itself belongs to the host and goes when the host does.
   */
  close(): void {
    this.closed = true
  }

  private check(): void {
    if (this.closed) throw new EmuError(ErrorCodes.EINVAL, 'context is closed')
  }
}

/** A protection domain (`struct ibv_pd` from ibv_alloc_pd; pyverbs `PD`): MRs and QPs live in one. */
export class PD {
  readonly context: Context
  /** The PD number on its device. */
  readonly handle: number
  private freed = false

  constructor(context: Context, handle: number) {
    this.context = context
    this.handle = handle
  }

  /**
   * ibv_reg_mr over the program's own memory: `buffer` (no copy: RDMA
   * reads and writes those very bytes) or a fresh zeroed buffer of `length`
   * bytes. `access` is a set of Access flags; REMOTE_WRITE or REMOTE_ATOMIC
   * without LOCAL_WRITE is refused (EINVAL), as the kernel does.
   */
  regMr(buffer: RegistrableBuffer | number, access: number, opts: { iova?: number } = {}): MR {
    this.check()
    const bytes = typeof buffer === 'number' ? buffer : bytesOf(buffer)
    return new MR(this, this.context.raw.regMr(this.handle, bytes, access, opts))
  }

  /**
   * ib_alloc_mr(IB_MR_TYPE_MEM_REG, maxPages): a fast-register MR, usable
   * once mapMrSg() gave it memory and a REG_MR work request (regMrWr())
   * made it valid; LOCAL_INV or a peer's SEND_WITH_INV make it FREE again.
   */
  allocMr(maxPages: number): MR {
    this.check()
    return new MR(this, this.context.raw.allocMr(this.handle, maxPages))
  }

  /** ibv_alloc_mw (pyverbs `MW`): a memory window, type 2 by default. */
  allocMw(type: 1 | 2 = 2): MW {
    this.check()
    return new MW(this, this.context.raw.allocMw(this.handle, type))
  }

  /** ibv_create_srq (pyverbs `SRQ`): a shared receive queue in this PD. */
  createSrq(attr: Partial<SrqAttr> = {}): SRQ {
    this.check()
    return new SRQ(this, this.context.raw.createSrq(this.handle, attr))
  }

  /** ibv_create_qp: an RC QP in this PD, in RESET. */
  createQp(init: QpInitAttr): QP {
    this.check()
    if (init.qpType !== undefined && init.qpType !== 'RC') throw new EmuError(ErrorCodes.EOPNOTSUPP, `qpType ${String(init.qpType)}: only RC QPs are emulated`)
    const recvCq = init.recvCq ?? init.sendCq
    const qp = this.context.raw.createQp({ pd: this.handle, sendCq: init.sendCq.raw, recvCq: recvCq.raw, cap: init.cap, sqSigAll: init.sqSigAll, srq: init.srq?.raw })
    return new QP(this, qp, init.sendCq, recvCq)
  }

  /** ibv_dealloc_pd. EBUSY while MRs or QPs still live in it. */
  dealloc(): void {
    if (this.freed) return
    this.context.raw.deallocPd(this.handle)
    this.freed = true
  }

  private check(): void {
    if (this.freed) throw new EmuError(ErrorCodes.EINVAL, `PD ${this.handle} is deallocated`)
  }
}

/**
 * A memory region (`struct ibv_mr` from ibv_reg_mr; pyverbs `MR`): lkey for
 * local SGEs, rkey for the peer's RDMA and atomic operations, addr (the
 * I/O virtual address of byte 0, what remote operations address) and length.
 */
export class MR {
  readonly pd: PD
  /** The engine's region. */
  readonly raw: Mr
  /** The registered bytes (the program's own memory). */
  readonly buffer: Uint8Array

  constructor(pd: PD, mr: Mr) {
    this.pd = pd
    this.raw = mr
    this.buffer = mr.memory.view(0, mr.length) ?? new Uint8Array(0)
  }

  /** ibv_mr.lkey */
  get lkey(): number {
    return this.raw.stag
  }
  /** ibv_mr.rkey (equal to the lkey, as in rxe) */
  get rkey(): number {
    return this.raw.stag
  }
  /** ibv_mr.addr: the I/O virtual address of the first byte; remote operations address addr + offset. */
  get addr(): number {
    return this.raw.iova
  }
  /** Same as addr (the IOVA, ibv_reg_mr_iova). */
  get iova(): number {
    return this.raw.iova
  }
  /** ibv_mr.length */
  get length(): number {
    return this.raw.length
  }
  /** The Access flags it was registered (or re-registered) with. */
  get access(): number {
    return this.raw.access
  }
  /** False once deregistered. */
  get registered(): boolean {
    return this.pd.context.raw.mrs.byStag(this.raw.stag) === this.raw
  }

  /** A `struct ibv_sge` for [offset, offset + length) of this MR. */
  sge(offset = 0, length: number = this.length - offset): Sge {
    if (!Number.isInteger(offset) || !Number.isInteger(length) || offset < 0 || length < 0 || offset + length > this.length) {
      throw new EmuError(ErrorCodes.EINVAL, `sge ${offset}+${length} outside the MR of ${this.length} bytes`)
    }
    return { addr: this.raw.iova + offset, length, lkey: this.raw.stag }
  }

  /** ibv_rereg_mr (IBV_REREG_MR_CHANGE_ACCESS / CHANGE_PD): the keys stay the same. */
  rereg(change: { access?: number; pd?: PD }): void {
    this.pd.context.raw.reregMr(this.raw, { access: change.access, pd: change.pd?.handle })
    if (change.pd) (this as { pd: PD }).pd = change.pd
  }

  /** ibv_dereg_mr: the keys stop resolving at once (a later access fails with REM_ACCESS_ERR). */
  dereg(): void {
    if (!this.registered) return
    this.pd.context.raw.deregMr(this.raw)
  }
}

/**
 * A completion queue (`struct ibv_cq` from ibv_create_cq; pyverbs `CQ`).
 * poll() is ibv_poll_cq; next() and wait() are the asynchronous form of
 * ibv_req_notify_cq + ibv_get_cq_event + ibv_poll_cq: they resolve when a
 * completion arrives.
 */
export class CQ {
  readonly context: Context
  /** The engine's queue. */
  readonly raw: Cq

  constructor(context: Context, cq: Cq) {
    this.context = context
    this.raw = cq
  }

  /** Number of entries (ibv_cq.cqe). */
  get cqe(): number {
    return this.raw.depth
  }
  /** Completions lost because the queue was full (IBV_EVENT_CQ_ERR). */
  get overflows(): number {
    return this.raw.overflows
  }

  /**
   * ibv_req_notify_cq: arm the CQ for one event on its channel at the next
   * completion, or with `solicitedOnly` the next solicited one (a message
   * sent with SendFlags.SOLICITED, or an unsuccessful receive). EINVAL for
   * a CQ created without a channel.
   */
  reqNotify(solicitedOnly = false): void {
    this.raw.reqNotify(solicitedOnly)
  }

  /** ibv_poll_cq: up to `n` completions, oldest first (possibly none). */
  poll(n = 1): Wc[] {
    return this.raw.poll(n)
  }

  /** The next completion, waiting for it if none is queued; rejects EmuError(TIMEOUT) after `timeoutMs`. */
  next(timeoutMs: number = Params.cqWaitTimeoutMs): Promise<Wc> {
    return this.raw.next(timeoutMs)
  }

  /** The next `n` completions, in order; rejects EmuError(TIMEOUT) when they have not all come within `timeoutMs`. */
  wait(n: number, timeoutMs: number = Params.cqWaitTimeoutMs): Promise<Wc[]> {
    return this.raw.take(n, timeoutMs)
  }
}

/** ibv_qp_init_attr: the CQs, capabilities and signalling of a new QP. */
export interface QpInitAttr {
  sendCq: CQ
  /** Default: the send CQ. */
  recvCq?: CQ
  /** max_send_wr, max_recv_wr, max_send_sge, max_recv_sge. */
  cap?: Partial<QpCap>
  /** sq_sig_all: every send WR completes with a WC, signaled or not. */
  sqSigAll?: boolean
  /** IBV_QPT_RC, the only type emulated. */
  qpType?: 'RC'
  /** Take receives from this shared receive queue (same PD); postRecv on the QP is then EINVAL. */
  srq?: SRQ
}

/**
 * A completion channel (`struct ibv_comp_channel`; pyverbs `CompChannel`):
 * CQs created on it raise one event each time they are armed with
 * reqNotify() and a matching completion arrives.
 */
export class CompChannel {
  readonly context: Context
  /** The engine's channel. */
  readonly raw = new RawCompChannel()
  /** The CQs created on it, by engine queue. */
  readonly cqs = new Map<Cq, CQ>()

  constructor(context: Context) {
    this.context = context
  }

  /** ibv_get_cq_event: the CQ of the next event, waiting for one; rejects EmuError(TIMEOUT) after `timeoutMs`. */
  async getCqEvent(timeoutMs: number = Params.cqWaitTimeoutMs): Promise<CQ> {
    const raw = await this.raw.getCqEvent<Cq>(timeoutMs)
    return this.cqs.get(raw)!
  }

  /** ibv_ack_cq_events: acknowledge `n` events taken for `cq` (EINVAL for more than were taken). */
  ackCqEvents(cq: CQ, n = 1): void {
    this.raw.ackCqEvents(cq.raw, n)
  }

  /** ibv_destroy_comp_channel. */
  destroy(): void {
    this.raw.destroy()
  }
}

/**
 * A reliable-connected queue pair (`struct ibv_qp` from ibv_create_qp;
 * pyverbs `QP`). Walk it RESET -> INIT -> RTR -> RTS with modify() (or let
 * the connection manager do it), then post work requests.
 */
export class QP {
  readonly pd: PD
  readonly sendCq: CQ
  readonly recvCq: CQ
  /** The engine's QP. */
  readonly raw: Qp

  constructor(pd: PD, qp: Qp, sendCq: CQ, recvCq: CQ) {
    this.pd = pd
    this.raw = qp
    this.sendCq = sendCq
    this.recvCq = recvCq
  }

  /** ibv_qp.qp_num */
  get qpNum(): number {
    return this.raw.qpNum
  }
  /** ibv_qp.state (QpState) */
  get state(): QpStateValue {
    return this.raw.state
  }
  /** The state's name (RESET, INIT, RTR, RTS, SQD, SQE, ERR). */
  get stateName(): string {
    return qpStateName(this.raw.state)
  }
  /** The capabilities it was created with. */
  get cap(): QpCap {
    return { ...this.raw.cap }
  }

  /**
   * ibv_modify_qp: apply the attributes given (the attribute mask is the set
   * of fields present). The transition and the mask must be legal as in the
   * kernel's qp_state_table (ib_modify_qp_is_ok): RESET -> INIT needs
   * pkeyIndex, portNum and qpAccessFlags; INIT -> RTR destNode, pathMtu,
   * destQpNum, rqPsn, maxDestRdAtomic and minRnrTimer; RTR -> RTS sqPsn,
   * timeout, retryCnt, rnrRetry and maxRdAtomic; EINVAL otherwise.
   */
  modify(attr: Partial<QpAttr>): void {
    this.raw.modify(attr)
  }

  /** ibv_query_qp: the current attributes, capabilities and state name. */
  query(): QpAttr & { cap: QpCap; stateName: string } {
    return this.raw.query()
  }

  /**
   * ibv_post_send: one WR or a list (ibv_send_wr: opcode WrOpcode, sgList of
   * ibv_sge, sendFlags SendFlags, remoteAddr/rkey, compareAdd/swap, imm).
   * Throws EINVAL in RESET, INIT or RTR; in ERR the WRs complete with
   * WR_FLUSH_ERR.
   */
  postSend(wr: SendWr | SendWr[]): void {
    this.raw.postSend(wr)
  }

  /** ibv_post_recv: one WR or a list. Throws EINVAL in RESET; in ERR the WRs complete with WR_FLUSH_ERR. */
  postRecv(wr: RecvWr | RecvWr[]): void {
    this.raw.postRecv(wr)
  }

  /** ibv_destroy_qp: it stops at once; what was outstanding never completes. */
  destroy(): void {
    this.pd.context.raw.destroyQp(this.raw)
  }
}
