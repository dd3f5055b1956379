import type { PacketInit } from '../../fabric/codec.ts'
import type { Mr } from '../memory/stag.ts'
import type { EngineQp } from './engine-qp.ts'
import { aethAck, Op } from './opcodes.ts'

/**
 * How the responder's answers leave: through the data path, so each one
 * follows the memory work issued before it for the QP. ACKs are coalesced:
 * a request asking for one leaves its PSN pending, and the ACK goes once per
 * received train, or before any other answer that must not overtake it.
 */

/** Send `p` to the QP's peer; `src`: read its payload from memory first (READ responses). */
export function respond(qp: EngineQp, p: PacketInit, src?: { mr: Mr; off: number; len: number }): void {
  p.destQp = qp.attr.destQpNum
  qp.host.dataPath.respond(qp, p, src)
}

/** Send an ACK, RNR NAK or NAK with this syndrome for `psn`. */
export function sendAck(qp: EngineQp, psn: number, syndrome: number): void {
  qp.host.counters.acksSent++
  respond(qp, { opcode: Op.ACKNOWLEDGE, destQp: 0, psn, aeth: { syndrome, msn: qp.resp.msn } })
}

/** Send the ACK this train earned, if any (called once per received train). */
export function flushPendingAck(qp: EngineQp): void {
  if (qp.resp.pendingAck < 0) return
  const psn = qp.resp.pendingAck
  qp.resp.pendingAck = -1
  sendAck(qp, psn, aethAck())
}
