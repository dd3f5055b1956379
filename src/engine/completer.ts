import { Params } from '../params.ts'
import { psnAdd, psnDiff, type Packet } from '../../fabric/codec.ts'
import { QpState, RNR_TIMER_MS, WcStatus } from '../verbs/constants.ts'
import type { EngineQp } from './engine-qp.ts'
import { Aeth, Mask, Op, opInfo } from './opcodes.ts'
import { nakToWcStatus } from './status.ts'
import { scatter } from './sge.ts'
import { expectsResponse, WqeKind } from './wr-opcodes.ts'

/**
 * The completer (rxe_comp.c): matches ACKs, NAKs and responses against the
 * oldest outstanding WQEs, writes READ and atomic results into local memory,
 * posts completions in order, and drives retries: the retransmit timer
 * (4.096 us * 2^timeout, scaled), go-back-N on a sequence NAK, RNR waits.
 */

/** Pop the oldest WQE and post its completion (errors always, success when signaled). */
export function completeHead(qp: EngineQp, status: number): void {
  const w = qp.sq.shift()
  if (!w) return
  if (qp.req.idx < qp.sq.base) {
    qp.req.idx = qp.sq.base
    qp.req.pkt = 0
  }
  if (expectsResponse(w.kind) && qp.req.rdInflight > 0) qp.req.rdInflight--
  if (status !== WcStatus.SUCCESS || w.signaled) {
    // A full CQ fails the post (rxe_cq_post): the device raises CQ_ERR and moves this QP to ERR.
    qp.sendCq.push({
      wrId: w.wrId,
      status,
      opcode: w.op.wcOpcode,
      byteLen: w.kind === WqeKind.READ && status === WcStatus.SUCCESS ? w.length : 0,
      qpNum: qp.qpNum,
      srcQp: qp.attr.destQpNum,
      wcFlags: 0,
    })
  }
  if (qp.state === QpState.SQD) qp.checkSqDrained()
}

/** Fail the oldest WQE with `status` and move the QP to ERR (flushing the rest). */
function failHead(qp: EngineQp, status: number, reason: string): void {
  completeHead(qp, status)
  qp.toError(reason)
}

function progress(qp: EngineQp): void {
  qp.comp.retryLeft = qp.attr.retryCnt
  qp.comp.rnrLeft = qp.attr.rnrRetry
  // Restart the ACK timeout period (rxe's mod_timer on progress). The timer
  // itself stays armed: when it fires early it re-arms for the rest of the
  // period, so an ACK costs no timer churn.
  qp.comp.lastProgress = performance.now()
  qp.comp.nakRetryPsn = -1
  armRetransmitTimer(qp)
  qp.host.kick(qp)
}

/** Something is sent and not complete. */
function outstanding(qp: EngineQp): boolean {
  return qp.sq.length > 0 && (qp.req.idx > qp.sq.base || qp.req.pkt > 0)
}

function ackTimeoutMs(qp: EngineQp): number {
  return Math.max(1, (Params.ackTimeoutBaseUs * 2 ** qp.attr.timeout * qp.host.timeScale) / 1000)
}

/** Start the local ACK timer if it is not running and something is outstanding. */
export function armRetransmitTimer(qp: EngineQp): void {
  if (qp.comp.timer || qp.attr.timeout === 0 || !outstanding(qp)) return
  qp.comp.lastProgress = performance.now()
  qp.comp.timer = setTimeout(() => onRetransmitTimeout(qp), ackTimeoutMs(qp))
}

function onRetransmitTimeout(qp: EngineQp): void {
  qp.comp.timer = undefined
  if (qp.state !== QpState.RTS && qp.state !== QpState.SQD) return
  if (!outstanding(qp)) return
  const rest = qp.comp.lastProgress + ackTimeoutMs(qp) - performance.now()
  if (rest >= 1) {
    // Progress was made since the timer was armed: wait out the rest of the period.
    qp.comp.timer = setTimeout(() => onRetransmitTimeout(qp), rest)
    return
  }
  retry(qp, 'timeout')
}

