import t, { type Test } from 'tap'
import { connectQps, sent, startEnginePair, type EnginePair, type QpEnd } from './helpers/engine-pair.ts'
import { naks } from './helpers/raw-request.ts'
import { pattern } from './helpers/rdma-connect.ts'
import { Aeth } from '../src/engine/opcodes.ts'
import { Access, QpState, SendFlags, WcStatus, WrOpcode } from '../src/verbs/constants.ts'

// Receive WQEs are checked when they are used, not only when they are
// posted (rxe: send_data_in -> copy_data looks up every SGE it reaches by
// lkey, PD, access and state, then checks its range; a failure is
// RESPST_ERR_MALFORMED_WQE, class A). Mirrors pyverbs test_mr.py
// test_mr_rereg_pd: the receiver's MR is re-registered to another PD after
// the receive was posted; the SEND fails with "remote operation error"
// (NAK 0x63, AETH_NAK_REM_OP_ERR), the receive completes with
// LOC_QP_OP_ERR (rxe's status for a malformed WQE) and the receiver's QP
// goes to ERR. Restoring the PD before the SEND arrives lets it through.
const S = SendFlags.SIGNALED

async function sendInto(t: Test, pair: EnginePair, a: QpEnd, b: QpEnd, spoil: (rmr: typeof b.mr) => void): Promise<void> {
  const rmr = pair.b.device.regMr(b.pd, 4096, Access.LOCAL_WRITE)
  b.qp.postRecv({ wrId: 7, sgList: [{ addr: rmr.iova, length: 64, lkey: rmr.stag }] })
  b.qp.postRecv({ wrId: 8, sgList: [{ addr: b.mr.iova, length: 64, lkey: b.mr.stag }] })
  spoil(rmr)
  a.buf.set(pattern(16, 3), 0)
  a.qp.postSend({ wrId: 1, opcode: WrOpcode.SEND, sgList: [{ addr: a.mr.iova, length: 16, lkey: a.mr.stag }], sendFlags: S })
  t.equal((await a.cq.next()).status, WcStatus.REM_OP_ERR, 'the sender sees a remote operational error')
  const [bad, flushed] = await b.cq.take(2)
  t.same([bad!.wrId, bad!.status], [7, WcStatus.LOC_QP_OP_ERR], 'the receive completes with LOC_QP_OP_ERR (rxe RESPST_ERR_MALFORMED_WQE)')
  t.same([flushed!.wrId, flushed!.status], [8, WcStatus.WR_FLUSH_ERR], 'the receives behind it are flushed')
  t.equal(b.qp.state, QpState.ERR, "the receiver's QP is in ERR")
  t.same(naks(sent(pair.b)), [Aeth.NAK_REMOTE_OPERATIONAL_ERROR], 'one NAK, syndrome 0x63')
  t.same([...b.mr.memory.view(0, 16)!], new Array(16).fill(0), 'nothing was written')
}

t.test('engine - receive WQE checked at use: MR re-registered to another PD after post_recv (rxe copy_data, pyverbs test_mr_rereg_pd)', async (t) => {
  const pair = await startEnginePair(t, { capture: true })
  const { a, b } = connectQps(pair)
  await sendInto(t, pair, a, b, (rmr) => pair.b.device.reregMr(rmr, { pd: pair.b.device.allocPd() }))
})

t.test('engine - receive WQE checked at use: MR deregistered after post_recv (rxe copy_data -> lookup_mr)', async (t) => {
  const pair = await startEnginePair(t, { capture: true })
  const { a, b } = connectQps(pair)
  await sendInto(t, pair, a, b, (rmr) => pair.b.device.deregMr(rmr))
})

t.test('engine - receive WQE checked at use: MR re-registered without LOCAL_WRITE after post_recv (rxe copy_data access)', async (t) => {
  const pair = await startEnginePair(t, { capture: true })
  const { a, b } = connectQps(pair)
  await sendInto(t, pair, a, b, (rmr) => pair.b.device.reregMr(rmr, { access: Access.REMOTE_READ }))
})

t.test('engine - receive WQE checked at use: PD restored before the SEND, or an SGE the SEND does not reach (pyverbs test_mr_rereg_pd restore)', async (t) => {
  const pair = await startEnginePair(t, { capture: true })
  const { a, b } = connectQps(pair)
  const rmr = pair.b.device.regMr(b.pd, 4096, Access.LOCAL_WRITE)
  const spare = pair.b.device.regMr(b.pd, 4096, Access.LOCAL_WRITE)
  b.qp.postRecv({ wrId: 7, sgList: [{ addr: rmr.iova, length: 16, lkey: rmr.stag }, { addr: spare.iova, length: 16, lkey: spare.stag }] })
  pair.b.device.reregMr(rmr, { pd: pair.b.device.allocPd() })
  pair.b.device.reregMr(rmr, { pd: b.pd })
  // Only the first SGE is reached by a 16-byte SEND: rxe looks up an SGE's MR when the data gets to it.
  pair.b.device.deregMr(spare)
  a.buf.set(pattern(16, 4), 0)
  a.qp.postSend({ wrId: 1, opcode: WrOpcode.SEND, sgList: [{ addr: a.mr.iova, length: 16, lkey: a.mr.stag }], sendFlags: S })
  t.equal((await a.cq.next()).status, WcStatus.SUCCESS)
  const [wc] = await b.cq.take(1)
  t.same([wc!.wrId, wc!.status, wc!.byteLen], [7, WcStatus.SUCCESS, 16])
  t.same([...rmr.memory.view(0, 16)!], [...pattern(16, 4)], 'the bytes landed')
  t.same(naks(sent(pair.b)), [], 'no NAK')
})
