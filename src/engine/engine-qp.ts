import type { PacketInit } from '../../fabric/codec.ts'
import type { Mr, MrTable } from '../memory/stag.ts'
import type { DeviceModel } from '../params.ts'
import type { QpStateValue } from '../verbs/constants.ts'
import type { Cq } from '../verbs/cq.ts'
import type { AsyncEventQueue } from '../verbs/async-events.ts'
import type { MwTable } from '../verbs/mw.ts'
import type { Srq } from '../verbs/srq.ts'
import type { EngineCounters } from './counters.ts'
import type { Fifo, RecvWqe, SendWqe } from './wqe.ts'

/**
 * The QP as the engine sees it (rxe's struct rxe_qp with its req, comp and
 * resp parts, shared by rxe_req.c, rxe_comp.c and rxe_resp.c through one
 * header). The engine modules work on this interface; src/verbs/qp.ts
 * implements it, so no engine module imports the verbs object.
 */
export interface EngineQp {
  readonly qpNum: number
  readonly pd: number
  readonly sendCq: Cq
  readonly recvCq: Cq
  readonly cap: QpCap
  readonly sqSigAll: boolean
  readonly host: QpHost
  readonly attr: QpAttr
  readonly sq: Fifo<SendWqe>
  readonly rq: Fifo<RecvWqe>
  /** The shared receive queue its receives come from, if created with one (src/verbs/srq.ts). */
  readonly srq?: Srq
  readonly req: RequesterState
  readonly comp: CompleterState
  readonly resp: ResponderState
  readonly state: QpStateValue
  /** Reads, atomics and the like this QP may have in flight (max_rd_atomic). */
  readonly rdAtomicLimit: number
  /** Enter ERR: flush the remaining WQEs with WR_FLUSH_ERR, stop the timers; raise `event` (an AsyncEventType) if given. */
  toError(reason: string, event?: number): void
  /** Completer -> QP: a send WQE completed; in SQD, see whether the drain is done (SQ_DRAINED). */
  checkSqDrained(): void

  // Where the requester and completer meet (rxe: the QP's retransmit timer and
  // the two tasks): each reaches the other only through these.
  /** Requester -> completer: start the retransmit timer if something is outstanding (rxe: mod_timer(&qp->retrans_timer)). */
  armRetransmitTimer(): void
  /** Requester -> completer: complete the oldest WQE with `status` (an error found at post time). */
  completeHead(status: number): void
  /** Completer -> requester: go back to `psn` and send again from there (go-back-N; rxe: req.need_retry). */
  rewindRequester(psn: number): void
}

/** What a QP needs from its device: memory, the wire, scheduling. */
export interface QpHost {
  readonly mrs: MrTable
  readonly counters: EngineCounters
  /** Multiplier applied to every transport timer (retransmit, RNR). */
  readonly timeScale: number
  /** 'ibta' or 'rxe': where the two differ (retry_cnt 7, SQ_DRAINED), which one the engine follows. */
  readonly model: DeviceModel
  /** The device's async event queue (SQ_DRAINED, CQ_ERR ...). */
  readonly asyncEvents: AsyncEventQueue
  /** Queue one packet for a node, encoded or to be encoded into the next train. */
  emit(node: string, pkt: Uint8Array | PacketInit): void
  /** Where the responder's memory work runs (inline, or worker threads). */
  readonly dataPath: DataPath
  /** Schedule the requester of `qp` to run soon. */
  kick(qp: EngineQp): void
  /**
   * Schedule it for the next event-loop turn instead, after the input already
   * queued (a retransmission: later ACKs and NAKs first move or cancel it).
   */
  kickLater(qp: EngineQp): void
  /** Memory windows (src/verbs/mw.ts); absent: window rkeys resolve to nothing. */
  readonly mws?: MwTable
  /** Called by the QP when it enters ERR (the device may log it). */
  onQpError?(qp: EngineQp, reason: string): void
}

/**
 * Where the responder's memory work happens. The responder decides (PSNs,
 * checks, NAKs) on the main thread and hands every byte it moves, and every
 * packet or completion that must follow those bytes, to a DataPath. The
 * inline path does it at once; the worker path (src/workers) batches it per
 * QP and per received train, runs it in worker threads over shared memory,
 * and performs the ordered actions when the batch is back.
 *
 * Ordering contract: for one QP, memory operations and actions happen in
 * the order they were issued. Different QPs are independent.
 */
