import { EmuError, ErrorCodes } from '../errors.ts'
import { Params } from '../params.ts'
import { Fifo, type RecvWqe, type SendWqe, type RecvWr, type SendWr } from '../engine/wqe.ts'
import type { CompleterState, EngineQp, QpAttr, QpCap, QpHost, RequesterState, ResponderState } from '../engine/engine-qp.ts'
import { armRetransmitTimer, completeHead } from '../engine/completer.ts'
import { postSend, rewindTo } from '../engine/requester.ts'
import { postRecv } from '../engine/responder.ts'
import { QpState, qpStateName, type QpStateValue, WcOpcode, WcStatus, WrOpcode } from './constants.ts'
import type { Cq } from './cq.ts'
import { AsyncEventType, type AsyncEventTypeValue } from './async-events.ts'
import type { Srq } from './srq.ts'
import { checkModify } from './qp-state-table.ts'

export type { CompleterState, QpAttr, QpCap, QpHost, RequesterState, RespResource, ResponderState } from '../engine/engine-qp.ts'

function checkRange(name: string, v: number | undefined, lo: number, hi: number): void {
  if (v === undefined) return
  if (!Number.isInteger(v) || v < lo || v > hi) throw new EmuError(ErrorCodes.EINVAL, `${name} must be an integer ${lo}-${hi}, got ${v}`)
}

/** roundup_pow_of_two, with rxe's 0 kept as 0 (rxe_qp_from_attr). */
function roundUpPow2(n: number): number {
  return n === 0 ? 0 : 2 ** Math.ceil(Math.log2(n))
}

/**
 * An RC queue pair: attributes, the state machine of qp_state_table
 * (ib_modify_qp_is_ok, ./qp-state-table.ts), and the per-engine state the requester,
 * responder and completer modules work on (EngineQp). Like rxe_qp.c, it
 * wires the engine's roles together.
 */
export class Qp implements EngineQp {
  readonly qpNum: number
  readonly pd: number
  readonly sendCq: Cq
  readonly recvCq: Cq
  readonly cap: QpCap
  readonly sqSigAll: boolean
  readonly host: QpHost
  readonly attr: QpAttr
  readonly sq = new Fifo<SendWqe>()
  readonly rq = new Fifo<RecvWqe>()
  /** The shared receive queue its receives come from (ibv_qp_init_attr.srq). */
  readonly srq?: Srq
  readonly req: RequesterState
  readonly comp: CompleterState
  readonly resp: ResponderState
  /** Free-form owner tag (e.g. the peer that created it remotely). */
  owner?: string

  constructor(host: QpHost, qpNum: number, init: { pd: number; sendCq: Cq; recvCq: Cq; cap?: Partial<QpCap>; sqSigAll?: boolean; srq?: Srq }) {
    this.host = host
    this.qpNum = qpNum
    this.pd = init.pd
    this.sendCq = init.sendCq
    this.recvCq = init.recvCq
    this.srq = init.srq
    const cap = init.cap ?? {}
    this.cap = {
      maxSendWr: cap.maxSendWr ?? Params.defaultMaxSendWr,
      maxRecvWr: cap.maxRecvWr ?? Params.defaultMaxRecvWr,
      maxSendSge: cap.maxSendSge ?? Params.defaultMaxSge,
      maxRecvSge: cap.maxRecvSge ?? Params.defaultMaxSge,
    }
    for (const [k, v] of Object.entries(this.cap)) checkRange(`cap.${k}`, v, 1, Params.maxQpCap)
    this.sqSigAll = init.sqSigAll ?? false
    this.attr = {
      qpState: QpState.RESET,
      pathMtu: Params.defaultMtu,
      destQpNum: 0,
      destNode: '',
      rqPsn: 0,
      sqPsn: 0,
      timeout: Params.defaultTimeout,
      retryCnt: Params.defaultRetryCnt,
      rnrRetry: Params.defaultRnrRetry,
      minRnrTimer: Params.defaultMinRnrTimer,
      maxRdAtomic: Params.defaultMaxRdAtomic,
      maxDestRdAtomic: Params.defaultMaxRdAtomic,
      qpAccessFlags: 0,
      pkeyIndex: 0,
      portNum: Params.portNum,
      enSqdAsyncNotify: false,
    }
    this.req = { idx: 0, pkt: 0, nextPsn: 0, noackPkts: 0, rdInflight: 0, rnrWait: false, drainEnd: -1, startedEnd: 0 }
    this.comp = { retryLeft: 0, rnrLeft: 0, timer: undefined, rnrTimer: undefined, lastProgress: 0, nakRetryPsn: -1 }
    this.resp = {
      epsn: 0, msn: 0, nakSent: false, recv: undefined, recvOff: 0,
      writeMr: undefined, writeOff: 0, writeResid: 0, ring: [], ringPos: 0, pendingAck: -1, failed: false,
    }
  }

  get state(): QpStateValue {
    return this.attr.qpState
  }