/** Retry from the oldest unacknowledged packet, or fail with RETRY_EXC_ERR. */
function retry(qp: EngineQp, why: 'timeout' | 'nak', psn?: number): void {
  const head = qp.sq.peek()
  if (!head) return
  if (qp.comp.retryLeft <= 0) {
    failHead(qp, WcStatus.RETRY_EXC_ERR, `transport retry counter exceeded (${why})`)
    return
  }
  // IBTA: retry_cnt 7 is seven retries. rxe_completer keeps 7 forever (the `rxe` model).
  if (qp.host.model !== 'rxe' || qp.comp.retryLeft !== Params.infiniteRetry) qp.comp.retryLeft--
  if (why === 'timeout') {
    qp.host.counters.timeoutRetries++
    qp.comp.nakRetryPsn = -1
  }
  else qp.host.counters.nakRetries++
  qp.rewindRequester(psn ?? psnAdd(head.firstPsn, head.done))
  armRetransmitTimer(qp)
}

/** Complete leading SEND/WRITE WQEs whose last packet is before `psn` (implicitly acknowledged). */
function ackBefore(qp: EngineQp, psn: number): boolean {
  let any = false
  for (let w = qp.sq.peek(); w && !expectsResponse(w.kind) && psnDiff(w.lastPsn, psn) < 0 && qp.sq.base < qp.req.idx; w = qp.sq.peek()) {
    completeHead(qp, WcStatus.SUCCESS)
    any = true
  }
  return any
}

/** Handle one response packet for `qp`. */
export function completerReceive(qp: EngineQp, pkt: Packet): void {
  if (qp.state !== QpState.RTS && qp.state !== QpState.SQD) {
    qp.host.counters.wrongState++
    return
  }
  const info = opInfo(pkt.opcode)!
  if (pkt.opcode === Op.ACKNOWLEDGE) {
    onAck(qp, pkt)
    return
  }
  // A READ response or atomic ACK implicitly acknowledges every earlier request.
  let moved = ackBefore(qp, pkt.psn)
  const head = qp.sq.peek()
  if (!head || qp.sq.base >= qp.req.idx + (qp.req.pkt > 0 ? 1 : 0)) {
    qp.host.counters.strayResponses++
    if (moved) progress(qp)
    return
  }
  const expected = psnAdd(head.firstPsn, head.done)
  const d = psnDiff(pkt.psn, expected)
  if (d < 0 || !expectsResponse(head.kind)) {
    qp.host.counters.strayResponses++
    if (moved) progress(qp)
    return
  }
  if (d > 0) {
    // Response packets went missing: go back to the first one we lack. As
    // rxe's started_retry: once such a retry is under way, later responses
    // past the gap start no other (and spend no more retry_cnt) until
    // progress or the retransmit timer.
    if (moved) progress(qp)
    if (qp.comp.nakRetryPsn >= 0) {
      qp.host.counters.duplicateNaks++
      return
    }
    qp.comp.nakRetryPsn = expected
    retry(qp, 'nak', expected)
    return
  }
  if ((info.mask & Mask.READ) && (info.mask & Mask.RESP) && head.kind === WqeKind.READ) {
    const mtu = qp.attr.pathMtu
    if (pkt.payload.length) scatter(head.segs, head.done * mtu, pkt.payload)
    head.done++
    if (info.mask & Mask.END) completeHead(qp, WcStatus.SUCCESS)
    moved = true
  } else if (pkt.opcode === Op.ATOMIC_ACKNOWLEDGE && head.kind === WqeKind.ATOMIC) {
    const bytes = new Uint8Array(8)
    new DataView(bytes.buffer).setBigUint64(0, pkt.atomicAckEth!.origData, true)
    scatter(head.segs, 0, bytes)
    completeHead(qp, WcStatus.SUCCESS)
    moved = true
  } else if ((head.kind === WqeKind.FLUSH || head.kind === WqeKind.ATOMIC_WRITE) && pkt.opcode === Op.RDMA_READ_RESPONSE_ONLY) {
    completeHead(qp, WcStatus.SUCCESS)
    moved = true
  } else {
    // A response of the wrong kind for the WQE at that PSN.
    failHead(qp, WcStatus.BAD_RESP_ERR, `unexpected ${info.name} for WQE kind ${head.kind}`)
    return
  }
  if (moved) progress(qp)
}

