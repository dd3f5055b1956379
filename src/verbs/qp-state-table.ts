/**
 * The RC rows of the kernel's qp_state_table (drivers/infiniband/core/verbs.c)
 * and ib_modify_qp_is_ok: which transitions are legal, and for each the
 * attributes it requires and the ones it also accepts. The attribute mask of
 * a modify is the set of QpAttr fields given (undefined counts as absent).
 * Attributes the emulator does not model (ALT_PATH, PATH_MIG_STATE,
 * CUR_STATE, QKEY, RATE_LIMIT) are left out of the rows.
 */
import { EmuError, ErrorCodes } from '../errors.ts'
import type { QpAttr } from '../engine/engine-qp.ts'
import { QpState, qpStateName } from './constants.ts'

/** A QpAttr field as an attribute-mask bit (everything but qpState). */
export type QpAttrKey = Exclude<keyof QpAttr, 'qpState'>

/** The IB_QP_* mask bit each field stands for (for error messages). */
export const QP_ATTR_MASK_NAME: Record<QpAttrKey, string> = {
  pathMtu: 'IB_QP_PATH_MTU',
  destQpNum: 'IB_QP_DEST_QPN',
  destNode: 'IB_QP_AV',
  rqPsn: 'IB_QP_RQ_PSN',
  sqPsn: 'IB_QP_SQ_PSN',
  timeout: 'IB_QP_TIMEOUT',
  retryCnt: 'IB_QP_RETRY_CNT',
  rnrRetry: 'IB_QP_RNR_RETRY',
  minRnrTimer: 'IB_QP_MIN_RNR_TIMER',
  maxRdAtomic: 'IB_QP_MAX_QP_RD_ATOMIC',
  maxDestRdAtomic: 'IB_QP_MAX_DEST_RD_ATOMIC',
  qpAccessFlags: 'IB_QP_ACCESS_FLAGS',
  pkeyIndex: 'IB_QP_PKEY_INDEX',
  portNum: 'IB_QP_PORT',
  enSqdAsyncNotify: 'IB_QP_EN_SQD_ASYNC_NOTIFY',
}

interface Transition {
  req: readonly QpAttrKey[]
  opt: readonly QpAttrKey[]
}

const NONE: Transition = { req: [], opt: [] }
const S = QpState

/** qp_state_table[cur][next] for IB_QPT_RC; a missing entry is an illegal transition. */
const TABLE: Record<number, Record<number, Transition>> = {
  [S.RESET]: {
    [S.RESET]: NONE,
    [S.INIT]: { req: ['pkeyIndex', 'portNum', 'qpAccessFlags'], opt: [] },
  },
  [S.INIT]: {
    [S.RESET]: NONE,
    [S.ERR]: NONE,
    [S.INIT]: { req: [], opt: ['pkeyIndex', 'portNum', 'qpAccessFlags'] },
    [S.RTR]: {
      req: ['destNode', 'pathMtu', 'destQpNum', 'rqPsn', 'maxDestRdAtomic', 'minRnrTimer'],
      opt: ['qpAccessFlags', 'pkeyIndex'],
    },
  },
  [S.RTR]: {
    [S.RESET]: NONE,
    [S.ERR]: NONE,
    [S.RTS]: { req: ['timeout', 'retryCnt', 'rnrRetry', 'sqPsn', 'maxRdAtomic'], opt: ['qpAccessFlags', 'minRnrTimer'] },
  },
  [S.RTS]: {
    [S.RESET]: NONE,
    [S.ERR]: NONE,
    [S.RTS]: { req: [], opt: ['qpAccessFlags', 'minRnrTimer'] },
    [S.SQD]: { req: [], opt: ['enSqdAsyncNotify'] },
  },
  [S.SQD]: {
    [S.RESET]: NONE,
    [S.ERR]: NONE,
    [S.RTS]: { req: [], opt: ['qpAccessFlags', 'minRnrTimer'] },
    [S.SQD]: {
      req: [],
      opt: ['portNum', 'destNode', 'timeout', 'retryCnt', 'rnrRetry', 'maxRdAtomic', 'maxDestRdAtomic', 'qpAccessFlags', 'pkeyIndex', 'minRnrTimer'],
    },
  },
  [S.SQE]: {
    [S.RESET]: NONE,
    [S.ERR]: NONE,
    [S.RTS]: NONE,
  },
  [S.ERR]: {
    [S.RESET]: NONE,
    [S.ERR]: NONE,
  },
}

/** The attribute mask of a modify: the fields given, qpState aside. */
export function attrMask(change: Partial<QpAttr>): string[] {
  return Object.keys(change).filter((k) => k !== 'qpState' && (change as Record<string, unknown>)[k] !== undefined)
}

/**
 * ib_modify_qp_is_ok for an RC QP: throws EINVAL for an illegal transition,
 * a required attribute missing, or an attribute the transition does not take.
 */
export function checkModify(cur: number, next: number, change: Partial<QpAttr>): void {
  const t = TABLE[cur]?.[next]
  const what = `${qpStateName(cur)} -> ${qpStateName(next)}`
  if (!t) throw new EmuError(ErrorCodes.EINVAL, `illegal QP transition ${what} (qp_state_table)`)
  const mask = attrMask(change)
  const missing = t.req.filter((k) => !mask.includes(k))
  if (missing.length) {
    throw new EmuError(ErrorCodes.EINVAL, `${what} requires ${missing.map((k) => `${k} (${QP_ATTR_MASK_NAME[k]})`).join(', ')}`)
  }
  const extra = mask.filter((k) => !t.req.includes(k as QpAttrKey) && !t.opt.includes(k as QpAttrKey))
  if (extra.length) {
    const names = extra.map((k) => (k in QP_ATTR_MASK_NAME ? `${k} (${QP_ATTR_MASK_NAME[k as QpAttrKey]})` : k))
    throw new EmuError(ErrorCodes.EINVAL, `${what} does not take ${names.join(', ')}`)
  }
}
