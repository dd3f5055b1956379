import t from 'tap'
import { connectQps, faults, seedDropping, sent, startEnginePair } from './helpers/engine-pair.ts'
import { pattern } from './helpers/rdma-connect.ts'
import { psnAdd } from '../fabric/codec.ts'
import { Op } from '../src/engine/opcodes.ts'
import { SendFlags, WcStatus, WrOpcode } from '../src/verbs/constants.ts'

// One request packet is lost. The responder answers the next one with a
// single "PSN sequence error" NAK (AETH syndrome 0x60) carrying the PSN it
// expects, drops every later packet without another NAK, and takes the
// stream again once the requester has gone back to the lost PSN (go-back-N
// from that packet, not from the start of its message). The NAK also
// acknowledges what came before the gap. No retransmit timer is involved
// (timeout 0: the NAK alone recovers).
const MTU = 256
const S = SendFlags.SIGNALED
const NAK_PSN_SEQ_ERROR = 0x60 // IBTA 9.7.5.2.4: NAK code 0, PSN sequence error

t.test('engine - sequence NAK', async (t) => {
  await t.test('one lost packet: one NAK, later packets dropped, go-back-N from the lost PSN', async (t) => {
    const pair = await startEnginePair(t, { capture: true })
    const psn0 = 1000
    const { a, b } = connectQps(pair, { mtu: MTU, psnA: psn0, timeout: 0 })
    // Three WRITEs of 2, 4 and 4 packets; the 4th packet (2nd of the second WRITE) is lost.
    const sizes = [2 * MTU, 4 * MTU, 4 * MTU]
    const total = 10
    const lost = 3
    // The injector sees the first transmission (10) and the resend of packets 3..9 (7).
    const inj = faults(pair.a, { drop: 1 / total, seed: seedDropping(total + total - lost, [lost], 1 / total) })!
    const data = pattern(total * MTU, 3)
    a.buf.set(data, 0)
    let off = 0
    a.qp.postSend(sizes.map((len, k) => {
      const wr = { wrId: k, opcode: WrOpcode.RDMA_WRITE, sgList: [{ addr: a.mr.iova + off, length: len, lkey: a.mr.stag }], remoteAddr: b.mr.iova + off, rkey: b.mr.stag, sendFlags: S }
      off += len
      return wr
    }))
    const wcs = await a.cq.take(3)
    t.same(wcs.map((w) => [w.wrId, w.status]), [[0, WcStatus.SUCCESS], [1, WcStatus.SUCCESS], [2, WcStatus.SUCCESS]], 'every WRITE completes, in order')
    t.same(Buffer.from(b.buf.subarray(0, data.length)), Buffer.from(data), 'byte for byte')
    t.equal(inj.counters.dropped, 1, 'exactly one packet was lost')

    const fromB = sent(pair.b)
    const naks = fromB.filter((p) => p.opcode === Op.ACKNOWLEDGE && p.aeth!.syndrome === NAK_PSN_SEQ_ERROR)
    t.same(naks.map((p) => p.psn), [psnAdd(psn0, lost)], 'exactly one sequence NAK, for the lost PSN')
    t.equal(pair.b.device.counters.seqNaksSent, 1, 'counted once')
    t.equal(pair.b.device.counters.outOfSeqDropped, total - lost - 1, 'every packet after the gap was dropped')
    t.same(fromB.filter((p) => p.opcode !== Op.ACKNOWLEDGE), [], 'the responder sent nothing but ACKs and the NAK')

    const psns = sent(pair.a).map((p) => p.psn - psn0)
    t.same(psns, [0, 1, 2, 4, 5, 6, 7, 8, 9, 3, 4, 5, 6, 7, 8, 9], 'first transmission without packet 3, then go-back-N from packet 3')
    const resent = sent(pair.a).slice(total - 1)
    t.equal(resent[0]!.opcode, Op.RDMA_WRITE_MIDDLE, 'the resend starts mid-message, at the lost packet')
    const c = pair.a.device.counters
    t.same([c.nakRetries, c.timeoutRetries, c.duplicateNaks], [1, 0, 0], 'one NAK-driven retry, no timeout')
  })

  await t.test('a loss early in a long message still draws one NAK, across several trains', async (t) => {
    const pair = await startEnginePair(t, { capture: true })
    const { a, b } = connectQps(pair, { mtu: MTU, psnA: 0, timeout: 0, mrBytes: 1 << 17 })
    const n = 300 // several trains of at most 64 packets each
    const lost = 5
    faults(pair.a, { drop: 1 / n, seed: seedDropping(n + n - lost, [lost], 1 / n) })
    const data = pattern(n * MTU, 4)
    a.buf.set(data, 0)
    a.qp.postSend({ wrId: 1, opcode: WrOpcode.RDMA_WRITE, sgList: [{ addr: a.mr.iova, length: data.length, lkey: a.mr.stag }], remoteAddr: b.mr.iova, rkey: b.mr.stag, sendFlags: S })
    t.equal((await a.cq.next()).status, WcStatus.SUCCESS)
    t.same(Buffer.from(b.buf.subarray(0, data.length)), Buffer.from(data), 'byte for byte')
    const out = sent(pair.a).map((p) => p.psn)
    const resendAt = out.indexOf(lost)
    const beforeResend = out.slice(0, resendAt)
    t.ok(pair.a.device.counters.trainsSent > 2, `the first transmission took several trains (${pair.a.device.counters.trainsSent} in all)`)
    t.equal(pair.b.device.counters.seqNaksSent, 1, 'one NAK for the whole gap')
    t.equal(pair.b.device.counters.outOfSeqDropped, beforeResend.filter((p) => p > lost).length, 'everything sent past the gap before the resend was dropped')
    t.same(out.slice(resendAt), [...Array(n - lost).keys()].map((k) => lost + k), 'the resend runs from the lost PSN to the end, in order')
    t.equal(pair.a.device.counters.nakRetries, 1)
  })
})
