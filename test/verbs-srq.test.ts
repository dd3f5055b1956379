import t from 'tap'
import { startEnginePair } from './helpers/engine-pair.ts'
import { qpPair, sge } from './helpers/verbs-pair.ts'
import { pattern } from './helpers/rdma-connect.ts'
import { AsyncEventType } from '../src/verbs/async-events.ts'
import { QpState, SendFlags, WcOpcode, WcStatus, WrOpcode } from '../src/verbs/constants.ts'
import { ErrorCodes } from '../src/errors.ts'

// Modelled on rdma-core's tests/test_srq.py (test_rc_srq_traffic,
// test_resize_srq, test_query_srq) and on rxe_srq.c / rxe_resp.c
// get_srq_wqe (the one-shot SRQ limit event) and flush_recv_queue
// (IBV_EVENT_QP_LAST_WQE_REACHED).
const S = SendFlags.SIGNALED

t.test('SRQ - two QPs take their receives from one shared queue (test_rc_srq_traffic)', async (t) => {
  const pair = await startEnginePair(t)
  const pdB = pair.b.device.allocPd()
  const cqB = pair.b.device.createCq(64)
  const srq = pair.b.device.createSrq(pdB, { maxWr: 16, maxSge: 1 })
  const mrB = pair.b.device.regMr(pdB, 1 << 16, 0x7)
  const one = qpPair(pair, { b: { pd: pdB, cq: cqB, srq, mr: mrB } })
  const two = qpPair(pair, { b: { pd: pdB, cq: cqB, srq, mr: mrB } })
  for (let i = 0; i < 8; i++) srq.postRecv({ wrId: 100 + i, sgList: [sge(one.b, i * 1024, 1024)] })
  t.equal(srq.count, 8)
  const data = pattern(8 * 512, 3)
  for (let i = 0; i < 8; i++) {
    const from = i % 2 === 0 ? one.a : two.a
    from.buf.set(data.subarray(i * 512, (i + 1) * 512), i * 512)
    from.qp.postSend({ wrId: i, opcode: WrOpcode.SEND, sgList: [sge(from, i * 512, 512)], sendFlags: S })
  }
  const sent = [...(await one.a.cq.take(4)), ...(await two.a.cq.take(4))]
  t.same(sent.map((w) => w.status), Array(8).fill(WcStatus.SUCCESS), 'every SEND completes at the sender')
  const recvs = await cqB.take(8)
  t.same(recvs.map((w) => w.status), Array(8).fill(WcStatus.SUCCESS), 'every receive completes')
  t.same(recvs.map((w) => w.opcode), Array(8).fill(WcOpcode.RECV))
  t.same(new Set(recvs.map((w) => w.qpNum)), new Set([one.b.qp.qpNum, two.b.qp.qpNum]), 'both QPs received')
  // WQEs are taken in posting order, whichever QP a message arrives on.
  t.same(recvs.map((w) => w.wrId).sort(), [100, 101, 102, 103, 104, 105, 106, 107])
  const got = new Set<string>()
  for (const w of recvs) {
    const k = w.wrId - 100
    got.add(Buffer.from(one.b.buf.subarray(k * 1024, k * 1024 + w.byteLen)).toString('hex'))
  }
  const want = new Set([...Array(8).keys()].map((i) => Buffer.from(data.subarray(i * 512, (i + 1) * 512)).toString('hex')))
  t.same(got, want, 'the data of every message landed in a receive buffer of the SRQ')
  t.equal(srq.count, 0)
})

