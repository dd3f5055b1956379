import t from 'tap'
import { QpState, SendFlags, WcStatus, WrOpcode } from '../src/verbs/constants.ts'
import { AsyncEventType } from '../src/verbs/async-events.ts'
import { connectQps, startEnginePair, until } from './helpers/engine-pair.ts'

// rxe_cq_post (drivers/infiniband/sw/rxe/rxe_cq.c): a completion that finds
// the CQ full is not posted; the CQ's event handler gets IB_EVENT_CQ_ERR, and
// the QP whose completion it was goes to ERR (rxe_resp.c's
// RESPST_ERR_CQ_OVERFLOW; IBTA 11.4.2.1 for the send side). Before this, the
// completion was dropped silently and the QP ran on.

t.test('rxe_cq_post: a full send CQ fails the post, raises CQ_ERR and moves the QP to ERR', async (t) => {
  const pair = await startEnginePair(t)
  const { a, b } = connectQps(pair, { cqDepth: 2 })
  b.buf.fill(0)
  a.buf.fill(7, 0, 64)
  const write = (i: number): void =>
    a.qp.postSend({ wrId: i, opcode: WrOpcode.RDMA_WRITE, sgList: [{ addr: a.mr.iova + i * 16, length: 16, lkey: a.mr.stag }], remoteAddr: b.mr.iova + i * 16, rkey: b.mr.stag, sendFlags: SendFlags.SIGNALED })
  for (let i = 0; i < 4; i++) write(i)
  await until('a in ERR', () => a.qp.state === QpState.ERR)
  const ev = pair.a.device.asyncEvents.poll()
  t.ok(ev.length >= 1, `CQ_ERR raised (${ev.length} event(s): one per failed post, as rxe)`)
  t.same(ev[0], { type: AsyncEventType.CQ_ERR, cqn: a.cq.cqn, qpn: a.qp.qpNum, reason: `CQ ${a.cq.cqn} overrun (depth 2)` }, 'the event names the CQ and the QP')
  t.ok(ev.every((e) => e.type === AsyncEventType.CQ_ERR && e.cqn === a.cq.cqn), 'every event is that CQ\'s CQ_ERR')
  t.ok(a.cq.overflows >= 1, `${a.cq.overflows} completion(s) lost`)
  const wcs = a.cq.poll()
  t.same(wcs.map((w) => [w.wrId, w.status]), [[0, WcStatus.SUCCESS], [1, WcStatus.SUCCESS]], 'the CQ holds what fitted: the first two completions')
  t.equal(a.qp.state, QpState.ERR, 'the QP whose completion overflowed is in ERR')
  t.equal(pair.b.device.asyncEvents.poll().length, 0, 'the peer saw no event')
  a.qp.postSend({ wrId: 9, opcode: WrOpcode.RDMA_WRITE, sgList: [], remoteAddr: b.mr.iova, rkey: b.mr.stag })
  t.same(a.cq.poll().map((w) => [w.wrId, w.status]), [[9, WcStatus.WR_FLUSH_ERR]], 'with room again, a post on the ERR QP completes as WR_FLUSH_ERR')
})

t.test('rxe_cq_post: a full receive CQ fails the receive completion, raises CQ_ERR and moves the responder QP to ERR', async (t) => {
  const pair = await startEnginePair(t)
  const { a, b } = connectQps(pair, { cqDepth: 2, timeout: 14, retryCnt: 1 })
  for (let i = 0; i < 3; i++) b.qp.postRecv({ wrId: 100 + i, sgList: [{ addr: b.mr.iova + i * 64, length: 64, lkey: b.mr.stag }] })
  // One SEND at a time: each is acknowledged before the next goes.
  for (let i = 0; i < 3; i++) {
    a.qp.postSend({ wrId: i, opcode: WrOpcode.SEND, sgList: [{ addr: a.mr.iova, length: 8, lkey: a.mr.stag }] })
    await until(`SEND ${i} acknowledged`, () => a.qp.sq.length === 0 || b.qp.state === QpState.ERR)
  }
  await until('b in ERR', () => b.qp.state === QpState.ERR)
  const ev = pair.b.device.asyncEvents.poll()
  t.equal(ev[0]?.type, AsyncEventType.CQ_ERR, 'CQ_ERR on the responder\'s device')
  t.same([ev[0]?.cqn, ev[0]?.qpn], [b.cq.cqn, b.qp.qpNum], 'for its CQ and QP')
  t.same(b.cq.poll().map((w) => [w.wrId, w.status]), [[100, WcStatus.SUCCESS], [101, WcStatus.SUCCESS]], 'the two receives that fitted')
  t.equal(b.cq.overflows, 1, 'the third was lost, and not flushed again (rxe_resp.c consumes the WQE before rxe_cq_post)')
  // The sender's third SEND is never acknowledged: its retries run out.
  await until('a fails', () => a.qp.state === QpState.ERR)
  t.same(a.cq.poll().map((w) => w.status), [WcStatus.RETRY_EXC_ERR], 'the sender learns of it through its retries (RETRY_EXC_ERR)')
})
