import t from 'tap'
import { ErrorCodes } from '../src/errors.ts'
import { QpState } from '../src/verbs/constants.ts'
import { RdmaDevice } from '../src/verbs/device.ts'
import type { Qp, QpAttr } from '../src/verbs/qp.ts'

// The QP state machine as the kernel's qp_state_table and ib_modify_qp_is_ok
// (drivers/infiniband/core/verbs.c) have it for RC, with rxe_qp_chk_attr's
// range checks and rxe_qp_from_attr's rounding; the transitions pyverbs'
// tests/test_qp.py walks (test_modify_qp, test_qp_state_change_*).

const RTR: Partial<QpAttr> = { qpState: QpState.RTR, destNode: 'peer', destQpNum: 0x12, rqPsn: 0, pathMtu: 1024, maxDestRdAtomic: 4, minRnrTimer: 12 }
const RTS: Partial<QpAttr> = { qpState: QpState.RTS, sqPsn: 0, timeout: 14, retryCnt: 7, rnrRetry: 7, maxRdAtomic: 4 }
const INIT: Partial<QpAttr> = { qpState: QpState.INIT, pkeyIndex: 0, portNum: 1, qpAccessFlags: 0 }

function newQp(): { qp: Qp; dev: RdmaDevice } {
  const dev = new RdmaDevice({ sendTrain() {} })
  const pd = dev.allocPd()
  return { qp: dev.createQp({ pd, sendCq: dev.createCq(16) }), dev }
}

function to(qp: Qp, state: number): void {
  if (state >= QpState.INIT) qp.modify(INIT)
  if (state >= QpState.RTR) qp.modify(RTR)
  if (state >= QpState.RTS) qp.modify(RTS)
}

const einval = { code: ErrorCodes.EINVAL }

t.test('qp_state_table: legal transitions only (ib_modify_qp_is_ok)', async (t) => {
  const { qp, dev } = newQp()
  t.throws(() => qp.modify({ qpState: QpState.ERR }), einval, 'RESET -> ERR is not in the table: EINVAL')
  t.equal(qp.state, QpState.RESET, 'and the QP stays in RESET')
  t.throws(() => qp.modify({ qpState: QpState.RTR }), einval, 'RESET -> RTR')
  t.throws(() => qp.modify({ qpState: QpState.SQD }), einval, 'RESET -> SQD')
  qp.modify({ qpState: QpState.RESET })
  t.equal(qp.state, QpState.RESET, 'RESET -> RESET is legal')
  qp.modify(INIT)
  t.throws(() => qp.modify({ qpState: QpState.RTS }), einval, 'INIT -> RTS')
  qp.modify({ qpState: QpState.INIT })
  t.equal(qp.state, QpState.INIT, 'INIT -> INIT with no attributes')
  qp.modify(RTR)
  t.throws(() => qp.modify({ minRnrTimer: 3 }), einval, 'a modify in RTR without a state (RTR -> RTR) is not in the table')
  t.throws(() => qp.modify({ qpState: QpState.INIT, pkeyIndex: 0, portNum: 1, qpAccessFlags: 0 }), einval, 'RTR -> INIT')
  qp.modify(RTS)
  t.equal(qp.state, QpState.RTS)
  t.throws(() => qp.modify({ qpState: QpState.RTR, ...RTR }), einval, 'RTS -> RTR')
  qp.modify({ qpState: QpState.ERR })
  t.equal(qp.state, QpState.ERR, 'RTS -> ERR')
  t.throws(() => qp.modify({ qpState: QpState.RTS }), einval, 'ERR -> RTS')
  t.throws(() => qp.modify({ qpState: QpState.INIT, pkeyIndex: 0, portNum: 1, qpAccessFlags: 0 }), einval, 'ERR -> INIT')
  qp.modify({ qpState: QpState.RESET })
  t.equal(qp.state, QpState.RESET, 'ERR -> RESET, and the QP can be used again')
  to(qp, QpState.RTS)
  t.equal(qp.state, QpState.RTS, 'RESET -> INIT -> RTR -> RTS again')
  t.throws(() => qp.modify({ qpState: 9 as never }), einval, 'an unknown state')
  for (const s of [QpState.INIT, QpState.RTR]) {
    const q = newQp().qp
    to(q, s)
    q.modify({ qpState: QpState.ERR })
    t.equal(q.state, QpState.ERR, `state ${s} -> ERR`)
  }
  dev.close()
})