  /** ibv_query_qp */
  query(): QpAttr & { cap: QpCap; stateName: string } {
    return { ...this.attr, cap: { ...this.cap }, stateName: qpStateName(this.attr.qpState) }
  }

  /**
   * ibv_modify_qp: apply `change`, whose fields are the attribute mask. The
   * transition and the mask must be legal for it (qp_state_table), the
   * values in range (rxe_qp_chk_attr); EINVAL otherwise, and nothing changes.
   * max_rd_atomic and max_dest_rd_atomic are rounded up to a power of two
   * (rxe_qp_from_attr). RTS -> SQD drains the send queue (rxe_qp_sqd).
   */
  modify(change: Partial<QpAttr>): void {
    const cur = this.attr.qpState
    const next = change.qpState ?? cur
    if (!Object.values(QpState).includes(next)) throw new EmuError(ErrorCodes.EINVAL, `bad qpState ${String(next)}`)
    checkModify(cur, next, change)
    // __qp_chk_state: a QP still draining its send queue may only go to ERR.
    if (change.qpState !== undefined && cur === QpState.SQD && this.sqDraining && next !== QpState.ERR) {
      throw new EmuError(ErrorCodes.EINVAL, `${qpStateName(cur)} -> ${qpStateName(next)} while the send queue is still draining`)
    }
    if (change.pathMtu !== undefined && !(Params.mtus as readonly number[]).includes(change.pathMtu)) {
      throw new EmuError(ErrorCodes.EINVAL, `pathMtu must be one of ${Params.mtus.join(', ')}, got ${change.pathMtu}`)
    }
    if (change.portNum !== undefined && change.portNum !== Params.portNum) {
      throw new EmuError(ErrorCodes.EINVAL, `portNum must be ${Params.portNum} (the device's only port), got ${change.portNum}`)
    }
    checkRange('timeout', change.timeout, 0, 31)
    checkRange('retryCnt', change.retryCnt, 0, 7)
    checkRange('rnrRetry', change.rnrRetry, 0, 7)
    checkRange('minRnrTimer', change.minRnrTimer, 0, 31)
    checkRange('maxRdAtomic', change.maxRdAtomic, 0, Params.maxQpRdAtomic)
    checkRange('maxDestRdAtomic', change.maxDestRdAtomic, 0, 255)
    checkRange('pkeyIndex', change.pkeyIndex, 0, 0)
    checkRange('rqPsn', change.rqPsn, 0, Params.psnMask)
    checkRange('sqPsn', change.sqPsn, 0, Params.psnMask)
    checkRange('destQpNum', change.destQpNum, 0, 0xffffff)
    if (change.destNode !== undefined && !change.destNode) throw new EmuError(ErrorCodes.EINVAL, 'destNode (the address vector) must name a node')
    const { qpState: _ignored, ...rest } = change
    for (const [k, v] of Object.entries(rest)) if (v !== undefined) (this.attr as unknown as Record<string, unknown>)[k] = v
    if (change.maxRdAtomic !== undefined) this.attr.maxRdAtomic = roundUpPow2(change.maxRdAtomic)
    if (change.maxDestRdAtomic !== undefined) this.attr.maxDestRdAtomic = roundUpPow2(change.maxDestRdAtomic)
    if (next === cur) return
    if (next === QpState.ERR) {
      this.toError('modified to ERR')
      return
    }
    this.attr.qpState = next
    if (next === QpState.RESET) this.reset()
    if (next === QpState.RTR) {
      this.resp.epsn = this.attr.rqPsn
      this.resp.ring = []
      this.resp.ringPos = 0
    }
    if (next === QpState.RTS && cur === QpState.RTR) {
      this.req.nextPsn = this.attr.sqPsn
      this.comp.retryLeft = this.attr.retryCnt
      this.comp.rnrLeft = this.attr.rnrRetry
    }
    if (next === QpState.SQD) this.startDrain()
    if (next === QpState.RTS) {
      this.req.drainEnd = -1
      this.host.kick(this)
    }
  }

  /** The send queue is draining (RTS -> SQD, until SQ_DRAINED). */
  sqDraining = false

  /**
   * rxe_qp_sqd: the requester finishes the WQEs it has started and starts no
   * new one; once they have completed the drain is done.
   */
  private startDrain(): void {
    this.sqDraining = true
    this.req.drainEnd = Math.max(this.req.startedEnd, this.sq.base)
    this.checkSqDrained()
    if (this.sqDraining) this.host.kick(this)
  }

  /**
   * req_check_sq_drain_done: in SQD, once every WQE started before the drain
   * has completed, the drain is done and SQ_DRAINED is raised. The `ibta`
   * model raises it only when enSqdAsyncNotify asked for it (IB_QP_EN_SQD_ASYNC_NOTIFY);
   * rxe raises it always.
   */
  checkSqDrained(): void {
    if (this.attr.qpState !== QpState.SQD || !this.sqDraining || this.sq.base < this.req.drainEnd) return
    this.sqDraining = false
    if (this.host.model === 'rxe' || this.attr.enSqdAsyncNotify) {
      this.host.asyncEvents.push({ type: AsyncEventType.SQ_DRAINED, qpn: this.qpNum, reason: 'send queue drained' })
    }
  }

