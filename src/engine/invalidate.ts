/**
 * The local operations of the send queue and the rkey resolution that
 * memory windows add (rxe_req.c rxe_do_local_ops, rxe_resp.c check_rkey and
 * invalidate_rkey): REG_MR, LOCAL_INV and BIND_MW execute when the requester
 * reaches them and send no packet; SEND_WITH_INV invalidates the rkey its
 * IETH carries when the receive completes. A window rkey (rkeyIsMw) resolves
 * through the device's window table, every other one through the MR table.
 */
import { MrState, type LookupResult, type Mr } from '../memory/stag.ts'
import { WcStatus, WrOpcode } from '../verbs/constants.ts'
import { invalidateMr, regFastMr } from '../verbs/fast-reg.ts'
import { MwState, rkeyIsMw } from '../verbs/mw.ts'
import type { EngineQp } from './engine-qp.ts'
import type { SendWqe } from './wqe.ts'

/** Resolve a remote rkey for `access` to [va, va+len) at the responder of `qp` (rxe check_rkey). */
export function lookupRkey(qp: EngineQp, rkey: number, access: number, va: number, len: number): LookupResult {
  const mws = qp.host.mws
  if (mws && rkeyIsMw(rkey)) return mws.lookup(rkey, qp.pd, qp.qpNum, access, va, len)
  return qp.host.mrs.lookup(rkey, qp.pd, access, va, len)
}

/**
 * The region an rkey names now, if it is valid (rxe_recheck_mr, for a
 * duplicate READ replayed from its responder resource): through a valid
 * window to its MR, or the MR itself.
 */
export function recheckRkey(qp: EngineQp, rkey: number): Mr | undefined {
  let mr: Mr | undefined
  if (rkeyIsMw(rkey)) {
    const mw = qp.host.mws?.byRkey(rkey)
    mr = mw && mw.state === MwState.VALID ? mw.mr : undefined
  } else {
    mr = qp.host.mrs.byStag(rkey)
  }
  return mr && mr.state === MrState.VALID ? mr : undefined
}

/** Invalidate an MR or window by rkey (rxe invalidate_rkey); returns why it failed, or undefined. */
export function invalidateRkey(qp: EngineQp, rkey: number): string | undefined {
  const mws = qp.host.mws
  if (rkeyIsMw(rkey)) return mws ? mws.invalidate(rkey) : 'no memory windows on this device'
  return invalidateMr(qp.host.mrs, mws, rkey)
}

/**
 * Execute a local WQE (rxe_do_local_ops). Returns the WC status: SUCCESS,
 * LOC_QP_OP_ERR for a failed REG_MR or LOCAL_INV, MW_BIND_ERR for a failed
 * bind. A failure ends the QP as a local error does.
 */
export function runLocalOp(qp: EngineQp, w: SendWqe): number {
  const wr = w.wr
  let why: string | undefined
  let fail: number = WcStatus.LOC_QP_OP_ERR
  switch (wr.opcode) {
    case WrOpcode.LOCAL_INV:
      why = invalidateRkey(qp, wr.invalidateRkey ?? 0)
      break
    case WrOpcode.REG_MR:
      why = wr.reg ? regFastMr(qp.host.mrs, qp.pd, wr.reg.mr, wr.reg.key, wr.reg.access) : 'REG_MR without reg'
      break
    case WrOpcode.BIND_MW:
      fail = WcStatus.MW_BIND_ERR
      why = !qp.host.mws || !wr.bindMw ? 'BIND_MW without bindMw' : qp.host.mws.bind(qp.pd, qp.qpNum, wr.bindMw)
      break
    default:
      why = `opcode ${wr.opcode} is not a local operation`
  }
  if (why === undefined) return WcStatus.SUCCESS
  w.localWhy = why
  return fail
}