export interface DataPath {
  /** Copy an inbound payload (WRITE, SEND) into `mr` at `off`. */
  write(qp: EngineQp, mr: Mr, off: number, payload: Uint8Array, psn: number): void
  /** Send `p`; when `src` is given, its payload is first read from memory (READ responses). */
  respond(qp: EngineQp, p: PacketInit, src?: { mr: Mr; off: number; len: number }): void
  /** Run an atomic, record the original value in `res` and send `p` (an ATOMIC ACK) carrying it. */
  atomic(qp: EngineQp, p: PacketInit, mr: Mr, off: number, cas: boolean, swapAdd: bigint, compare: bigint, res: RespResource): void
  atomicWrite(qp: EngineQp, mr: Mr, off: number, value: bigint, psn: number): void
  flush(qp: EngineQp, mr: Mr, off: number, len: number, psn: number): void
  /** Run `fn` once everything issued before it for this QP is done. */
  then(qp: EngineQp, fn: () => void): void
  /**
   * End of a received train for this QP: start what was batched. `exclusive`:
   * no other QP had work from this train, so its buffer may be handed over.
   */
  commit(qp: EngineQp, exclusive: boolean): void
  /** Work queued or running (for stats). */
  readonly depth: number
  close(): Promise<void>
}

/** ibv_qp_init_attr.cap */
export interface QpCap {
  maxSendWr: number
  maxRecvWr: number
  maxSendSge: number
  maxRecvSge: number
}

/** The ibv_qp_attr fields this emulator uses. */
export interface QpAttr {
  qpState: QpStateValue
  /** Path MTU in bytes (256..4096). */
  pathMtu: number
  destQpNum: number
  /** Fabric id of the node the remote QP lives on (the address vector). */
  destNode: string
  rqPsn: number
  sqPsn: number
  /** Local ACK timeout exponent: 4.096 us * 2^timeout; 0 = infinite. */
  timeout: number
  retryCnt: number
  rnrRetry: number
  minRnrTimer: number
  maxRdAtomic: number
  maxDestRdAtomic: number
  qpAccessFlags: number
  pkeyIndex: number
  /** ibv_qp_attr.port_num (IB_QP_PORT): the device has port 1 only. */
  portNum: number
  /** ibv_qp_attr.en_sqd_async_notify (RTS -> SQD): raise SQ_DRAINED when the drain is done. */
  enSqdAsyncNotify: boolean
}

/** A READ/atomic/FLUSH/ATOMIC_WRITE the responder executed, kept for replay of duplicates. */
export interface RespResource {
  firstPsn: number
  lastPsn: number
  opcode: number
  /** Saved atomic original value. */
  orig: bigint
  /**
   * A READ's original request (rxe's res->read: va_org, length, rkey): a
   * duplicate must ask for a part of it, and is answered from the region
   * its rkey still names (rxe_recheck_mr), or NAKed when there is none.
   */
  read?: { va: number; len: number; rkey: number }
}

export interface RequesterState {
  /** Absolute SQ index of the WQE being transmitted. */
  idx: number
  /** Next packet of that WQE. */
  pkt: number
  /** PSN the next posted WQE starts at. */
  nextPsn: number
  /** Packets since the last AckReq. */
  noackPkts: number
  /** Responder-resource WQEs (READ, atomics ...) sent and not completed. */
  rdInflight: number
  /** Requester paused until an RNR timer fires. */
  rnrWait: boolean
  /**
   * SQD: absolute SQ index the drain ends at. WQEs before it (already
   * started when the QP entered SQD) may still be sent and resent; none from
   * it on. -1 outside SQD.
   */
  drainEnd: number
  /** One past the highest SQ index whose first packet has been sent (go-back-N may have rewound idx below it). */
  startedEnd: number
}

export interface CompleterState {
  retryLeft: number
  rnrLeft: number
  timer: NodeJS.Timeout | undefined
  rnrTimer: NodeJS.Timeout | undefined
  /** performance.now() when the current ACK timeout period began (armed, or last progress). */
  lastProgress: number
  /** PSN a sequence-NAK retry restarted from, until progress or a timeout (rxe's started_retry); -1 when no such retry is under way. */
  nakRetryPsn: number
}

export interface ResponderState {
  epsn: number
  msn: number
  /** A NAK (sequence or RNR) was sent; drop out-of-order packets silently until back in sequence. */
  nakSent: boolean
  recv: RecvWqe | undefined
  recvOff: number
  /** Current multi-packet WRITE: region, offset and bytes still expected. */
  writeMr: Mr | undefined
  writeOff: number
  writeResid: number
  ring: RespResource[]
  ringPos: number
  /** PSN of a coalesced ACK to send at the end of this train, or -1. */
  pendingAck: number
  /** A NAKed error is on its way to ERR (after the work before it is done): accept nothing more. */
  failed: boolean
}
