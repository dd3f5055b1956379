import t from 'tap'
import { Aeth, Op } from '../src/engine/opcodes.ts'
import type { SendWr } from '../src/engine/wqe.ts'
import { AsyncEventType } from '../src/verbs/async-events.ts'
import { QpState, SendFlags, WcStatus, WrOpcode } from '../src/verbs/constants.ts'
import { connectQps, sent, startEnginePair, type QpEnd } from './helpers/engine-pair.ts'

// rxe_resp.c check_resource: a READ, CMP_SWAP, FETCH_ADD or ATOMIC_WRITE
// (RXE_READ_OR_ATOMIC_MASK | RXE_ATOMIC_WRITE_MASK) reaching a QP whose
// max_dest_rd_atomic is 0 is RESPST_ERR_TOO_MANY_RDMA_ATM_REQ: class C,
// do_class_ac_error(AETH_NAK_INVALID_REQ, IB_WC_REM_INV_REQ_ERR). The
// responder NAKs it with syndrome 0x61 and goes to ERR; the requester
// completes the WR with REM_INV_REQ_ERR. Nothing touches the memory. Other
// requests (WRITE, SEND, FLUSH) need no responder resource. With one or more
// resources the responder does not count what is outstanding (the
// requester's job): it recycles its resource ring.
const S = SendFlags.SIGNALED
const W0 = 0x1122334455667788n

function word(e: QpEnd, off: number): bigint {
  return new DataView(e.buf.buffer, e.buf.byteOffset + off, 8).getBigUint64(0, true)
}

const cases: Array<[string, (a: QpEnd, b: QpEnd) => SendWr]> = [
  ['RDMA_READ', (a, b) => ({ wrId: 1, opcode: WrOpcode.RDMA_READ, sgList: [{ addr: a.mr.iova, length: 64, lkey: a.mr.stag }], remoteAddr: b.mr.iova, rkey: b.mr.stag, sendFlags: S })],
  ['CMP_SWAP', (a, b) => ({ wrId: 1, opcode: WrOpcode.ATOMIC_CMP_AND_SWP, sgList: [{ addr: a.mr.iova, length: 8, lkey: a.mr.stag }], remoteAddr: b.mr.iova, rkey: b.mr.stag, compareAdd: W0, swap: 1n, sendFlags: S })],
  ['FETCH_ADD', (a, b) => ({ wrId: 1, opcode: WrOpcode.ATOMIC_FETCH_AND_ADD, sgList: [{ addr: a.mr.iova, length: 8, lkey: a.mr.stag }], remoteAddr: b.mr.iova, rkey: b.mr.stag, compareAdd: 1n, sendFlags: S })],
  ['ATOMIC_WRITE', (a, b) => ({ wrId: 1, opcode: WrOpcode.ATOMIC_WRITE, sgList: [{ addr: a.mr.iova + 64, length: 8, lkey: a.mr.stag }], remoteAddr: b.mr.iova, rkey: b.mr.stag, sendFlags: S })],
]

t.test('rxe check_resource: max_dest_rd_atomic 0 NAKs READ and atomics as invalid requests (RESPST_ERR_TOO_MANY_RDMA_ATM_REQ)', async (t) => {
  const pair = await startEnginePair(t, { capture: true })
  for (const [name, wr] of cases) {
    const { a, b } = connectQps(pair, { destRdAtomicB: 0 })
    t.same([a.qp.attr.maxRdAtomic, b.qp.attr.maxDestRdAtomic], [16, 0], `${name}: the requester may send, the responder has no resources`)
    new DataView(b.buf.buffer, b.buf.byteOffset, 8).setBigUint64(0, W0, true)
    new DataView(a.buf.buffer, a.buf.byteOffset + 64, 8).setBigUint64(0, 7n, true)
    const from = pair.b.wire.out.length
    pair.b.device.asyncEvents.poll()
    a.qp.postSend(wr(a, b))
    const wc = await a.cq.next()
    t.equal(wc.status, WcStatus.REM_INV_REQ_ERR, `${name}: the requester completes REM_INV_REQ_ERR`)
    const naks = sent(pair.b).slice(from).filter((p) => p.opcode === Op.ACKNOWLEDGE && p.destQp === a.qp.qpNum)
    t.same(naks.map((p) => [p.psn, p.aeth!.syndrome]), [[0, Aeth.NAK_INVALID_REQUEST]], `${name}: one NAK, invalid request (0x61), at the request's PSN`)
    t.equal(sent(pair.b).slice(from).filter((p) => p.opcode !== Op.ACKNOWLEDGE).length, 0, `${name}: no read response or atomic ACK`)
    t.equal(b.qp.state, QpState.ERR, `${name}: the responder QP is in ERR`)
    t.same(pair.b.device.asyncEvents.poll().filter((e) => e.qpn === b.qp.qpNum).map((e) => e.type), [AsyncEventType.QP_REQ_ERR], `${name}: with a QP_REQ_ERR event`)
    t.equal(word(b, 0), W0, `${name}: the responder's memory is untouched`)
  }
})

t.test('rxe check_resource: WRITE, SEND and FLUSH need no responder resource', async (t) => {
  const pair = await startEnginePair(t)
  const { a, b } = connectQps(pair, { destRdAtomicB: 0 })
  b.qp.postRecv([{ wrId: 9, sgList: [{ addr: b.mr.iova + 4096, length: 64, lkey: b.mr.stag }] }])
  a.qp.postSend([
    { wrId: 1, opcode: WrOpcode.RDMA_WRITE, sgList: [{ addr: a.mr.iova, length: 64, lkey: a.mr.stag }], remoteAddr: b.mr.iova, rkey: b.mr.stag, sendFlags: S },
    { wrId: 2, opcode: WrOpcode.SEND, sgList: [{ addr: a.mr.iova, length: 16, lkey: a.mr.stag }], sendFlags: S },
    { wrId: 3, opcode: WrOpcode.FLUSH, remoteAddr: b.mr.iova, rkey: b.mr.stag, flush: { length: 64, plt: 1 }, sendFlags: S },
  ])
  const wcs = await a.cq.take(3, 5000)
  t.same(wcs.map((w) => [w.wrId, w.status]), [[1, WcStatus.SUCCESS], [2, WcStatus.SUCCESS], [3, WcStatus.SUCCESS]], 'all three succeed')
  t.equal(b.qp.state, QpState.RTS, 'the responder stays in RTS')
})

t.test('rxe check_resource: with one responder resource, READs beyond it are not refused (the ring is recycled)', async (t) => {
  const pair = await startEnginePair(t)
  const { a, b } = connectQps(pair, { destRdAtomicB: 1 })
  t.same([a.qp.attr.maxRdAtomic, b.qp.attr.maxDestRdAtomic], [16, 1])
  for (let i = 0; i < 8; i++) b.buf[i * 8] = i + 1
  for (let i = 0; i < 8; i++) a.qp.postSend({ wrId: i, opcode: WrOpcode.RDMA_READ, sgList: [{ addr: a.mr.iova + 1024 + i * 8, length: 8, lkey: a.mr.stag }], remoteAddr: b.mr.iova + i * 8, rkey: b.mr.stag, sendFlags: S })
  const wcs = await a.cq.take(8, 5000)
  t.same(wcs.map((w) => w.status), Array(8).fill(WcStatus.SUCCESS), 'eight READs in flight against one resource all complete')
  t.same([...Array(8).keys()].map((i) => a.buf[1024 + i * 8]), [1, 2, 3, 4, 5, 6, 7, 8], 'with the right bytes')
})
