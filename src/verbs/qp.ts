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

export type { CompleterState, QpAttr, QpCap, QpHost, RequesterState, RespResource, ResponderState } from '../engine/engine-qp.ts'

const VALID_TRANSITIONS: Record<number, readonly number[]> = {
  [QpState.RESET]: [QpState.RESET, QpState.INIT, QpState.ERR],
  [QpState.INIT]: [QpState.RESET, QpState.INIT, QpState.RTR, QpState.ERR],
  [QpState.RTR]: [QpState.RESET, QpState.RTS, QpState.ERR],
  [QpState.RTS]: [QpState.RESET, QpState.RTS, QpState.SQD, QpState.ERR],
  [QpState.SQD]: [QpState.RESET, QpState.RTS, QpState.SQD, QpState.ERR],
  [QpState.SQE]: [QpState.RESET, QpState.RTS, QpState.ERR],
  [QpState.ERR]: [QpState.RESET, QpState.ERR],
}

function checkRange(name: string, v: number | undefined, lo: number, hi: number): void {
  if (v === undefined) return
  if (!Number.isInteger(v) || v < lo || v > hi) throw new EmuError(ErrorCodes.EINVAL, `${name} must be an integer ${lo}-${hi}, got ${v}`)
}

/**
 * An RC queue pair: attributes, the RESET -> INIT -> RTR -> RTS state
 * machine (ib_modify_qp_is_ok), and the per-engine state the requester,
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
    }
    this.req = { idx: 0, pkt: 0, nextPsn: 0, noackPkts: 0, rdInflight: 0, rnrWait: false }
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

  /** ibv_modify_qp: apply `change`; a state change must be a legal transition. */
  modify(change: Partial<QpAttr>): void {
    const cur = this.attr.qpState
    const next = change.qpState ?? cur
    if (!VALID_TRANSITIONS[cur]!.includes(next)) {
      throw new EmuError(ErrorCodes.EINVAL, `illegal QP transition ${qpStateName(cur)} -> ${qpStateName(next)}`)
    }
    if (change.pathMtu !== undefined && !(Params.mtus as readonly number[]).includes(change.pathMtu)) {
      throw new EmuError(ErrorCodes.EINVAL, `pathMtu must be one of ${Params.mtus.join(', ')}, got ${change.pathMtu}`)
    }
    checkRange('timeout', change.timeout, 0, 31)
    checkRange('retryCnt', change.retryCnt, 0, 7)
    checkRange('rnrRetry', change.rnrRetry, 0, 7)
    checkRange('minRnrTimer', change.minRnrTimer, 0, 31)
    checkRange('maxRdAtomic', change.maxRdAtomic, 0, 255)
    checkRange('maxDestRdAtomic', change.maxDestRdAtomic, 0, 255)
    checkRange('rqPsn', change.rqPsn, 0, Params.psnMask)
    checkRange('sqPsn', change.sqPsn, 0, Params.psnMask)
    checkRange('destQpNum', change.destQpNum, 0, 0xffffff)
    if (cur === QpState.INIT && next === QpState.RTR) {
      const destNode = change.destNode ?? this.attr.destNode
      if (!destNode || change.destQpNum === undefined || change.rqPsn === undefined) {
        throw new EmuError(ErrorCodes.EINVAL, 'INIT -> RTR needs destNode, destQpNum and rqPsn')
      }
    }
    if (cur === QpState.RTR && next === QpState.RTS && change.sqPsn === undefined) {
      throw new EmuError(ErrorCodes.EINVAL, 'RTR -> RTS needs sqPsn')
    }
    const { qpState: _ignored, ...rest } = change
    Object.assign(this.attr, rest)
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
    if (next === QpState.RTS) this.host.kick(this)
  }

  /**
   * Enter ERR: post the remaining send and receive WQEs as WR_FLUSH_ERR
   * completions (always, signaled or not), stop timers.
   */
  toError(reason: string, event?: AsyncEventTypeValue): void {
    if (this.attr.qpState === QpState.ERR) return
    this.attr.qpState = QpState.ERR
    this.stopTimers()
    for (const wqe of this.sq.clear()) {
      this.sendCq.push({ wrId: wqe.wrId, status: WcStatus.WR_FLUSH_ERR, opcode: 0, byteLen: 0, qpNum: this.qpNum, srcQp: 0, wcFlags: 0 })
    }
    this.req.idx = this.sq.base
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
    Object.assign(this.req, { idx: this.sq.base, pkt: 0, nextPsn: 0, noackPkts: 0, rdInflight: 0, rnrWait: false })
    Object.assign(this.resp, {
      epsn: 0, msn: 0, nakSent: false, recv: undefined, recvOff: 0,
      writeMr: undefined, writeOff: 0, writeResid: 0, ring: [], ringPos: 0, pendingAck: -1, failed: false,
    })
  }

  /** Reads, atomics and the like this QP may have in flight (max_rd_atomic). */
  get rdAtomicLimit(): number {
    return Math.max(1, this.attr.maxRdAtomic)
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
