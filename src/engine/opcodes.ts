/**
 * The RC opcode table (the rxe_opcode.c model): for every packet opcode, its
 * name, a header mask (which extension headers it carries, and how the engine
 * classifies it), the total header length and the offset of each header.
 * The codec and the engine are both driven from this table.
 *
 * IBTA 1.5 vol 1 section 9.2 (BTH), 9.3 (extension headers), table 38 (RC
 * opcodes); FLUSH and ATOMIC_WRITE from the IBTA 1.5 memory placement
 * extensions, laid out as rxe lays them out.
 */

/** Extension header sizes in bytes (rxe_hdr.h RXE_*_BYTES). */
export const HdrBytes = {
  BTH: 12,
  RETH: 16,
  AETH: 4,
  ATOMIC_ETH: 28,
  ATOMIC_ACK_ETH: 8,
  IMMDT: 4,
  IETH: 4,
  FETH: 4,
} as const

/** Header mask bits (rxe_opcode.h RXE_*_MASK). */
export const Mask = {
  // --- which headers are present ---
  RETH: 1 << 0,
  AETH: 1 << 1,
  ATOMIC_ETH: 1 << 2,
  ATOMIC_ACK_ETH: 1 << 3,
  IMMDT: 1 << 4,
  IETH: 1 << 5,
  FETH: 1 << 6,
  PAYLOAD: 1 << 7,
  // --- classification ---
  // Unlike rxe, READ and ATOMIC are also set on the responses to them
  // (read responses, atomic ACK); combine with REQ or RESP to tell them apart.
  /** Sent by a requester. */
  REQ: 1 << 8,
  /** Sent by a responder (ACK, read response, atomic ACK): rxe's ACK_MASK. */
  RESP: 1 << 9,
  SEND: 1 << 10,
  WRITE: 1 << 11,
  READ: 1 << 12,
  ATOMIC: 1 << 13,
  FLUSH: 1 << 14,
  ATOMIC_WRITE: 1 << 15,
  /** Consumes a receive WQE at the responder. */
  RWR: 1 << 16,
  /** Completes a receive WQE at the responder. */
  COMP: 1 << 17,
  /** First packet of a message (FIRST or ONLY). */
  START: 1 << 18,
  /** Last packet of a message (LAST or ONLY). */
  END: 1 << 19,
  FIRST: 1 << 20,
  MIDDLE: 1 << 21,
  LAST: 1 << 22,
  ONLY: 1 << 23,
  /** Carries an invalidate (SEND_*_WITH_INVALIDATE). */
  INV: 1 << 24,
} as const

/** Every RC opcode this emulator speaks (IBTA table 38, RC = 0b000xxxxx). */
export const Op = {
  SEND_FIRST: 0x00,
  SEND_MIDDLE: 0x01,
  SEND_LAST: 0x02,
  SEND_LAST_WITH_IMMEDIATE: 0x03,
  SEND_ONLY: 0x04,
  SEND_ONLY_WITH_IMMEDIATE: 0x05,
  RDMA_WRITE_FIRST: 0x06,
  RDMA_WRITE_MIDDLE: 0x07,
  RDMA_WRITE_LAST: 0x08,
  RDMA_WRITE_LAST_WITH_IMMEDIATE: 0x09,
  RDMA_WRITE_ONLY: 0x0a,
  RDMA_WRITE_ONLY_WITH_IMMEDIATE: 0x0b,
  RDMA_READ_REQUEST: 0x0c,
  RDMA_READ_RESPONSE_FIRST: 0x0d,
  RDMA_READ_RESPONSE_MIDDLE: 0x0e,
  RDMA_READ_RESPONSE_LAST: 0x0f,
  RDMA_READ_RESPONSE_ONLY: 0x10,
  ACKNOWLEDGE: 0x11,
  ATOMIC_ACKNOWLEDGE: 0x12,
  COMPARE_SWAP: 0x13,
  FETCH_ADD: 0x14,
  SEND_LAST_WITH_INVALIDATE: 0x16,
  SEND_ONLY_WITH_INVALIDATE: 0x17,
  FLUSH: 0x1c,
  ATOMIC_WRITE: 0x1d,
} as const

export type Opcode = (typeof Op)[keyof typeof Op]

/** Offsets of each header from the start of the BTH; -1 when absent. */
export interface OpOffsets {
  readonly reth: number
  readonly aeth: number
  readonly atomicEth: number
  readonly atomicAckEth: number
  readonly immDt: number
  readonly ieth: number
  readonly feth: number
  /** Where the payload starts (always equal to `length`). */
  readonly payload: number
}

