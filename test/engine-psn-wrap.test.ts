import t from 'tap'
import { connectQps, faults, seedDropping, sent, startEnginePair } from './helpers/engine-pair.ts'
import { pattern } from './helpers/rdma-connect.ts'
import { psnAdd } from '../fabric/codec.ts'
import { Op } from '../src/engine/opcodes.ts'
import { SendFlags, WcStatus, WrOpcode } from '../src/verbs/constants.ts'
import type { SendWr } from '../src/engine/wqe.ts'

// PSNs are 24-bit and wrap: a QP whose starting PSN is just below 2^24 - 1
// sends WRITEs, READs, SENDs and atomics whose packets run through 0xffffff
// into 0, 1, ...; the responder takes them in sequence, everything completes
// in order with the right bytes, and a loss right at the wrap is recovered by
// go-back-N from PSN 0xffffff.
const MTU = 256
const S = SendFlags.SIGNALED
const MAX = 0xffffff

const npkts = (len: number) => Math.max(1, Math.ceil(len / MTU))

t.test('engine - PSN wrap', async (t) => {
  await t.test('mixed traffic crosses PSN 0 in both directions and completes in order', async (t) => {
    const pair = await startEnginePair(t, { capture: true })
    const psnA = MAX - 9
    const psnB = MAX - 2
    // timeout 0: no retransmit timer, so the wire holds exactly one transmission.
    const { a, b } = connectQps(pair, { mtu: MTU, psnA, psnB, timeout: 0 })
    const word = 60_000
    new DataView(b.buf.buffer, b.buf.byteOffset).setBigUint64(word, 40n, true)
    const plan: Array<{ wr: SendWr; len: number; off: number; check: () => void }> = []
    let at = 0
    const add = (opcode: number, len: number, extra: Partial<SendWr> = {}) => {
      const off = at
      at += len + 8
      const data = pattern(len, plan.length + 1)
      if (opcode === WrOpcode.RDMA_READ) b.buf.set(data, off)
      else a.buf.set(data, off)
      const wr: SendWr = { wrId: plan.length, opcode, sgList: [{ addr: a.mr.iova + off, length: len, lkey: a.mr.stag }], sendFlags: S, ...extra }
      if (opcode === WrOpcode.RDMA_WRITE || opcode === WrOpcode.RDMA_READ) Object.assign(wr, { remoteAddr: b.mr.iova + off, rkey: b.mr.stag })
      const check = () => {
        const got = opcode === WrOpcode.RDMA_READ ? a.buf.subarray(off, off + len) : opcode === WrOpcode.SEND ? b.buf.subarray(30_000 + off, 30_000 + off + len) : b.buf.subarray(off, off + len)
        t.same(Buffer.from(got), Buffer.from(data), `WR ${wr.wrId} (${len} bytes): bytes intact`)
      }
      plan.push({ wr, len, off, check })
    }
    add(WrOpcode.RDMA_WRITE, 3 * MTU + 5) // 4 packets
    add(WrOpcode.RDMA_READ, 4 * MTU) // 4 PSNs
    add(WrOpcode.RDMA_WRITE, MTU) // 1
    add(WrOpcode.SEND, 2 * MTU + 1) // 3: across the wrap
    add(WrOpcode.RDMA_READ, 5 * MTU - 1) // 5
    add(WrOpcode.RDMA_WRITE, 7 * MTU) // 7
    const fetchAdd = plan.length
    plan.push({
      wr: { wrId: fetchAdd, opcode: WrOpcode.ATOMIC_FETCH_AND_ADD, sgList: [{ addr: a.mr.iova + 50_000, length: 8, lkey: a.mr.stag }], remoteAddr: b.mr.iova + word, rkey: b.mr.stag, compareAdd: 2n, sendFlags: S },
      len: 8,
      off: 50_000,
      check: () => {
        t.equal(new DataView(a.buf.buffer, a.buf.byteOffset).getBigUint64(50_000, true), 40n, 'FETCH_ADD returned the old value')
        t.equal(new DataView(b.buf.buffer, b.buf.byteOffset).getBigUint64(word, true), 42n, 'and added once')
      },
    })
    add(WrOpcode.RDMA_WRITE, 2 * MTU) // 2

    const send = plan.find((p) => p.wr.opcode === WrOpcode.SEND)!
    b.qp.postRecv({ wrId: 1000, sgList: [{ addr: b.mr.iova + 30_000 + send.off, length: send.len, lkey: b.mr.stag }] })
    // And b writes to a across its own wrap at the same time.
    const back = pattern(6 * MTU, 99)
    b.buf.set(back, 40_000)
    b.qp.postSend({ wrId: 2000, opcode: WrOpcode.RDMA_WRITE, sgList: [{ addr: b.mr.iova + 40_000, length: back.length, lkey: b.mr.stag }], remoteAddr: a.mr.iova + 40_000, rkey: a.mr.stag, sendFlags: S })
    a.qp.postSend(plan.map((p) => p.wr))

    const wcs = await a.cq.take(plan.length)
    t.same(wcs.map((w) => [w.wrId, w.status]), plan.map((p) => [p.wr.wrId, WcStatus.SUCCESS]), 'every WR completes successfully, in posting order')
    const [bwc, rwc] = await b.cq.take(2)
    t.same([bwc, rwc].map((w) => w!.status).sort(), [WcStatus.SUCCESS, WcStatus.SUCCESS], "b's WRITE and its receive complete")
    for (const p of plan) p.check()
    t.same(Buffer.from(a.buf.subarray(40_000, 40_000 + back.length)), Buffer.from(back), "b's WRITE across its wrap landed")

    // The PSNs on the wire: each WQE starts where the previous one ended, modulo 2^24.
    const expected: number[] = []
    const readResponses: number[] = []
    let psn = psnA
    for (const p of plan) {
      const n = p.wr.opcode === WrOpcode.ATOMIC_FETCH_AND_ADD ? 1 : npkts(p.len)
      if (p.wr.opcode === WrOpcode.RDMA_READ) {
        expected.push(psn)
        for (let k = 0; k < n; k++) readResponses.push(psnAdd(psn, k))
      } else if (p.wr.opcode === WrOpcode.ATOMIC_FETCH_AND_ADD) expected.push(psn)
      else for (let k = 0; k < n; k++) expected.push(psnAdd(psn, k))
      psn = psnAdd(psn, n)
    }
    const requestsA = sent(pair.a).filter((p) => p.opcode !== Op.ACKNOWLEDGE)
    t.same(requestsA.map((p) => p.psn), expected, "a's request PSNs: consecutive modulo 2^24")
    t.ok(expected.includes(MAX) && expected.includes(0) && expected.indexOf(0) === expected.indexOf(MAX) + 1, 'they run through 0xffffff into 0')
    const fromB = sent(pair.b)
    t.same(fromB.filter((p) => p.opcode >= Op.RDMA_READ_RESPONSE_FIRST && p.opcode <= Op.RDMA_READ_RESPONSE_ONLY).map((p) => p.psn), readResponses, 'READ responses carry the PSNs their request reserved')
    const requestsB = fromB.filter((p) => p.opcode <= Op.RDMA_WRITE_ONLY_WITH_IMMEDIATE && p.opcode >= Op.RDMA_WRITE_FIRST)
    t.same(requestsB.map((p) => p.psn), [...Array(6).keys()].map((k) => psnAdd(psnB, k)), "b's WRITE runs 0xfffffd..2")
    for (const h of [pair.a, pair.b]) {
      const c = h.device.counters
      t.same([c.seqNaksSent, c.duplicateRequests, c.nakRetries, c.strayResponses], [0, 0, 0, 0], `${h.id}: no NAK, duplicate, retry or stray response`)
    }
  })

  await t.test('a packet lost at PSN 0xffffff is resent by go-back-N across the wrap', async (t) => {
    const pair = await startEnginePair(t, { capture: true })
    const psnA = MAX - 7
    const { a, b } = connectQps(pair, { mtu: MTU, psnA, timeout: 0 })
    // 4 WRITEs of 4 packets: PSNs 0xfffff8 .. 0x000007. The 8th packet (0xffffff) is lost once;
    // the NAK brings back packets 8..16 of that train, so the injector sees 16 + 9.
    const lost = 7
    const inj = faults(pair.a, { drop: 1 / 16, seed: seedDropping(16 + 9, [lost], 1 / 16) })!
    const data = pattern(16 * MTU, 5)
    a.buf.set(data, 0)
    a.qp.postSend([0, 1, 2, 3].map((k) => ({ wrId: k, opcode: WrOpcode.RDMA_WRITE, sgList: [{ addr: a.mr.iova + k * 4 * MTU, length: 4 * MTU, lkey: a.mr.stag }], remoteAddr: b.mr.iova + k * 4 * MTU, rkey: b.mr.stag, sendFlags: S })))
    const wcs = await a.cq.take(4)
    t.same(wcs.map((w) => [w.wrId, w.status]), [0, 1, 2, 3].map((k) => [k, WcStatus.SUCCESS]), 'all four complete in order')
    t.same(Buffer.from(b.buf.subarray(0, data.length)), Buffer.from(data), 'the bytes are all there')
    t.equal(inj.counters.dropped, 1, 'one packet was lost')
    const naks = sent(pair.b).filter((p) => p.opcode === Op.ACKNOWLEDGE && p.aeth!.syndrome === 0x60)
    t.same(naks.map((p) => p.psn), [MAX], 'one PSN sequence error NAK, for 0xffffff')
    const psns = sent(pair.a).map((p) => p.psn)
    const first = [...Array(16).keys()].map((k) => psnAdd(psnA, k)).filter((_p, k) => k !== lost)
    const resent = [...Array(16 - lost).keys()].map((k) => psnAdd(psnA, lost + k))
    t.same(psns, [...first, ...resent], 'the first transmission less the lost packet, then 0xffffff, 0, 1 ... again')
    t.equal(pair.b.device.counters.outOfSeqDropped, 16 - lost - 1, 'the packets after the gap were dropped until the resend')
  })
})
