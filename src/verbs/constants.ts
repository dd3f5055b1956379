/**
 * Verbs constants with the numbering of libibverbs (verbs.h), so users and
 * JSON output read the same values as on real hardware.
 */

/** enum ibv_access_flags */
export const Access = {
  LOCAL_WRITE: 1,
  REMOTE_WRITE: 1 << 1,
  REMOTE_READ: 1 << 2,
  REMOTE_ATOMIC: 1 << 3,
  MW_BIND: 1 << 4,
  ZERO_BASED: 1 << 5,
  ON_DEMAND: 1 << 6,
  FLUSH_GLOBAL: 1 << 8,
  FLUSH_PERSISTENT: 1 << 9,
} as const
/** Every access flag the emulator accepts (ib_check_mr_access). */
export const ACCESS_ALL = 0x37f

/** enum ibv_wc_status */
export const WcStatus = {
  SUCCESS: 0,
  LOC_LEN_ERR: 1,
  LOC_QP_OP_ERR: 2,
  LOC_EEC_OP_ERR: 3,
  LOC_PROT_ERR: 4,
  WR_FLUSH_ERR: 5,
  MW_BIND_ERR: 6,
  BAD_RESP_ERR: 7,
  LOC_ACCESS_ERR: 8,
  REM_INV_REQ_ERR: 9,
  REM_ACCESS_ERR: 10,
  REM_OP_ERR: 11,
  RETRY_EXC_ERR: 12,
  RNR_RETRY_EXC_ERR: 13,
  LOC_RDD_VIOL_ERR: 14,
  REM_INV_RD_REQ_ERR: 15,
  REM_ABORT_ERR: 16,
  INV_EECN_ERR: 17,
  INV_EEC_STATE_ERR: 18,
  FATAL_ERR: 19,
  RESP_TIMEOUT_ERR: 20,
  GENERAL_ERR: 21,
} as const
/** One ibv_wc_status value. */
export type WcStatusValue = (typeof WcStatus)[keyof typeof WcStatus]

/** The name of `value` in one of these constant tables, or UNKNOWN(value). */
function nameOf(table: Record<string, number>, value: number): string {
  for (const [k, v] of Object.entries(table)) if (v === value) return k
  return `UNKNOWN(${value})`
}

/** ibv_wc_status_str: the name of a WC status (SUCCESS, REM_ACCESS_ERR ...). */
export function wcStatusName(s: number): string {
  return nameOf(WcStatus, s)
}

/** enum ibv_wc_opcode */
export const WcOpcode = {
  SEND: 0,
  RDMA_WRITE: 1,
  RDMA_READ: 2,
  COMP_SWAP: 3,
  FETCH_ADD: 4,
  BIND_MW: 5,
  LOCAL_INV: 6,
  TSO: 7,
  FLUSH: 8,
  ATOMIC_WRITE: 9,
  /** The kernel's IB_WC_REG_MR (a fast-register WR completed; libibverbs has no REG_MR). */
  REG_MR: 10,
  RECV: 128,
  RECV_RDMA_WITH_IMM: 129,
} as const

/** enum ibv_wr_opcode */
export const WrOpcode = {
  RDMA_WRITE: 0,
  RDMA_WRITE_WITH_IMM: 1,
  SEND: 2,
  SEND_WITH_IMM: 3,
  RDMA_READ: 4,
  ATOMIC_CMP_AND_SWP: 5,
  ATOMIC_FETCH_AND_ADD: 6,
  LOCAL_INV: 7,
  BIND_MW: 8,
  SEND_WITH_INV: 9,
  TSO: 10,
  DRIVER1: 11,
  FLUSH: 14,
  ATOMIC_WRITE: 15,
  /** The kernel's IB_WR_REG_MR (fast-register an MR from allocMr; src/verbs/fast-reg.ts). */
  REG_MR: 0x20,
} as const
/** One ibv_wr_opcode value. */
export type WrOpcodeValue = (typeof WrOpcode)[keyof typeof WrOpcode]

/** enum ibv_send_flags */
export const SendFlags = {
  FENCE: 1,
  SIGNALED: 1 << 1,
  SOLICITED: 1 << 2,
  INLINE: 1 << 3,
} as const

/** enum ibv_qp_state */
export const QpState = {
  RESET: 0,
  INIT: 1,
  RTR: 2,
  RTS: 3,
  SQD: 4,
  SQE: 5,
  ERR: 6,
} as const
/** One ibv_qp_state value. */
export type QpStateValue = (typeof QpState)[keyof typeof QpState]

/** The name of a QP state (RESET, INIT, RTR, RTS, SQD, SQE, ERR). */
export function qpStateName(s: number): string {
  return nameOf(QpState, s)
}

/** enum ibv_mtu (1..5) to bytes. */
export function mtuBytes(e: number): number {
  return 128 << e
}

/** IBTA RNR NAK timer field (5 bits) to milliseconds (o9-70 table). */
export const RNR_TIMER_MS = [
  655.36, 0.01, 0.02, 0.03, 0.04, 0.06, 0.08, 0.12, 0.16, 0.24, 0.32, 0.48, 0.64, 0.96, 1.28, 1.92, 2.56, 3.84,
  5.12, 7.68, 10.24, 15.36, 20.48, 30.72, 40.96, 61.44, 81.92, 122.88, 163.84, 245.76, 327.68, 491.52,
] as const