export interface OpInfo {
  readonly opcode: number
  readonly name: string
  readonly mask: number
  /** Total header length in bytes, BTH included. */
  readonly length: number
  readonly offset: OpOffsets
}

/**
 * Headers in wire order. AETH precedes AtomicAckETH, RETH precedes ImmDt,
 * FETH precedes RETH: the orders of IBTA 9.2 and rxe_opcode.c.
 */
const WIRE_ORDER: ReadonlyArray<readonly [number, keyof OpOffsets, number]> = [
  [Mask.FETH, 'feth', HdrBytes.FETH],
  [Mask.RETH, 'reth', HdrBytes.RETH],
  [Mask.AETH, 'aeth', HdrBytes.AETH],
  [Mask.ATOMIC_ACK_ETH, 'atomicAckEth', HdrBytes.ATOMIC_ACK_ETH],
  [Mask.ATOMIC_ETH, 'atomicEth', HdrBytes.ATOMIC_ETH],
  [Mask.IMMDT, 'immDt', HdrBytes.IMMDT],
  [Mask.IETH, 'ieth', HdrBytes.IETH],
]

function define(opcode: number, name: string, mask: number): OpInfo {
  const offset: Record<keyof OpOffsets, number> = {
    reth: -1, aeth: -1, atomicEth: -1, atomicAckEth: -1, immDt: -1, ieth: -1, feth: -1, payload: 0,
  }
  let length: number = HdrBytes.BTH
  for (const [bit, key, bytes] of WIRE_ORDER) {
    if (mask & bit) {
      offset[key] = length
      length += bytes
    }
  }
  offset.payload = length
  // Position flags are derived from START/END so the table cannot contradict itself.
  const start = (mask & Mask.START) !== 0
  const end = (mask & Mask.END) !== 0
  if (start && end) mask |= Mask.ONLY
  else if (start) mask |= Mask.FIRST
  else if (end) mask |= Mask.LAST
  else mask |= Mask.MIDDLE
  return Object.freeze({ opcode, name, mask, length, offset: Object.freeze(offset) })
}

const M = Mask
const SEND = M.REQ | M.SEND | M.PAYLOAD
const WRITE = M.REQ | M.WRITE | M.PAYLOAD
const READ_RESP = M.RESP | M.READ | M.PAYLOAD
const ONE = M.START | M.END

const DEFS: OpInfo[] = [
  define(Op.SEND_FIRST, 'SEND_FIRST', SEND | M.RWR | M.START),
  define(Op.SEND_MIDDLE, 'SEND_MIDDLE', SEND),
  define(Op.SEND_LAST, 'SEND_LAST', SEND | M.COMP | M.END),
  define(Op.SEND_LAST_WITH_IMMEDIATE, 'SEND_LAST_WITH_IMMEDIATE', SEND | M.IMMDT | M.COMP | M.END),
  define(Op.SEND_ONLY, 'SEND_ONLY', SEND | M.RWR | M.COMP | ONE),
  define(Op.SEND_ONLY_WITH_IMMEDIATE, 'SEND_ONLY_WITH_IMMEDIATE', SEND | M.IMMDT | M.RWR | M.COMP | ONE),
  define(Op.RDMA_WRITE_FIRST, 'RDMA_WRITE_FIRST', WRITE | M.RETH | M.START),
  define(Op.RDMA_WRITE_MIDDLE, 'RDMA_WRITE_MIDDLE', WRITE),
  define(Op.RDMA_WRITE_LAST, 'RDMA_WRITE_LAST', WRITE | M.END),
  define(Op.RDMA_WRITE_LAST_WITH_IMMEDIATE, 'RDMA_WRITE_LAST_WITH_IMMEDIATE', WRITE | M.IMMDT | M.RWR | M.COMP | M.END),
  define(Op.RDMA_WRITE_ONLY, 'RDMA_WRITE_ONLY', WRITE | M.RETH | ONE),
  define(Op.RDMA_WRITE_ONLY_WITH_IMMEDIATE, 'RDMA_WRITE_ONLY_WITH_IMMEDIATE', WRITE | M.RETH | M.IMMDT | M.RWR | M.COMP | ONE),
  define(Op.RDMA_READ_REQUEST, 'RDMA_READ_REQUEST', M.REQ | M.READ | M.RETH | ONE),
  define(Op.RDMA_READ_RESPONSE_FIRST, 'RDMA_READ_RESPONSE_FIRST', READ_RESP | M.AETH | M.START),
  define(Op.RDMA_READ_RESPONSE_MIDDLE, 'RDMA_READ_RESPONSE_MIDDLE', READ_RESP),
  define(Op.RDMA_READ_RESPONSE_LAST, 'RDMA_READ_RESPONSE_LAST', READ_RESP | M.AETH | M.END),
  define(Op.RDMA_READ_RESPONSE_ONLY, 'RDMA_READ_RESPONSE_ONLY', READ_RESP | M.AETH | ONE),
  define(Op.ACKNOWLEDGE, 'ACKNOWLEDGE', M.RESP | M.AETH | ONE),
  define(Op.ATOMIC_ACKNOWLEDGE, 'ATOMIC_ACKNOWLEDGE', M.RESP | M.ATOMIC | M.AETH | M.ATOMIC_ACK_ETH | ONE),
  define(Op.COMPARE_SWAP, 'COMPARE_SWAP', M.REQ | M.ATOMIC | M.ATOMIC_ETH | ONE),
  define(Op.FETCH_ADD, 'FETCH_ADD', M.REQ | M.ATOMIC | M.ATOMIC_ETH | ONE),
  define(Op.SEND_LAST_WITH_INVALIDATE, 'SEND_LAST_WITH_INVALIDATE', SEND | M.IETH | M.INV | M.COMP | M.END),
  define(Op.SEND_ONLY_WITH_INVALIDATE, 'SEND_ONLY_WITH_INVALIDATE', SEND | M.IETH | M.INV | M.RWR | M.COMP | ONE),
  define(Op.FLUSH, 'FLUSH', M.REQ | M.FLUSH | M.FETH | M.RETH | ONE),
  define(Op.ATOMIC_WRITE, 'ATOMIC_WRITE', M.REQ | M.ATOMIC_WRITE | M.RETH | M.PAYLOAD | ONE),
]