  /**
   * Enter ERR: post the remaining send and receive WQEs as WR_FLUSH_ERR
   * completions (always, signaled or not), stop timers.
   */
  toError(reason: string, event?: AsyncEventTypeValue): void {
    if (this.attr.qpState === QpState.ERR) return
    this.attr.qpState = QpState.ERR
    this.sqDraining = false
    this.req.drainEnd = -1
    this.stopTimers()
    for (const wqe of this.sq.clear()) {
      this.sendCq.push({ wrId: wqe.wrId, status: WcStatus.WR_FLUSH_ERR, opcode: 0, byteLen: 0, qpNum: this.qpNum, srcQp: 0, wcFlags: 0 })
    }
    this.req.idx = this.sq.base
    this.req.startedEnd = this.sq.base
    this.req.pkt = 0
    this.req.rdInflight = 0
    if (this.resp.recv) this.rq.push(this.resp.recv)
    this.resp.recv = undefined
    for (const r of this.rq.clear()) {
      this.recvCq.push({ wrId: r.wrId, status: WcStatus.WR_FLUSH_ERR, opcode: WcOpcode.RECV, byteLen: 0, qpNum: this.qpNum, srcQp: 0, wcFlags: 0 }, true)
    }
    const ev = this.host.asyncEvents
    // The affiliated error the cause raises (QP_FATAL, QP_REQ_ERR, QP_ACCESS_ERR), if any.
    if (event !== undefined) ev?.push({ type: event, qpn: this.qpNum, reason })
    // rxe flush_recv_queue: a QP on an SRQ reports its last WQE (IBV_EVENT_QP_LAST_WQE_REACHED).
    if (this.srq) ev?.push({ type: AsyncEventType.QP_LAST_WQE_REACHED, qpn: this.qpNum, srqn: this.srq.srqn, reason })
    this.host.onQpError?.(this, reason)
  }

  stopTimers(): void {
    if (this.comp.timer) clearTimeout(this.comp.timer)
    if (this.comp.rnrTimer) clearTimeout(this.comp.rnrTimer)
    this.comp.timer = undefined
    this.comp.rnrTimer = undefined
  }

  private reset(): void {
    this.stopTimers()
    this.sq.clear()
    this.rq.clear()
    this.sqDraining = false
    Object.assign(this.req, { idx: this.sq.base, pkt: 0, nextPsn: 0, noackPkts: 0, rdInflight: 0, rnrWait: false, drainEnd: -1, startedEnd: this.sq.base })
    Object.assign(this.resp, {
      epsn: 0, msn: 0, nakSent: false, recv: undefined, recvOff: 0,
      writeMr: undefined, writeOff: 0, writeResid: 0, ring: [], ringPos: 0, pendingAck: -1, failed: false,
    })
  }

  /**
   * Reads, atomics and the like this QP may have in flight (max_rd_atomic).
   * 0 means none, as in rxe's check_init_depth: such a WQE never leaves and
   * the send queue waits behind it.
   */
  get rdAtomicLimit(): number {
    return this.attr.maxRdAtomic
  }

  armRetransmitTimer(): void {
    armRetransmitTimer(this)
  }

  completeHead(status: number): void {
    completeHead(this, status)
  }

  rewindRequester(psn: number): void {
    rewindTo(this, psn)
  }

  /**
   * ibv_post_send. Throws EINVAL in RESET/INIT/RTR, and for an atomic whose
   * remote address is not 8-byte aligned (librxe validate_send_wr); in ERR
   * the WRs complete with WR_FLUSH_ERR.
   */
  postSend(wr: SendWr | SendWr[]): void {
    const wrs = Array.isArray(wr) ? wr : [wr]
    for (const w of wrs) {
      if ((w.opcode === WrOpcode.ATOMIC_CMP_AND_SWP || w.opcode === WrOpcode.ATOMIC_FETCH_AND_ADD) && (w.remoteAddr ?? 0) % 8 !== 0) {
        throw new EmuError(ErrorCodes.EINVAL, `atomic remote address 0x${(w.remoteAddr ?? 0).toString(16)} is not 8-byte aligned`)
      }
    }
    postSend(this, wrs)
  }

  /** ibv_post_recv. Throws EINVAL in RESET; in ERR the WRs complete with WR_FLUSH_ERR. */
  postRecv(wr: RecvWr | RecvWr[]): void {
    if (this.srq) throw new EmuError(ErrorCodes.EINVAL, `QP ${this.qpNum} takes its receives from SRQ ${this.srq.srqn}: post them there`)
    postRecv(this, Array.isArray(wr) ? wr : [wr])
  }
}
