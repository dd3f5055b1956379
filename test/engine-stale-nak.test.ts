import t from 'tap'
import { encodePacket } from '../fabric/codec.ts'
import { Aeth, Op } from '../src/engine/opcodes.ts'
import { QpState, SendFlags, WcStatus, WrOpcode } from '../src/verbs/constants.ts'
import { connectQps, startEnginePair, type QpEnd } from './helpers/engine-pair.ts'

// A NAK whose PSN the requester has already moved past is stale: rxe_comp.c
// check_psn ignores a response older than comp.psn unless it completes the
// WQE at the head. Such a NAK reaches a requester when a READ it retransmitted
// (its timer fired on a loaded machine while the response was on its way) is
// answered twice: once with the data, and once, later, with a remote access
// NAK because the responder's MR was invalidated in between (fast-reg's
// LOCAL_INV, rxe_recheck_mr). A former bug: the stale NAK failed whatever WR
// was at the head then, with REM_ACCESS_ERR, and the QP went to ERR.
const S = SendFlags.SIGNALED

const read = (a: QpEnd, b: QpEnd, wrId: number) =>
  a.qp.postSend({ wrId, opcode: WrOpcode.RDMA_READ, sgList: [{ addr: a.mr.iova, length: 64, lkey: a.mr.stag }], remoteAddr: b.mr.iova, rkey: b.mr.stag, sendFlags: S })

const staleNak = (a: QpEnd, psn: number) => encodePacket({ opcode: Op.ACKNOWLEDGE, destQp: a.qp.qpNum, psn, aeth: { syndrome: Aeth.NAK_REMOTE_ACCESS_ERROR, msn: 1 } })

t.test('completer - a NAK for a completed PSN does not fail the READ now outstanding', async (t) => {
  const pair = await startEnginePair(t)
  const { a, b } = connectQps(pair, { timeout: 18 })
  read(a, b, 1)
  t.same([(await a.cq.next()).status], [WcStatus.SUCCESS], 'READ 1 (PSN 0) completes')
  const stray = pair.a.device.counters.strayResponses
  read(a, b, 2)
  // Queued before b can answer READ 2: a receives it while READ 2 (PSN 1) is outstanding.
  pair.b.device.emit('a', staleNak(a, 0))
  const wc = await a.cq.next()
  t.same([wc.wrId, wc.status], [2, WcStatus.SUCCESS], 'READ 2 completes with its data')
  t.equal(pair.a.device.counters.strayResponses, stray + 1, 'the NAK for PSN 0 was counted as stray and ignored')
  t.equal(a.qp.state, QpState.RTS, 'the QP stays in RTS')
})

t.test('completer - an idle requester ignores a stale NAK, and still fails on one for its next PSN (a revocation)', async (t) => {
  const pair = await startEnginePair(t)
  const { a, b } = connectQps(pair, { timeout: 18 })
  read(a, b, 1)
  await a.cq.next()
  pair.b.device.emit('a', staleNak(a, 0))
  await new Promise((r) => setTimeout(r, 20))
  t.equal(a.qp.state, QpState.RTS, 'a stale NAK on an idle QP changes nothing')
  // PSN 1 is the one a would send next: a NAK for it ends the QP (the server's lease revocation sends one).
  pair.b.device.emit('a', staleNak(a, 1))
  for (let i = 0; i < 100 && a.qp.state !== QpState.ERR; i++) await new Promise((r) => setTimeout(r, 5))
  t.equal(a.qp.state, QpState.ERR, 'a NAK for the next PSN moves the idle QP to ERR')
})