/** Dense 256-entry table indexed by opcode; undefined for opcodes we do not speak. */
const TABLE: ReadonlyArray<OpInfo | undefined> = (() => {
  const t = new Array<OpInfo | undefined>(256).fill(undefined)
  for (const d of DEFS) t[d.opcode] = d
  return Object.freeze(t)
})()

/** Every defined opcode, in numeric order. */
export const ALL_OPCODES: readonly number[] = Object.freeze(DEFS.map((d) => d.opcode))

/** Table entry for `opcode`, or undefined for an opcode outside the table. */
export function opInfo(opcode: number): OpInfo | undefined {
  return TABLE[opcode & 0xff]
}

/** Name of `opcode`, or `UNKNOWN(0xNN)`. */
export function opName(opcode: number): string {
  return TABLE[opcode & 0xff]?.name ?? `UNKNOWN(0x${(opcode & 0xff).toString(16).padStart(2, '0')})`
}

/** ATOMIC_WRITE carries exactly this many payload bytes (IBTA 1.5 o9-28.2). */
export const ATOMIC_WRITE_PAYLOAD = 8

/**
 * AETH syndrome (IBTA 9.7.5.1, table 44): bits 6-5 select ACK / RNR NAK /
 * reserved / NAK, bits 4-0 carry the credit count, RNR timer or NAK code.
 */
export const Aeth = {
  TYPE_MASK: 0x60,
  VALUE_MASK: 0x1f,
  /** ACK: 0x00 | credit count. */
  ACK: 0x00,
  /** Credit count 0x1f: invalid / unlimited credits (rxe AETH_ACK_UNLIMITED). */
  ACK_UNLIMITED: 0x1f,
  /** RNR NAK: 0x20 | timer. */
  RNR_NAK: 0x20,
  /** NAK type; the low bits are the NAK code. */
  NAK: 0x60,
  NAK_PSN_SEQ_ERROR: 0x60,
  NAK_INVALID_REQUEST: 0x61,
  NAK_REMOTE_ACCESS_ERROR: 0x62,
  NAK_REMOTE_OPERATIONAL_ERROR: 0x63,
  NAK_INVALID_RD_REQUEST: 0x64,
} as const

/** ACK syndrome with a credit count (0..31; 31 = unlimited). */
export function aethAck(credit: number = Aeth.ACK_UNLIMITED): number {
  return Aeth.ACK | (credit & Aeth.VALUE_MASK)
}

/** RNR NAK syndrome with an IBTA 5-bit RNR timer code. */
export function aethRnrNak(timer: number): number {
  return Aeth.RNR_NAK | (timer & Aeth.VALUE_MASK)
}

export function aethIsAck(syndrome: number): boolean {
  return (syndrome & Aeth.TYPE_MASK) === Aeth.ACK
}

export function aethIsRnrNak(syndrome: number): boolean {
  return (syndrome & Aeth.TYPE_MASK) === Aeth.RNR_NAK
}

export function aethIsNak(syndrome: number): boolean {
  return (syndrome & Aeth.TYPE_MASK) === Aeth.NAK
}
