import t from 'tap'
import { firstSent, startEnginePair } from './helpers/engine-pair.ts'
import { qpPair, sge } from './helpers/verbs-pair.ts'
import { CompChannel } from '../src/verbs/comp-channel.ts'
import { Op } from '../src/engine/opcodes.ts'
import { QpState, SendFlags, WcOpcode, WcStatus, WrOpcode } from '../src/verbs/constants.ts'
import { ErrorCodes } from '../src/errors.ts'

// Modelled on rdma-core's tests/test_cq_events.py (CQ on a completion
// channel, req_notify_cq, get_cq_event, ack_cq_events around RC traffic) and
// on rxe_cq.c: rxe_cq_post fires an armed CQ for any completion
// (IB_CQ_NEXT_COMP) or, solicited-only (IB_CQ_SOLICITED), for a completion
// of a message whose BTH SE bit is set (IBV_SEND_SOLICITED), and disarms it.
const S = SendFlags.SIGNALED
const quiet = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

t.test('completion channel - req_notify_cq, get_cq_event, poll, ack (test_cq_events)', async (t) => {
  const pair = await startEnginePair(t)
  const chA = new CompChannel()
  const chB = new CompChannel()
  const p = qpPair(pair, { a: { cq: pair.a.device.createCq(64, { channel: chA }) }, b: { cq: pair.b.device.createCq(64, { channel: chB }) } })
  for (let i = 0; i < 4; i++) p.b.qp.postRecv({ wrId: 10 + i, sgList: [sge(p.b, i * 64, 64)] })
  for (let i = 0; i < 4; i++) {
    p.a.cq.reqNotify()
    p.b.cq.reqNotify()
    p.a.buf.fill(i + 1, 0, 32)
    p.a.qp.postSend({ wrId: i, opcode: WrOpcode.SEND, sgList: [sge(p.a, 0, 32)], sendFlags: S })
    t.equal(await chA.getCqEvent(2000), p.a.cq, 'the sender CQ event names its CQ')
    t.equal(await chB.getCqEvent(2000), p.b.cq, 'the receiver CQ event names its CQ')
    const [s] = p.a.cq.poll(1)
    const [r] = p.b.cq.poll(1)
    t.equal(s!.status, WcStatus.SUCCESS)
    t.equal(s!.opcode, WcOpcode.SEND)
    t.equal(r!.status, WcStatus.SUCCESS)
    t.equal(r!.wrId, 10 + i)
    t.same([...p.b.buf.subarray(i * 64, i * 64 + 32)], Array(32).fill(i + 1), 'the data arrived')
  }
  t.equal(chA.unackedEvents(p.a.cq), 4)
  chA.ackCqEvents(p.a.cq, 4)
  chB.ackCqEvents(p.b.cq, 4)
  t.equal(chA.unackedEvents(p.a.cq), 0, 'every event acknowledged')
  t.throws(() => chA.ackCqEvents(p.a.cq, 1), { code: ErrorCodes.EINVAL }, 'acknowledging more than taken is EINVAL')

  // Not armed: completions arrive, no event.
  p.a.qp.postSend({ wrId: 9, opcode: WrOpcode.RDMA_WRITE, sgList: [sge(p.a, 0, 8)], remoteAddr: p.b.mr.iova, rkey: p.b.mr.stag, sendFlags: S })
  t.equal((await p.a.cq.next()).status, WcStatus.SUCCESS)
  await quiet(20)
  t.equal(chA.pending, 0, 'an unarmed CQ raises no event')
  await t.rejects(chA.getCqEvent(30), { code: ErrorCodes.TIMEOUT }, 'get_cq_event times out')
  t.throws(() => pair.a.device.createCq(4).reqNotify(), { code: ErrorCodes.EINVAL }, 'req_notify_cq without a channel is EINVAL')
})

t.test('completion channel - solicited-only notification honours the SE bit', async (t) => {
  const pair = await startEnginePair(t, { capture: true })
  const ch = new CompChannel()
  const p = qpPair(pair, { b: { cq: pair.b.device.createCq(64, { channel: ch }) } })
  for (let i = 0; i < 4; i++) p.b.qp.postRecv({ wrId: i, sgList: [sge(p.b, i * 64, 64)] })
  p.b.cq.reqNotify(true)
  p.a.qp.postSend({ wrId: 1, opcode: WrOpcode.SEND, sgList: [sge(p.a, 0, 16)], sendFlags: S })
  t.equal((await p.a.cq.next()).status, WcStatus.SUCCESS)
  const plain = await p.b.cq.next()
  t.equal(plain.status, WcStatus.SUCCESS, 'an unsolicited SEND completes')
  await quiet(20)
  t.equal(ch.pending, 0, '... but does not fire a solicited-only CQ')
  p.a.qp.postSend({ wrId: 2, opcode: WrOpcode.SEND_WITH_IMM, imm: 0x1234, sgList: [sge(p.a, 0, 64)], sendFlags: S | SendFlags.SOLICITED })
  t.equal((await p.a.cq.next()).status, WcStatus.SUCCESS)
  t.equal(await ch.getCqEvent(2000), p.b.cq, 'a solicited SEND fires it')
  const wc = p.b.cq.poll(1)[0]!
  t.equal(wc.wrId, 1)
  t.equal(wc.immData, 0x1234)
  ch.ackCqEvents(p.b.cq, 1)
  const sends = firstSent(pair.a).filter((x) => x.opcode === Op.SEND_ONLY || x.opcode === Op.SEND_ONLY_WITH_IMMEDIATE)
  t.same(sends.map((x) => x.se), [false, true], 'BTH SE is set only for IBV_SEND_SOLICITED')

  // Armed solicited-only, a flushed receive (an unsuccessful completion) fires it too (rxe: no packet, solicited).
  p.b.cq.reqNotify(true)
  p.b.qp.modify({ qpState: QpState.ERR })
  t.equal(await ch.getCqEvent(2000), p.b.cq, 'a flushed receive fires a solicited-only CQ')
  t.same(p.b.cq.poll(4).map((w) => w.status), [WcStatus.WR_FLUSH_ERR, WcStatus.WR_FLUSH_ERR])
})
