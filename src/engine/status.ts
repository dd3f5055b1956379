import { WcStatus } from '../verbs/constants.ts'
import { MrCheck } from '../memory/stag.ts'
import { Aeth } from './opcodes.ts'

/**
 * Data-path faults are state values, not exceptions (the rxe model): the
 * responder ends a packet with one of these, and one switch maps it to the
 * NAK syndrome on the wire and the completion status the requester sees.
 */
export const RespFault = {
  NONE: 0,
  /** Malformed or unsupported request for this QP (opcode, length, alignment). */
  INVALID_REQUEST: 1,
  /** rkey, PD, access right, MR state or bounds check failed. */
  REMOTE_ACCESS: 2,
  /** The responder could not complete an otherwise valid request (local length error ...). */
  REMOTE_OPERATIONAL: 3,
} as const
export type RespFaultValue = (typeof RespFault)[keyof typeof RespFault]

export function faultSyndrome(f: RespFaultValue): number {
  switch (f) {
    case RespFault.INVALID_REQUEST:
      return Aeth.NAK_INVALID_REQUEST
    case RespFault.REMOTE_ACCESS:
      return Aeth.NAK_REMOTE_ACCESS_ERROR
    default:
      return Aeth.NAK_REMOTE_OPERATIONAL_ERROR
  }
}

/** NAK syndrome received by a requester -> the status of its failed WQE. */
export function nakToWcStatus(syndrome: number): number {
  switch (syndrome) {
    case Aeth.NAK_INVALID_REQUEST:
      return WcStatus.REM_INV_REQ_ERR
    case Aeth.NAK_REMOTE_ACCESS_ERROR:
      return WcStatus.REM_ACCESS_ERR
    case Aeth.NAK_REMOTE_OPERATIONAL_ERROR:
      return WcStatus.REM_OP_ERR
    case Aeth.NAK_INVALID_RD_REQUEST:
      return WcStatus.REM_INV_RD_REQ_ERR
    default:
      return WcStatus.BAD_RESP_ERR
  }
}

/** Any failed MR check is a remote access error (rxe: RESPST_ERR_RKEY_VIOLATION). */
export function mrCheckFault(status: number): RespFaultValue {
  return status === MrCheck.OK ? RespFault.NONE : RespFault.REMOTE_ACCESS
}
