import { Access, WcOpcode, WrOpcode } from '../verbs/constants.ts'
import { Op } from './opcodes.ts'

/**
 * The WR opcode table (rxe_opcode.c's rxe_wr_opcode_info): for every send
 * opcode the engine implements, what the requester needs to build its packets
 * and what the completer needs to complete it. Both read it from here.
 */

/** How a WQE travels: the requester builds, and the completer matches, by kind. */
export const WqeKind = { SEND: 0, WRITE: 1, READ: 2, ATOMIC: 3, FLUSH: 4, ATOMIC_WRITE: 5, LOCAL: 6 } as const
export type WqeKindValue = (typeof WqeKind)[keyof typeof WqeKind]

/** Kinds that expect a response packet (not a plain ACK) and use a responder resource. */
export function expectsResponse(kind: number): boolean {
  return kind >= WqeKind.READ && kind !== WqeKind.LOCAL
}

export interface WrOpcodeInfo {
  readonly opcode: number
  readonly name: string
  readonly kind: WqeKindValue
  /** Immediate data rides on the last packet. */
  readonly imm: boolean
  /** Access the local SGEs need: responses are written into them (READ, atomics). */
  readonly localAccess: number
  /** IBA opcode of a one-packet message, and of the first, middle and last packets of a longer one (only SEND and WRITE have more than one). */
  readonly only: number
  readonly first: number
  readonly middle: number
  readonly last: number
  /** ibv_wc_opcode of its send completion. */
  readonly wcOpcode: number
}

function define(opcode: number, name: string, kind: WqeKindValue, wcOpcode: number, only: number, segs?: { first: number; middle: number; last: number; imm?: boolean }): WrOpcodeInfo {
  const localAccess = kind === WqeKind.READ || kind === WqeKind.ATOMIC ? Access.LOCAL_WRITE : 0
  const { first, middle, last } = segs ?? { first: only, middle: only, last: only }
  return Object.freeze({ opcode, name, kind, imm: segs?.imm ?? false, localAccess, only, first, middle, last, wcOpcode })
}

const K = WqeKind
const DEFS: WrOpcodeInfo[] = [
  define(WrOpcode.RDMA_WRITE, 'RDMA_WRITE', K.WRITE, WcOpcode.RDMA_WRITE, Op.RDMA_WRITE_ONLY,
    { first: Op.RDMA_WRITE_FIRST, middle: Op.RDMA_WRITE_MIDDLE, last: Op.RDMA_WRITE_LAST }),
  define(WrOpcode.RDMA_WRITE_WITH_IMM, 'RDMA_WRITE_WITH_IMM', K.WRITE, WcOpcode.RDMA_WRITE, Op.RDMA_WRITE_ONLY_WITH_IMMEDIATE,
    { first: Op.RDMA_WRITE_FIRST, middle: Op.RDMA_WRITE_MIDDLE, last: Op.RDMA_WRITE_LAST_WITH_IMMEDIATE, imm: true }),
  define(WrOpcode.SEND, 'SEND', K.SEND, WcOpcode.SEND, Op.SEND_ONLY,
    { first: Op.SEND_FIRST, middle: Op.SEND_MIDDLE, last: Op.SEND_LAST }),
  define(WrOpcode.SEND_WITH_IMM, 'SEND_WITH_IMM', K.SEND, WcOpcode.SEND, Op.SEND_ONLY_WITH_IMMEDIATE,
    { first: Op.SEND_FIRST, middle: Op.SEND_MIDDLE, last: Op.SEND_LAST_WITH_IMMEDIATE, imm: true }),
  define(WrOpcode.RDMA_READ, 'RDMA_READ', K.READ, WcOpcode.RDMA_READ, Op.RDMA_READ_REQUEST),
  define(WrOpcode.ATOMIC_CMP_AND_SWP, 'ATOMIC_CMP_AND_SWP', K.ATOMIC, WcOpcode.COMP_SWAP, Op.COMPARE_SWAP),
  define(WrOpcode.ATOMIC_FETCH_AND_ADD, 'ATOMIC_FETCH_AND_ADD', K.ATOMIC, WcOpcode.FETCH_ADD, Op.FETCH_ADD),
  define(WrOpcode.FLUSH, 'FLUSH', K.FLUSH, WcOpcode.FLUSH, Op.FLUSH),
  define(WrOpcode.ATOMIC_WRITE, 'ATOMIC_WRITE', K.ATOMIC_WRITE, WcOpcode.ATOMIC_WRITE, Op.ATOMIC_WRITE),
  // SEND_WITH_INV: the IETH rides on the last packet (src/engine/invalidate.ts).
  define(WrOpcode.SEND_WITH_INV, 'SEND_WITH_INV', K.SEND, WcOpcode.SEND, Op.SEND_ONLY_WITH_INVALIDATE,
    { first: Op.SEND_FIRST, middle: Op.SEND_MIDDLE, last: Op.SEND_LAST_WITH_INVALIDATE }),
  // Local operations: no packet, executed when the requester reaches them (rxe_do_local_ops).
  define(WrOpcode.LOCAL_INV, 'LOCAL_INV', K.LOCAL, WcOpcode.LOCAL_INV, -1),
  define(WrOpcode.BIND_MW, 'BIND_MW', K.LOCAL, WcOpcode.BIND_MW, -1),
  define(WrOpcode.REG_MR, 'REG_MR', K.LOCAL, WcOpcode.REG_MR, -1),
]

const TABLE: ReadonlyMap<number, WrOpcodeInfo> = new Map(DEFS.map((d) => [d.opcode, d]))

/** Table entry for a send opcode, or undefined for one the engine does not implement. */
export function wrOpInfo(opcode: number): WrOpcodeInfo | undefined {
  return TABLE.get(opcode)
}

/** IBA opcode of packet `k` of an `npkts`-packet message. */
export function packetOpcode(op: WrOpcodeInfo, k: number, npkts: number): number {
  if (npkts === 1) return op.only
  if (k === 0) return op.first
  return k === npkts - 1 ? op.last : op.middle
}
