import type { Packet } from '../../fabric/codec.ts'
import { Params } from '../params.ts'
import { Access } from '../verbs/constants.ts'
import type { EngineQp } from './engine-qp.ts'
import { Mask } from './opcodes.ts'

/**
 * The responder's request checks that need no memory (rxe_resp.c, in the
 * order rxe_responder runs them after check_psn and check_op_seq):
 * check_op_valid (the QP's access flags), check_resource's responder
 * resources for READ and atomics, then rxe_resp_check_length.
 * Each returns why the request is invalid, or undefined when it passes; the
 * responder ends a failed request with an invalid-request NAK (rxe
 * RESPST_ERR_UNSUPPORTED_OPCODE / RESPST_ERR_TOO_MANY_RDMA_ATM_REQ /
 * RESPST_ERR_LENGTH: class C).
 */

/** FETH placement type bits (enum ib_flush_type). */
export const FlushType = { GLOBAL: 1, PERSISTENT: 2 } as const
/** FETH selectivity level (enum ib_flush_level): the RETH range, or the whole MR. */
export const FlushLevel = { RANGE: 0, MR: 1 } as const

/** The access rights a FLUSH of placement type `plt` needs, on the QP and on the MR. */
export function flushAccess(plt: number): number {
  return (plt & FlushType.GLOBAL ? Access.FLUSH_GLOBAL : 0) | (plt & FlushType.PERSISTENT ? Access.FLUSH_PERSISTENT : 0)
}

/**
 * rxe check_op_valid / check_qp_attr_access: READ needs the QP's
 * REMOTE_READ, WRITE and ATOMIC_WRITE its REMOTE_WRITE, atomics its
 * REMOTE_ATOMIC, and a FLUSH the QP's FLUSH_GLOBAL and/or FLUSH_PERSISTENT
 * for each placement type it asks for.
 */
export function checkOpValid(qp: EngineQp, pkt: Packet, mask: number): string | undefined {
  const f = qp.attr.qpAccessFlags
  let need = 0
  if (mask & (Mask.WRITE | Mask.ATOMIC_WRITE)) need = Access.REMOTE_WRITE
  else if (mask & Mask.READ) need = Access.REMOTE_READ
  else if (mask & Mask.ATOMIC) need = Access.REMOTE_ATOMIC
  else if (mask & Mask.FLUSH) need = flushAccess(pkt.feth!.plt)
  if ((f & need) === need) return undefined
  return `QP lacks the access right (0x${need.toString(16)}) for this opcode`
}

/**
 * rxe check_resource, its first half: a READ, a CMP_SWAP or FETCH_ADD, or an
 * ATOMIC_WRITE (RXE_READ_OR_ATOMIC_MASK | RXE_ATOMIC_WRITE_MASK) needs a
 * responder resource, and a QP with max_dest_rd_atomic 0 has none
 * (RESPST_ERR_TOO_MANY_RDMA_ATM_REQ). With one or more it passes whatever is
 * outstanding: keeping within the limit is the requester's job, and the
 * responder recycles its resource ring. FLUSH is not counted (as rxe).
 */
export function checkRdAtomicResource(qp: EngineQp, mask: number): string | undefined {
  if (mask & (Mask.READ | Mask.ATOMIC | Mask.ATOMIC_WRITE) && qp.attr.maxDestRdAtomic === 0) return 'no responder resources for READ or atomics (max_dest_rd_atomic 0)'
  return undefined
}

/**
 * rxe_resp_check_length (IBA C9-92, C9-94): a packet that carries a payload
 * is at most one MTU when it is an ONLY, exactly one MTU when it is a FIRST
 * or MIDDLE, and 1 to MTU bytes when it is a LAST; a RETH length above 2^31
 * is an invalid request (before any rkey is looked at).
 */
export function checkLength(qp: EngineQp, pkt: Packet, mask: number): string | undefined {
  const mtu = qp.attr.pathMtu
  const n = pkt.payload.length
  if (mask & Mask.PAYLOAD) {
    if (mask & Mask.ONLY) {
      if (n > mtu) return `ONLY packet of ${n} bytes exceeds the MTU ${mtu}`
    } else if (mask & (Mask.FIRST | Mask.MIDDLE)) {
      if (n !== mtu) return `FIRST or MIDDLE packet of ${n} bytes, not the MTU ${mtu}`
    } else if (mask & Mask.LAST) {
      if (n === 0 || n > mtu) return `LAST packet of ${n} bytes, not 1 to the MTU ${mtu}`
    }
  }
  if (mask & Mask.RETH && pkt.reth!.len > Params.maxMessageSize) return `RETH length ${pkt.reth!.len} exceeds 2^31`
  return undefined
}

/**
 * rxe check_rkey's payload checks for a WRITE packet, against the bytes the
 * message still expects (`resid`): while more than an MTU remains, the packet
 * carries exactly an MTU and no pad; the packet that ends the message carries
 * exactly what remains, padded to a multiple of 4.
 */
export function checkWritePayload(qp: EngineQp, pkt: Packet, mask: number, resid: number): string | undefined {
  const mtu = qp.attr.pathMtu
  const n = pkt.payload.length
  if (resid > mtu) {
    if (n !== mtu || pkt.padCount !== 0 || mask & Mask.END) return `WRITE packet of ${n} bytes (pad ${pkt.padCount}) with ${resid} bytes to go`
  } else if (n !== resid || pkt.padCount !== ((-resid) & 3)) {
    return `WRITE packet of ${n} bytes (pad ${pkt.padCount}) does not end its ${resid}-byte remainder`
  }
  return undefined
}