t.test('SRQ - query, resize and misuse (test_query_srq, test_resize_srq)', async (t) => {
  const pair = await startEnginePair(t)
  const dev = pair.b.device
  const pd = dev.allocPd()
  const srq = dev.createSrq(pd, { maxWr: 4, maxSge: 2, srqLimit: 1 })
  t.same(srq.query(), { maxWr: 4, maxSge: 2, srqLimit: 1 })
  srq.modify({ maxWr: 8 })
  t.equal(srq.query().maxWr, 8, 'IBV_SRQ_MAX_WR resizes')
  t.throws(() => dev.createSrq(pd, { maxWr: 4, srqLimit: 5 }), { code: ErrorCodes.EINVAL }, 'a limit above max_wr is refused')
  const mr = dev.regMr(pd, 4096, 0x1)
  t.throws(() => srq.postRecv({ wrId: 9, sgList: [{ addr: mr.iova, length: 16, lkey: mr.stag ^ 1 }] }), { code: ErrorCodes.EINVAL }, 'a bad lkey is refused')
  for (let i = 0; i < 8; i++) srq.postRecv({ wrId: i, sgList: [{ addr: mr.iova, length: 16, lkey: mr.stag }] })
  t.throws(() => srq.postRecv({ wrId: 9 }), { code: ErrorCodes.ENOMEM }, 'a full SRQ refuses more')
  t.throws(() => srq.modify({ maxWr: 4 }), { code: ErrorCodes.EINVAL }, 'cannot shrink below the queued WQEs')
  const p = qpPair(pair, { b: { pd, srq } })
  t.throws(() => p.b.qp.postRecv({ wrId: 1 }), { code: ErrorCodes.EINVAL }, 'post_recv on a QP with an SRQ is EINVAL')
  t.throws(() => dev.destroySrq(srq), { code: ErrorCodes.EBUSY }, 'destroy while a QP uses it is EBUSY')
  t.throws(() => dev.createQp({ pd: dev.allocPd(), sendCq: p.b.cq, srq }), { code: ErrorCodes.EINVAL }, 'an SRQ of another PD is refused')
  dev.destroyQp(p.b.qp)
  dev.destroySrq(srq)
  t.throws(() => srq.postRecv({ wrId: 1 }), { code: ErrorCodes.EINVAL }, 'a destroyed SRQ takes nothing')
})

t.test('SRQ - SRQ_LIMIT_REACHED fires once below the armed limit, re-armed by modify', async (t) => {
  const pair = await startEnginePair(t)
  const dev = pair.b.device
  const pd = dev.allocPd()
  const srq = dev.createSrq(pd, { maxWr: 16 })
  const p = qpPair(pair, { b: { pd, srq } })
  for (let i = 0; i < 6; i++) srq.postRecv({ wrId: i, sgList: [sge(p.b, i * 64, 64)] })
  srq.modify({ srqLimit: 3 })
  const send = async (n: number): Promise<void> => {
    for (let i = 0; i < n; i++) p.a.qp.postSend({ wrId: i, opcode: WrOpcode.SEND, sgList: [sge(p.a, 0, 8)], sendFlags: S })
    const wcs = await p.a.cq.take(n)
    t.same(wcs.map((w) => w.status), Array(n).fill(WcStatus.SUCCESS))
    await p.b.cq.take(n)
  }
  await send(3)
  t.same(dev.asyncEvents.poll(), [], '3 left: not below the limit of 3')
  await send(1)
  const ev = dev.asyncEvents.poll()
  t.equal(ev.length, 1)
  t.equal(ev[0]!.type, AsyncEventType.SRQ_LIMIT_REACHED)
  t.equal(ev[0]!.srqn, srq.srqn)
  t.equal(srq.query().srqLimit, 0, 'the event disarms the limit')
  await send(1)
  t.same(dev.asyncEvents.poll(), [], 'one-shot: no second event until re-armed')
  srq.postRecv({ wrId: 10, sgList: [sge(p.b, 0, 64)] })
  srq.modify({ srqLimit: 2 })
  await send(1)
  const again = await dev.asyncEvents.next(1000)
  t.equal(again.type, AsyncEventType.SRQ_LIMIT_REACHED, 're-armed by ibv_modify_srq(IBV_SRQ_LIMIT)')
})