t.test('qp_state_table: required and optional attributes per transition (EINVAL otherwise)', async (t) => {
  const { qp } = newQp()
  t.throws(() => qp.modify({ qpState: QpState.INIT, portNum: 1, qpAccessFlags: 0 }), { code: ErrorCodes.EINVAL, message: /pkeyIndex \(IB_QP_PKEY_INDEX\)/ }, 'RESET -> INIT needs PKEY_INDEX')
  t.throws(() => qp.modify({ qpState: QpState.INIT, pkeyIndex: 0, qpAccessFlags: 0 }), { message: /IB_QP_PORT/ }, '... and PORT')
  t.throws(() => qp.modify({ qpState: QpState.INIT, pkeyIndex: 0, portNum: 1 }), { message: /IB_QP_ACCESS_FLAGS/ }, '... and ACCESS_FLAGS')
  t.throws(() => qp.modify({ ...INIT, pathMtu: 1024 }), { code: ErrorCodes.EINVAL, message: /does not take pathMtu \(IB_QP_PATH_MTU\)/ }, 'RESET -> INIT does not take PATH_MTU')
  t.throws(() => qp.modify({ ...INIT, portNum: 2 }), einval, 'port 2 does not exist (rdma_is_port_valid)')
  t.equal(qp.state, QpState.RESET, 'failed modifies change nothing')
  qp.modify({ ...INIT, qpAccessFlags: 7 })
  t.equal(qp.attr.qpAccessFlags, 7)
  qp.modify({ qpState: QpState.INIT, qpAccessFlags: 3, pathMtu: undefined })
  t.equal(qp.attr.qpAccessFlags, 3, 'INIT -> INIT takes ACCESS_FLAGS as an option (a field given as undefined is not in the mask)')
  for (const k of ['destNode', 'pathMtu', 'destQpNum', 'rqPsn', 'maxDestRdAtomic', 'minRnrTimer'] as const) {
    const { [k]: _left, ...rest } = RTR
    t.throws(() => qp.modify(rest), { code: ErrorCodes.EINVAL, message: new RegExp(`requires ${k}`) }, `INIT -> RTR needs ${k}`)
  }
  t.throws(() => qp.modify({ ...RTR, sqPsn: 0 }), { message: /does not take sqPsn/ }, 'INIT -> RTR does not take SQ_PSN')
  t.throws(() => qp.modify({ ...RTR, timeout: 14 }), { message: /does not take timeout/ }, '... nor TIMEOUT')
  t.equal(qp.state, QpState.INIT)
  qp.modify({ ...RTR, pkeyIndex: 0 })
  for (const k of ['sqPsn', 'timeout', 'retryCnt', 'rnrRetry', 'maxRdAtomic'] as const) {
    const { [k]: _left, ...rest } = RTS
    t.throws(() => qp.modify(rest), { code: ErrorCodes.EINVAL, message: new RegExp(`requires ${k}`) }, `RTR -> RTS needs ${k}`)
  }
  t.throws(() => qp.modify({ ...RTS, rqPsn: 1 }), { message: /does not take rqPsn/ }, 'RTR -> RTS does not take RQ_PSN')
  qp.modify({ ...RTS, minRnrTimer: 14 })
  t.equal(qp.attr.minRnrTimer, 14, 'RTR -> RTS takes MIN_RNR_TIMER as an option')
  qp.modify({ qpState: QpState.RTS, minRnrTimer: 10, qpAccessFlags: 1 })
  t.same([qp.attr.minRnrTimer, qp.attr.qpAccessFlags], [10, 1], 'RTS -> RTS takes MIN_RNR_TIMER and ACCESS_FLAGS')
  t.throws(() => qp.modify({ qpState: QpState.RTS, timeout: 10 }), { message: /does not take timeout/ }, 'RTS -> RTS does not take TIMEOUT')
  t.throws(() => qp.modify({ retryCnt: 3 }), { message: /RTS -> RTS does not take retryCnt/ }, 'nor RETRY_CNT (a modify without a state is cur -> cur)')
  t.throws(() => qp.modify({ qpState: QpState.SQD, timeout: 3 }), einval, 'RTS -> SQD takes only EN_SQD_ASYNC_NOTIFY')
  t.throws(() => qp.modify({ qpState: QpState.ERR, timeout: 3 }), einval, 'RTS -> ERR takes no attributes')
  t.throws(() => qp.modify({ qpState: QpState.RTS, bogus: 1 } as Partial<QpAttr>), { message: /does not take bogus/ }, 'an unknown attribute')
  t.equal(qp.attr.timeout, 14, 'unchanged')
})

t.test('max_rd_atomic and max_dest_rd_atomic as rxe_qp_from_attr: rounded up to a power of two, RXE_MAX_QP_RD_ATOM, 0 kept', async (t) => {
  const cases: Array<[number, number]> = [[0, 0], [1, 1], [3, 4], [5, 8], [16, 16], [100, 128], [128, 128]]
  for (const [given, want] of cases) {
    const { qp } = newQp()
    qp.modify(INIT)
    qp.modify({ ...RTR, maxDestRdAtomic: given })
    qp.modify({ ...RTS, maxRdAtomic: given })
    t.same([qp.query().maxRdAtomic, qp.query().maxDestRdAtomic], [want, want], `${given} -> ${want}`)
    t.equal(qp.rdAtomicLimit, want, `the requester allows ${want} outstanding`)
  }
  const { qp } = newQp()
  qp.modify(INIT)
  qp.modify({ ...RTR, maxDestRdAtomic: 200 })
  t.equal(qp.attr.maxDestRdAtomic, 256, 'max_dest_rd_atomic is not checked against a limit by rxe: 200 -> 256')
  t.throws(() => qp.modify({ ...RTS, maxRdAtomic: 129 }), { code: ErrorCodes.EINVAL, message: /maxRdAtomic must be an integer 0-128/ }, 'max_rd_atomic > max_qp_rd_atom (128): EINVAL (rxe_qp_chk_attr)')
  t.throws(() => qp.modify({ ...RTS, timeout: 32 }), einval, 'timeout > 31: EINVAL (rxe_qp_chk_attr)')
  t.equal(qp.state, QpState.RTR)
})
