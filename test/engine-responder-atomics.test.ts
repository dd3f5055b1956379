import t from 'tap'
import { connectQps, startEnginePair } from './helpers/engine-pair.ts'
import { inject, naks } from './helpers/raw-request.ts'
import { Aeth, Op } from '../src/engine/opcodes.ts'
import { ErrorCodes } from '../src/errors.ts'
import { QpState, SendFlags, WcStatus, WrOpcode } from '../src/verbs/constants.ts'

// Atomics at the responder check the rkey before the alignment, in rxe's
// order: check_rkey (lookup_mr by key, PD, access and state, then
// mr_check_range) runs before rxe_mr_do_atomic_op / rxe_mr_do_atomic_write
// find the address misaligned (RESPST_ERR_MISALIGNED_ATOMIC). So an
// unaligned atomic with a bad rkey is a remote access error (NAK 0x62), and
// one with a good rkey an invalid request (NAK 0x61). At post time librxe's
// validate_send_wr refuses CMP_AND_SWP and FETCH_AND_ADD with an unaligned
// remote address (EINVAL); it does not check ATOMIC_WRITE, which reaches the
// responder and fails there.
const S = SendFlags.SIGNALED

t.test('engine - atomics: rkey checked before alignment (rxe check_rkey, then rxe_mr_do_atomic_op)', async (t) => {
  const pair = await startEnginePair(t, { capture: true })
  const cases = [
    ['FETCH_ADD, unaligned, bad rkey', Op.FETCH_ADD, 4, true, Aeth.NAK_REMOTE_ACCESS_ERROR],
    ['FETCH_ADD, unaligned, good rkey', Op.FETCH_ADD, 4, false, Aeth.NAK_INVALID_REQUEST],
    ['COMPARE_SWAP, unaligned, bad rkey', Op.COMPARE_SWAP, 2, true, Aeth.NAK_REMOTE_ACCESS_ERROR],
    ['COMPARE_SWAP, unaligned, good rkey', Op.COMPARE_SWAP, 2, false, Aeth.NAK_INVALID_REQUEST],
    ['ATOMIC_WRITE, unaligned, bad rkey', Op.ATOMIC_WRITE, 4, true, Aeth.NAK_REMOTE_ACCESS_ERROR],
    ['ATOMIC_WRITE, unaligned, good rkey', Op.ATOMIC_WRITE, 4, false, Aeth.NAK_INVALID_REQUEST],
  ] as const
  for (const [name, opcode, off, badKey, syndrome] of cases) {
    const { b } = connectQps(pair)
    const va = BigInt(b.mr.iova + off)
    const rkey = badKey ? (b.mr.stag ^ 0x5a) >>> 0 : b.mr.stag
    const p = opcode === Op.ATOMIC_WRITE
      ? { opcode, destQp: b.qp.qpNum, psn: 0, ackReq: true, reth: { va, rkey, len: 8 }, payload: new Uint8Array(8).fill(1) }
      : { opcode, destQp: b.qp.qpNum, psn: 0, ackReq: true, atomicEth: { va, rkey, swapAdd: 1n, compare: 0n } }
    t.same(naks(await inject(pair, [p])), [syndrome], `${name}: NAK 0x${syndrome.toString(16)}`)
    t.equal(b.qp.state, QpState.ERR, `${name}: the responder QP is in ERR`)
    t.same([...b.buf.subarray(0, 16)], new Array(16).fill(0), `${name}: memory untouched`)
  }
})

t.test('engine - atomics: an unaligned remote address is EINVAL at post for CMP_AND_SWP and FETCH_AND_ADD (librxe validate_send_wr)', async (t) => {
  const pair = await startEnginePair(t)
  const { a, b } = connectQps(pair)
  const sg = [{ addr: a.mr.iova, length: 8, lkey: a.mr.stag }]
  for (const opcode of [WrOpcode.ATOMIC_CMP_AND_SWP, WrOpcode.ATOMIC_FETCH_AND_ADD]) {
    for (const off of [1, 4, 7]) {
      t.throws(() => a.qp.postSend({ wrId: 1, opcode, sgList: sg, remoteAddr: b.mr.iova + off, rkey: b.mr.stag, compareAdd: 1n, sendFlags: S }), { code: ErrorCodes.EINVAL })
    }
    // A bad WR in a list: nothing of the list is posted.
    t.throws(() => a.qp.postSend([
      { wrId: 2, opcode: WrOpcode.RDMA_WRITE, sgList: sg, remoteAddr: b.mr.iova, rkey: b.mr.stag, sendFlags: S },
      { wrId: 3, opcode, sgList: sg, remoteAddr: b.mr.iova + 4, rkey: b.mr.stag, sendFlags: S },
    ]), { code: ErrorCodes.EINVAL })
  }
  t.equal(a.qp.sq.length, 0, 'nothing was posted')
  t.equal(a.qp.state, QpState.RTS, 'the QP is unharmed')
  a.qp.postSend({ wrId: 4, opcode: WrOpcode.ATOMIC_WRITE, sgList: sg, remoteAddr: b.mr.iova + 4, rkey: b.mr.stag, sendFlags: S })
  t.equal((await a.cq.next()).status, WcStatus.REM_INV_REQ_ERR, 'an unaligned ATOMIC_WRITE is not refused at post; the responder refuses it')
})