t.test('SRQ - QP_LAST_WQE_REACHED when a QP on an SRQ goes to ERR; the affiliated error only for a failure', async (t) => {
  const pair = await startEnginePair(t)
  const dev = pair.b.device
  const pd = dev.allocPd()
  const srq = dev.createSrq(pd)
  const one = qpPair(pair, { b: { pd, srq } })
  srq.postRecv({ wrId: 1, sgList: [sge(one.b, 0, 64)] })
  one.b.qp.modify({ qpState: QpState.ERR })
  const ev = dev.asyncEvents.poll()
  t.same(ev.map((e) => e.type), [AsyncEventType.QP_LAST_WQE_REACHED], 'modify to ERR: LAST_WQE_REACHED, no error event')
  t.equal(ev[0]!.qpn, one.b.qp.qpNum)
  t.equal(ev[0]!.srqn, srq.srqn)
  t.equal(srq.count, 1, "the SRQ's WQEs are not flushed with the QP")
  t.same(one.b.cq.poll(), [], 'nothing of the SRQ completes on the QP that left')

  const two = qpPair(pair, { b: { pd, srq } })
  // A WRITE with a bad rkey fails the responder QP: a Local Access Violation (IBTA 11.6.3.1) first.
  two.a.qp.postSend({ wrId: 7, opcode: WrOpcode.RDMA_WRITE, sgList: [sge(two.a, 0, 8)], remoteAddr: two.b.mr.iova, rkey: (two.b.mr.stag ^ 0x11) >>> 0, sendFlags: S })
  t.equal((await two.a.cq.next()).status, WcStatus.REM_ACCESS_ERR, 'the requester sees REM_ACCESS_ERR')
  t.equal(two.b.qp.state, QpState.ERR)
  const types = dev.asyncEvents.poll().filter((e) => e.qpn === two.b.qp.qpNum).map((e) => e.type)
  t.same(types, [AsyncEventType.QP_ACCESS_ERR, AsyncEventType.QP_LAST_WQE_REACHED])
  t.same(pair.a.device.asyncEvents.poll(), [], 'the requester learns of it from its completion alone')
})

t.test('async events - QP_FATAL, QP_REQ_ERR and QP_ACCESS_ERR name the QP and the cause', async (t) => {
  const pair = await startEnginePair(t)
  // The peer is lost: every QP talking to it fails (a catastrophic error of its work queues).
  const lost = qpPair(pair)
  pair.a.device.peerLost(pair.b.id)
  const [fatal] = pair.a.device.asyncEvents.poll()
  t.equal(fatal!.type, AsyncEventType.QP_FATAL)
  t.equal(fatal!.qpn, lost.a.qp.qpNum)
  t.match(fatal!.reason, /peer .* lost/)
  // An invalid request at the responder (a WRITE where the QP has no remote write right).
  const inv = qpPair(pair)
  inv.b.qp.modify({ qpState: QpState.RTS, qpAccessFlags: 0 })
  inv.a.qp.postSend({ wrId: 1, opcode: WrOpcode.RDMA_WRITE, sgList: [sge(inv.a, 0, 8)], remoteAddr: inv.b.mr.iova, rkey: inv.b.mr.stag, sendFlags: S })
  t.equal((await inv.a.cq.next()).status, WcStatus.REM_INV_REQ_ERR)
  const req = await pair.b.device.asyncEvents.next(1000)
  t.equal(req.type, AsyncEventType.QP_REQ_ERR)
  t.equal(req.qpn, inv.b.qp.qpNum)
})

t.test('COMM_EST - the first request received in RTR raises it once', async (t) => {
  const pair = await startEnginePair(t)
  const p = qpPair(pair, { bInRtr: true })
  p.b.qp.postRecv([{ wrId: 1, sgList: [sge(p.b, 0, 64)] }, { wrId: 2, sgList: [sge(p.b, 64, 64)] }])
  p.a.buf.set([1, 2, 3, 4])
  p.a.qp.postSend({ wrId: 1, opcode: WrOpcode.SEND, sgList: [sge(p.a, 0, 4)], sendFlags: S })
  p.a.qp.postSend({ wrId: 2, opcode: WrOpcode.SEND, sgList: [sge(p.a, 0, 4)], sendFlags: S })
  t.same((await p.a.cq.take(2)).map((w) => w.status), [WcStatus.SUCCESS, WcStatus.SUCCESS])
  const recv = await p.b.cq.take(2)
  t.same(recv.map((w) => w.byteLen), [4, 4])
  t.same([...p.b.buf.subarray(0, 4)], [1, 2, 3, 4])
  const ev = pair.b.device.asyncEvents.poll()
  t.same(ev.map((e) => e.type), [AsyncEventType.COMM_EST])
  t.equal(ev[0]!.qpn, p.b.qp.qpNum)
})
