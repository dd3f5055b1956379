import { QpState } from '../verbs/constants.ts'
import { RESP_FAULT_EVENT } from '../verbs/async-events.ts'
import type { EngineQp } from './engine-qp.ts'
import type { EngineCounters } from './counters.ts'
import { Op } from './opcodes.ts'
import { flushPendingAck, sendAck } from './responder-ack.ts'
import { faultRule, RespFault, type FaultRule, type RespFaultError } from './status.ts'

export interface RespondFaultOptions {
  /**
   * Apply the fault at once, not behind the QP's earlier data-path work: the
   * NAK leaves now (no pending ACK is flushed: the NAK's PSN acknowledges
   * everything before it) and the QP changes state now. For the data path
   * itself, when a batch fails (the work before it is done, the work after it
   * will not run), and for a caller that has already waited the data path
   * out, such as layout-lease revocation.
   */
  now?: boolean
}

/**
 * The one exit for responder faults (rxe_resp.c RESPST_ERR_* handling): NAK
 * the request at `psn` with the fault's syndrome, stop accepting requests
 * (`resp.failed`), and move the QP to the fault's state with `why` as the
 * reason. By default the NAK follows the coalesced ACK still pending and the
 * memory work already issued for the QP, and the state change waits for that
 * work too; with `now`, both happen at once.
 *
 * The responder calls it for the packet it is checking. A caller outside the
 * engine checks that the QP still accepts requests (RTR, RTS or SQD, and not
 * `resp.failed`), waits out its data path, then calls it with
 * `psn = qp.resp.epsn` and `{ now: true }`.
 */
export function respondFault(qp: EngineQp, psn: number, fault: RespFaultError, why: string, opts?: RespondFaultOptions): void {
  const rule = faultRule(fault)
  qp.host.counters.errorNaksSent++
  qp.host.counters[NAK_COUNTERS[fault]]++
  if (opts?.now) {
    qp.host.counters.acksSent++
    qp.host.emit(qp.attr.destNode, { opcode: Op.ACKNOWLEDGE, destQp: qp.attr.destQpNum, psn, aeth: { syndrome: rule.syndrome, msn: qp.resp.msn } })
    qp.resp.failed = true
    transition(qp, rule, why)
    return
  }
  flushPendingAck(qp)
  sendAck(qp, psn, rule.syndrome)
  qp.resp.failed = true
  qp.host.dataPath.then(qp, () => transition(qp, rule, why))
}

/** The per-syndrome counter of each fault's NAK. */
const NAK_COUNTERS = {
  [RespFault.INVALID_REQUEST]: 'invalidRequestNaksSent',
  [RespFault.REMOTE_ACCESS]: 'remoteAccessNaksSent',
  [RespFault.REMOTE_OPERATIONAL]: 'remoteOperationalNaksSent',
} as const satisfies Record<RespFaultError, keyof EngineCounters>

function transition(qp: EngineQp, rule: FaultRule, why: string): void {
  if (rule.qpState === QpState.ERR) qp.toError(why, RESP_FAULT_EVENT[rule.name])
}
