import t, { type Test } from 'tap'
import { connectQps, sent, startEnginePair } from './helpers/engine-pair.ts'
import { pattern } from './helpers/rdma-connect.ts'
import { Op } from '../src/engine/opcodes.ts'
import { SendFlags, WcOpcode, WcStatus, WrOpcode } from '../src/verbs/constants.ts'
import type { Packet } from '../fabric/codec.ts'

// Messages below, at and above the path MTU are split into
// max(1, ceil(len / MTU)) packets: every packet but the last carries exactly
// one MTU, the opcodes run FIRST, MIDDLE..., LAST (or ONLY), the PSNs are
// consecutive, and the bytes arrive intact. A READ is one request answered
// by that many response packets.
const S = SendFlags.SIGNALED

const packetsFor = (len: number, mtu: number) => Math.max(1, Math.ceil(len / mtu))

/** The opcodes a message of `n` packets uses, from its FIRST/MIDDLE/LAST/ONLY names. */
function opcodes(n: number, only: number, first: number, middle: number, last: number): number[] {
  if (n === 1) return [only]
  return [first, ...Array<number>(n - 2).fill(middle), last]
}

function checkSegments(t: Test, pkts: Packet[], len: number, mtu: number, ops: number[], data: Uint8Array): void {
  t.same(pkts.map((p) => p.opcode), ops, 'FIRST / MIDDLE / LAST or ONLY opcodes')
  t.same(pkts.map((p) => p.payload.length), pkts.map((_p, k) => Math.min(mtu, len - k * mtu)), 'every packet but the last is MTU sized')
  t.ok(pkts.every((p, k) => k === 0 || p.psn === ((pkts[k - 1]!.psn + 1) & 0xffffff)), 'consecutive PSNs')
  t.same(Buffer.concat(pkts.map((p) => p.payload)), Buffer.from(data), 'the payloads are the message, in order')
}

