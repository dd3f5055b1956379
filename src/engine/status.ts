import { QpState, type QpStateValue, WcStatus } from '../verbs/constants.ts'
import { MrCheck } from '../memory/stag.ts'
import { Aeth } from './opcodes.ts'

/**
 * Data-path faults are state values, not exceptions (the rxe model): the
 * responder ends a packet with one of these, and one table maps it to the
 * NAK syndrome on the wire, the completion status the requester sees and
 * the state the responder's QP goes to. respondFault (responder-fault.ts)
 * applies it.
 */
export const RespFault = {
  NONE: 0,
  /** Malformed or unsupported request for this QP (opcode or QP access right, no responder resources, length, alignment). */
  INVALID_REQUEST: 1,
  /** rkey, PD, access right, MR state or bounds check failed. */
  REMOTE_ACCESS: 2,
  /** The responder could not complete an otherwise valid request. */
  REMOTE_OPERATIONAL: 3,
} as const
export type RespFaultValue = (typeof RespFault)[keyof typeof RespFault]
/** A fault proper: every value but NONE. */
export type RespFaultError = Exclude<RespFaultValue, typeof RespFault.NONE>

/** What a responder fault becomes (rxe_resp.c RESPST_ERR_* through do_class_ac_error). */
export interface FaultRule {
  readonly name: string
  /** AETH syndrome of the NAK the responder sends. */
  readonly syndrome: number
  /** Status the requester completes its WQE with when that NAK arrives. */
  readonly wcStatus: number
  /** State the responder's QP goes to (IBTA 9.9.3.1: class A and C errors put it in ERR). */
  readonly qpState: QpStateValue
}

const RULES: Readonly<Record<RespFaultError, FaultRule>> = {
  // rxe RESPST_ERR_UNSUPPORTED_OPCODE, _MISSING_OPCODE_*, _MISALIGNED_ATOMIC, _LENGTH,
  // _TOO_MANY_RDMA_ATM_REQ (a READ or atomic at max_dest_rd_atomic 0): class C.
  [RespFault.INVALID_REQUEST]: { name: 'INVALID_REQUEST', syndrome: Aeth.NAK_INVALID_REQUEST, wcStatus: WcStatus.REM_INV_REQ_ERR, qpState: QpState.ERR },
  // rxe RESPST_ERR_RKEY_VIOLATION: class C. Also an MR invalidated or an ODP page
  // that cannot be mapped under checked work (the data paths, lease revocation).
  [RespFault.REMOTE_ACCESS]: { name: 'REMOTE_ACCESS', syndrome: Aeth.NAK_REMOTE_ACCESS_ERROR, wcStatus: WcStatus.REM_ACCESS_ERR, qpState: QpState.ERR },
  // rxe RESPST_ERR_MALFORMED_WQE: class A (AETH_NAK_REM_OP_ERR). Raised by a
  // receive WQE whose SGEs no longer pass the lkey, PD, access or range check
  // when a SEND reaches them (the receive then completes with LOC_QP_OP_ERR,
  // as rxe's), and by a FLUSH whose write-back to the persistence domain fails
  // (an injected storage fault, src/memory/storage-faults.ts). A failed worker
  // still answers REMOTE_ACCESS, as it always has.
  [RespFault.REMOTE_OPERATIONAL]: { name: 'REMOTE_OPERATIONAL', syndrome: Aeth.NAK_REMOTE_OPERATIONAL_ERROR, wcStatus: WcStatus.REM_OP_ERR, qpState: QpState.ERR },
}

/** The rule for a fault (not NONE). */
export function faultRule(f: RespFaultError): FaultRule {
  return RULES[f]
}

/** NAK syndrome received by a requester -> the status of its failed WQE. */
export function nakToWcStatus(syndrome: number): number {
  for (const r of Object.values(RULES)) if (r.syndrome === syndrome) return r.wcStatus
  // Reliable-datagram only: no RC responder sends it, but a peer might.
  if (syndrome === Aeth.NAK_INVALID_RD_REQUEST) return WcStatus.REM_INV_RD_REQ_ERR
  return WcStatus.BAD_RESP_ERR
}

/** Any failed MR check is a remote access error (rxe: RESPST_ERR_RKEY_VIOLATION). */
export function mrCheckFault(status: number): RespFaultValue {
  return status === MrCheck.OK ? RespFault.NONE : RespFault.REMOTE_ACCESS
}
