/**
 * Checker (d): every posted WR completes exactly once, with success or an
 * error a fault of the run explains.
 *
 * - `completed-twice`: more than one completion for a WR.
 * - `never-completed`: status PENDING or no completion.
 * - `unexplained-error`: an error status no `ErrorAllowance` of the run
 *   matches (a fault explains RETRY_EXC_ERR, RNR_RETRY_EXC_ERR, WR_FLUSH_ERR,
 *   REM_ACCESS_ERR after a revocation ...; a run without faults allows none).
 * - `not-flushed-after-error`: on one QP (client, qpn, connection), in posting
 *   order, every WR after the first error completes with WR_FLUSH_ERR (RC
 *   semantics: the QP is in the error state). PENDING WRs are left to
 *   `never-completed`.
 */

import type { History, HistoryOp } from './history.ts'
import { PENDING } from './history.ts'
import { AnomalyList, makeResult, num, type CheckResult } from './result.ts'
import { SUCCESS } from './word-index.ts'

/** WR_FLUSH_ERR: what the WRs after an error on an RC QP complete with. */
export const WR_FLUSH_ERR = 'WR_FLUSH_ERR'

/**
 * An error status a fault of the run explains: the status, optionally only
 * for WRs completing (or, never completed, posted) in [fromUs, toUs], of one
 * client or to one server. A plain string allows the status at any time.
 */
export type ErrorAllowance = string | { status: string; fromUs?: number; toUs?: number; client?: string; server?: string }

function explained(op: HistoryOp, allowed: ErrorAllowance[]): boolean {
  const t = op.completedUs ?? op.postedUs
  return allowed.some((a) => typeof a === 'string'
    ? a === op.status
    : a.status === op.status && (a.fromUs === undefined || t >= a.fromUs) && (a.toUs === undefined || t <= a.toUs) &&
      (a.client === undefined || a.client === op.client) && (a.server === undefined || a.server === op.server))
}

/** Check completions, error statuses and the error order on each QP. */
export function checkExactlyOnce(history: History, allowed: ErrorAllowance[]): CheckResult {
  const anomalies = new AnomalyList()
  const counts = { wrs: history.ops.length, success: 0, errors: 0, pending: 0, qps: 0 }
  // client -> (connection * 2^24 + qpn) -> its WRs
  const byClient = new Map<string, Map<number, HistoryOp[]>>()
  for (const op of history.ops) {
    let qps = byClient.get(op.client)
    if (!qps) byClient.set(op.client, (qps = new Map()))
    const qp = (op.connection ?? 0) * 0x1000000 + op.qpn
    const l = qps.get(qp)
    if (l) l.push(op)
    else qps.set(qp, [op])
    const pending = op.status === PENDING || op.completions === 0
    if (pending) counts.pending++
    else if (op.status === SUCCESS) counts.success++
    else counts.errors++
    if (op.completions > 1) {
      anomalies.add({
        kind: 'completed-twice',
        message: `WR ${op.id} (${op.op} on ${op.client} qp ${op.qpn}) completed ${num(op.completions)} times`,
        ops: [op], mr: op.mr,
      })
    }
    if (pending) {
      anomalies.add({
        kind: 'never-completed',
        message: `WR ${op.id} (${op.op} on ${op.client} qp ${op.qpn}, posted ${op.postedUs} µs) never completed`,
        ops: [op], mr: op.mr,
      })
    } else if (op.status !== SUCCESS && !explained(op, allowed)) {
      anomalies.add({
        kind: 'unexplained-error',
        message: `WR ${op.id} (${op.op} on ${op.client} qp ${op.qpn}) completed with ${op.status} at ${op.completedUs} µs, which no fault of the run explains`,
        ops: [op], mr: op.mr,
      })
    }
  }
  const byQp = [...byClient.values()].flatMap((qps) => [...qps.values()])
  counts.qps = byQp.length
  for (const ops of byQp) {
    ops.sort((a, b) => a.postedUs - b.postedUs || a.id - b.id)
    let first: HistoryOp | undefined
    for (const op of ops) {
      if (op.status === PENDING || op.completions === 0) continue
      if (first) {
        if (op.status !== WR_FLUSH_ERR) {
          anomalies.add({
            kind: 'not-flushed-after-error',
            message: `WR ${op.id} on ${op.client} qp ${op.qpn} was posted after WR ${first.id}, which failed with ${first.status}, yet completed with ${op.status}, not ${WR_FLUSH_ERR}`,
            ops: [first, op], mr: op.mr,
          })
        }
      } else if (op.status !== SUCCESS) first = op
    }
  }
  const what = `${num(counts.wrs)} WRs on ${num(counts.qps)} QPs, ${num(counts.errors)} errors`
  return makeResult('exactly-once', what, anomalies, counts)
}