function onAck(qp: EngineQp, pkt: Packet): void {
  const syn = pkt.aeth!.syndrome
  const psn = pkt.psn
  const type = syn & Aeth.TYPE_MASK
  if (type === Aeth.ACK) {
    let moved = false
    for (let w = qp.sq.peek(); w && qp.sq.base < qp.req.idx + (qp.req.pkt > 0 ? 1 : 0); w = qp.sq.peek()) {
      if (expectsResponse(w.kind)) {
        // An ACK past a READ/atomic whose response never came: that response was lost.
        if (psnDiff(psn, w.lastPsn) > 0) {
          if (moved) progress(qp)
          // rxe's started_retry, as for a gap in the responses.
          if (qp.comp.nakRetryPsn >= 0) {
            qp.host.counters.duplicateNaks++
            return
          }
          qp.comp.nakRetryPsn = psnAdd(w.firstPsn, w.done)
          retry(qp, 'nak', qp.comp.nakRetryPsn)
          return
        }
        break
      }
      if (psnDiff(psn, w.lastPsn) >= 0) {
        completeHead(qp, WcStatus.SUCCESS)
        moved = true
        continue
      }
      // Partial acknowledgement of a multi-packet message.
      const acked = psnDiff(psn, w.firstPsn) + 1
      if (acked > w.done) {
        w.done = acked
        moved = true
      }
      break
    }
    if (moved) progress(qp)
    return
  }
  // A NAK for a PSN the requester has moved past (a late answer to a
  // retransmission: a duplicate READ refused once its MR was gone) is stale,
  // as a response older than comp.psn is in rxe_comp.c check_psn: ignored, it
  // must not fail the WR now at the head.
  // The floor: the first PSN not yet acknowledged (the next to post when idle).
  const head = qp.sq.peek()
  if (psnDiff(psn, head ? psnAdd(head.firstPsn, head.done) : qp.req.nextPsn) < 0) {
    qp.host.counters.strayResponses++
    return
  }
  // NAKs first acknowledge everything before the PSN they carry.
  const moved = ackBefore(qp, psn)
  if (type === Aeth.RNR_NAK) {
    qp.host.counters.rnrRetries++
    if (qp.comp.rnrLeft <= 0) {
      failHead(qp, WcStatus.RNR_RETRY_EXC_ERR, 'RNR retry counter exceeded')
      return
    }
    // rnr_retry 7 is infinite in IBTA and rxe alike.
    if (qp.comp.rnrLeft !== Params.infiniteRetry) qp.comp.rnrLeft--
    if (qp.comp.timer) clearTimeout(qp.comp.timer)
    qp.comp.timer = undefined
    qp.req.rnrWait = true
    const ms = (RNR_TIMER_MS[syn & Aeth.VALUE_MASK]! * qp.host.timeScale)
    if (qp.comp.rnrTimer) clearTimeout(qp.comp.rnrTimer)
    qp.comp.rnrTimer = setTimeout(() => {
      qp.comp.rnrTimer = undefined
      qp.req.rnrWait = false
      if (qp.state !== QpState.RTS && qp.state !== QpState.SQD) return
      qp.rewindRequester(psn)
      // An ACK timeout may have rewound the requester to `psn` already, so the
      // rewind above found nothing to do: restart the requester regardless.
      qp.host.kickLater(qp)
      armRetransmitTimer(qp)
    }, Math.max(1, ms))
    return
  }
  if (syn === Aeth.NAK_PSN_SEQ_ERROR) {
    if (moved) progress(qp)
    // A retry started by a NAK is under way and nothing has been acknowledged
    // since: this NAK (duplicated, or caused by packets of the first
    // transmission arriving late) would send the whole window again, and on a
    // lossy fabric each resend draws new NAKs: a retransmission storm. As
    // rxe's started_retry: no new NAK-driven retry until progress, or the
    // retransmit timer.
    if (qp.comp.nakRetryPsn >= 0) {
      qp.host.counters.duplicateNaks++
      return
    }
    qp.comp.nakRetryPsn = psn
    retry(qp, 'nak', psn)
    return
  }
  failHead(qp, nakToWcStatus(syn), `remote NAK 0x${syn.toString(16)}`)
}