for (const mtu of [256, 4096]) {
  t.test(`engine - segmentation at the MTU (${mtu})`, async (t) => {
    const pair = await startEnginePair(t, { capture: true })
    // No retransmit timer (timeout 0): the packet counts are the first
    // transmission's, and a timer left armed by the previous message can fire
    // spuriously after a long gap between tap subtests (see engine-retransmit-timer).
    const { a, b } = connectQps(pair, { mtu, mrBytes: 8 * mtu + 64, timeout: 0 })
    const sizes = [0, 1, mtu - 1, mtu, mtu + 1, 2 * mtu, 5 * mtu + 7]

    const step = async <T>(fn: () => Promise<T>) => {
      const base = { aOut: pair.a.wire.out.length, bOut: pair.b.wire.out.length, aSent: pair.a.device.counters.pktsSent, bSent: pair.b.device.counters.pktsSent }
      const r = await fn()
      return {
        r,
        requests: sent(pair.a).slice(base.aOut),
        responses: sent(pair.b).slice(base.bOut),
        aSent: pair.a.device.counters.pktsSent - base.aSent,
        bSent: pair.b.device.counters.pktsSent - base.bSent,
      }
    }

    for (const len of sizes) {
      const n = packetsFor(len, mtu)
      await t.test(`WRITE of ${len} bytes: ${n} packet(s)`, async (t) => {
        const data = pattern(len, len + 1)
        a.buf.set(data, 0)
        b.buf.fill(0)
        const s = await step(async () => {
          a.qp.postSend({ wrId: len, opcode: WrOpcode.RDMA_WRITE, sgList: [{ addr: a.mr.iova, length: len, lkey: a.mr.stag }], remoteAddr: b.mr.iova + 3, rkey: b.mr.stag, sendFlags: S })
          return a.cq.next()
        })
        t.equal(s.r.status, WcStatus.SUCCESS)
        t.equal(s.aSent, n, 'request packets counted by the requester')
        t.equal(s.bSent, 1, 'one coalesced ACK')
        checkSegments(t, s.requests, len, mtu, opcodes(n, Op.RDMA_WRITE_ONLY, Op.RDMA_WRITE_FIRST, Op.RDMA_WRITE_MIDDLE, Op.RDMA_WRITE_LAST), data)
        t.equal(s.requests[0]!.reth?.len, len, 'RETH on the first packet carries the whole length')
        t.ok(s.requests.slice(1).every((p) => p.reth === undefined), 'and only there')
        t.same(s.requests.map((p) => p.ackReq), s.requests.map((_p, k) => k === n - 1), 'AckReq on the last packet')
        t.same(Buffer.from(b.buf.subarray(3, 3 + len)), Buffer.from(data), 'bytes land in the responder buffer')
        t.equal(b.buf[3 + len], 0, 'and nothing past them')
      })

      await t.test(`READ of ${len} bytes: 1 request, ${n} response packet(s)`, async (t) => {
        const data = pattern(len, len + 2)
        b.buf.set(data, 0)
        a.buf.fill(0)
        const s = await step(async () => {
          a.qp.postSend({ wrId: len, opcode: WrOpcode.RDMA_READ, sgList: [{ addr: a.mr.iova + 5, length: len, lkey: a.mr.stag }], remoteAddr: b.mr.iova, rkey: b.mr.stag, sendFlags: S })
          return a.cq.next()
        })
        t.equal(s.r.status, WcStatus.SUCCESS)
        t.equal(s.r.byteLen, len)
        t.equal(s.aSent, 1, 'one READ request')
        t.equal(s.bSent, n, 'response packets counted by the responder')
        checkSegments(t, s.responses, len, mtu, opcodes(n, Op.RDMA_READ_RESPONSE_ONLY, Op.RDMA_READ_RESPONSE_FIRST, Op.RDMA_READ_RESPONSE_MIDDLE, Op.RDMA_READ_RESPONSE_LAST), data)
        t.equal(s.responses[0]!.psn, s.requests[0]!.psn, 'responses start at the request PSN')
        t.same(Buffer.from(a.buf.subarray(5, 5 + len)), Buffer.from(data), 'bytes land in the requester buffer')
      })

      await t.test(`SEND of ${len} bytes: ${n} packet(s)`, async (t) => {
        const data = pattern(len, len + 3)
        a.buf.set(data, 0)
        b.buf.fill(0)
        b.qp.postRecv({ wrId: 900 + len, sgList: [{ addr: b.mr.iova, length: b.mr.length, lkey: b.mr.stag }] })
        const s = await step(async () => {
          a.qp.postSend({ wrId: len, opcode: WrOpcode.SEND, sgList: [{ addr: a.mr.iova, length: len, lkey: a.mr.stag }], sendFlags: S })
          return a.cq.next()
        })
        t.equal(s.r.status, WcStatus.SUCCESS)
        t.equal(s.aSent, n)
        checkSegments(t, s.requests, len, mtu, opcodes(n, Op.SEND_ONLY, Op.SEND_FIRST, Op.SEND_MIDDLE, Op.SEND_LAST), data)
        const rwc = await b.cq.next()
        t.same([rwc.wrId, rwc.status, rwc.opcode, rwc.byteLen], [900 + len, WcStatus.SUCCESS, WcOpcode.RECV, len], 'one receive completion with the length')
        t.same(Buffer.from(b.buf.subarray(0, len)), Buffer.from(data))
      })
    }

    await t.test('a message gathered from several SGEs is split at the MTU, not at the SGEs', async (t) => {
      // Three pieces that straddle MTU boundaries: 1/3, 1 and 1 1/3 MTU.
      const parts = [Math.floor(mtu / 3), mtu, mtu + Math.floor(mtu / 3)]
      const len = parts.reduce((x, y) => x + y)
      const data = pattern(len, 77)
      // Each piece somewhere else in the local buffer, with gaps.
      const offs = [2 * mtu + 1, 0 + 9, 4 * mtu + 2]
      let at = 0
      parts.forEach((p, k) => {
        a.buf.set(data.subarray(at, at + p), offs[k]!)
        at += p
      })
      b.buf.fill(0)
      const s = await step(async () => {
        a.qp.postSend({ wrId: 1, opcode: WrOpcode.RDMA_WRITE, sgList: parts.map((p, k) => ({ addr: a.mr.iova + offs[k]!, length: p, lkey: a.mr.stag })), remoteAddr: b.mr.iova, rkey: b.mr.stag, sendFlags: S })
        return a.cq.next()
      })
      t.equal(s.r.status, WcStatus.SUCCESS)
      t.equal(s.aSent, packetsFor(len, mtu))
      checkSegments(t, s.requests, len, mtu, opcodes(packetsFor(len, mtu), Op.RDMA_WRITE_ONLY, Op.RDMA_WRITE_FIRST, Op.RDMA_WRITE_MIDDLE, Op.RDMA_WRITE_LAST), data)
      t.same(Buffer.from(b.buf.subarray(0, len)), Buffer.from(data))

      // And a READ scattered back into the same three pieces.
      a.buf.fill(0)
      a.qp.postSend({ wrId: 2, opcode: WrOpcode.RDMA_READ, sgList: parts.map((p, k) => ({ addr: a.mr.iova + offs[k]!, length: p, lkey: a.mr.stag })), remoteAddr: b.mr.iova, rkey: b.mr.stag, sendFlags: S })
      t.equal((await a.cq.next()).status, WcStatus.SUCCESS)
      at = 0
      const back = parts.map((p, k) => {
        at += p
        return a.buf.subarray(offs[k]!, offs[k]! + p)
      })
      t.same(Buffer.concat(back), Buffer.from(data), 'READ response bytes scattered over the SGEs')
    })
  })
}
