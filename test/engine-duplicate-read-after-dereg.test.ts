import t from 'tap'
import { connectQps, faults, sent, startEnginePair, until, type EnginePair, type QpEnd } from './helpers/engine-pair.ts'
import { naks } from './helpers/raw-request.ts'
import { ALL_ACCESS, pattern } from './helpers/rdma-connect.ts'
import { decodePacket, encodePacket } from '../fabric/codec.ts'
import { Aeth, Op } from '../src/engine/opcodes.ts'
import type { Mr } from '../src/memory/stag.ts'
import { QpState, SendFlags, WcStatus, WrOpcode } from '../src/verbs/constants.ts'

// A READ whose response is lost is asked for again by the requester's
// retransmit timer; the responder replays it from its responder resource
// (rxe duplicate_request, then read_reply with res->replay). The resource
// keeps the READ's rkey, va and length, not the region: read_reply looks the
// rkey up again (rxe_recheck_mr: index, key and state only). A former bug:
// when the region had been deregistered in between, the duplicate was
// dropped in silence, so the requester retried forever (retry_cnt 7) or
// until its retries ran out. Now, as in rxe, the duplicate is NAKed with a
// remote access error (RESPST_ERR_RKEY_VIOLATION, NAK 0x62) and the READ
// completes with REM_ACCESS_ERR after one retransmission.
const S = SendFlags.SIGNALED
const LEN = 200

/** b's region to READ from, and a READ of it posted by a whose response b loses. */
async function lostReadResponse(pair: EnginePair, a: QpEnd, b: QpEnd): Promise<Mr> {
  const rmr = pair.b.device.regMr(b.pd, 4096, ALL_ACCESS)
  rmr.memory.copyIn(0, pattern(LEN, 9))
  const inj = faults(pair.b, { drop: 1, seed: 1 })!
  a.qp.postSend({ wrId: 1, opcode: WrOpcode.RDMA_READ, sgList: [{ addr: a.mr.iova, length: LEN, lkey: a.mr.stag }], remoteAddr: rmr.iova, rkey: rmr.stag, sendFlags: S })
  await until('the READ response to be lost', () => inj.counters.dropped >= 1)
  faults(pair.b, null)
  return rmr
}

t.test('engine - duplicate READ after the MR is deregistered is NAKed, not dropped (rxe duplicate_request, read_reply: rxe_recheck_mr)', async (t) => {
  const pair = await startEnginePair(t, { capture: true })
  // timeout 18: 4.096 us * 2^18 * 0.1 = 107 ms, time enough to deregister before the retransmission.
  const { a, b } = connectQps(pair, { timeout: 18, retryCnt: 7 })
  const rmr = await lostReadResponse(pair, a, b)
  pair.b.device.deregMr(rmr)
  const wc = await a.cq.next(5000)
  t.same([wc.wrId, wc.status], [1, WcStatus.REM_ACCESS_ERR], 'the READ completes with a remote access error')
  t.equal(pair.a.device.counters.timeoutRetries, 1, 'after one retransmission')
  t.equal(pair.b.device.counters.duplicateRequests, 1, 'which the responder saw as a duplicate')
  const nak = sent(pair.b).filter((p) => p.opcode === Op.ACKNOWLEDGE)
  t.same(naks(nak), [Aeth.NAK_REMOTE_ACCESS_ERROR], 'and NAKed with 0x62')
  t.equal(nak[0]!.psn, decodePacket(pair.a.wire.out.at(-1)!).psn, "at the duplicate's PSN")
  t.equal(b.qp.state, QpState.ERR, "the responder's QP is in ERR (class C)")
  t.equal(a.qp.state, QpState.ERR, "and the requester's")
})

t.test('engine - duplicate READ after the MR moved to another PD is still replayed (rxe_recheck_mr checks key and state only)', async (t) => {
  const pair = await startEnginePair(t, { capture: true })
  const { a, b } = connectQps(pair, { timeout: 18, retryCnt: 7 })
  const rmr = await lostReadResponse(pair, a, b)
  pair.b.device.reregMr(rmr, { pd: pair.b.device.allocPd() })
  const wc = await a.cq.next(5000)
  t.same([wc.wrId, wc.status], [1, WcStatus.SUCCESS], 'the replay answers the READ')
  t.same([...a.buf.subarray(0, LEN)], [...pattern(LEN, 9)], 'with the bytes')
  t.equal(pair.b.device.counters.duplicateRequests, 1)
})

t.test('engine - a duplicate READ asking for more than the original, or with another rkey, is dropped (rxe duplicate_request)', async (t) => {
  const pair = await startEnginePair(t, { capture: true })
  const { a, b } = connectQps(pair, { timeout: 0 })
  b.buf.set(pattern(LEN, 5), 0)
  a.qp.postSend({ wrId: 1, opcode: WrOpcode.RDMA_READ, sgList: [{ addr: a.mr.iova, length: LEN, lkey: a.mr.stag }], remoteAddr: b.mr.iova, rkey: b.mr.stag, sendFlags: S })
  t.equal((await a.cq.next()).status, WcStatus.SUCCESS)
  const req = decodePacket(pair.a.wire.out.find((p) => decodePacket(p).opcode === Op.RDMA_READ_REQUEST)!)
  const other = pair.b.device.regMr(b.pd, 4096, ALL_ACCESS)
  for (const [name, reth] of [
    ['longer', { ...req.reth!, len: LEN + 8 }],
    ['starting before it', { ...req.reth!, va: req.reth!.va - 8n }],
    ['another rkey', { ...req.reth!, rkey: other.stag, va: BigInt(other.iova) }],
  ] as const) {
    const dups = pair.b.device.counters.duplicateRequests
    const before = pair.b.wire.out.length
    pair.a.control.sendData(pair.b.id, [encodePacket({ opcode: Op.RDMA_READ_REQUEST, destQp: b.qp.qpNum, psn: req.psn, ackReq: true, reth })])
    await until('b to see the duplicate', () => pair.b.device.counters.duplicateRequests === dups + 1)
    await new Promise((r) => setImmediate(r))
    t.equal(pair.b.wire.out.length, before, `${name}: not answered`)
  }
  const dups = pair.b.device.counters.duplicateRequests
  pair.a.control.sendData(pair.b.id, [encodePacket({ opcode: Op.RDMA_READ_REQUEST, destQp: b.qp.qpNum, psn: req.psn, ackReq: true, reth: { ...req.reth!, va: req.reth!.va + 8n, len: LEN - 8 } })])
  await until('b to see the duplicate', () => pair.b.device.counters.duplicateRequests === dups + 1)
  await until('b to answer', () => sent(pair.b).some((p) => p.opcode === Op.RDMA_READ_RESPONSE_ONLY && p.payload.length === LEN - 8))
  t.pass('a part of the original is answered')
  t.equal(b.qp.state, QpState.RTS, 'the responder QP is unharmed')
})
