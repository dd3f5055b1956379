import t from 'tap'
import { connectQps, faults, seedDropping, sent, startEnginePair } from './helpers/engine-pair.ts'
import { runWorkload } from './helpers/engine-workload.ts'
import { pattern } from './helpers/rdma-connect.ts'
import { psnAdd } from '../fabric/codec.ts'
import { Op } from '../src/engine/opcodes.ts'
import { SendFlags, WcStatus, WrOpcode } from '../src/verbs/constants.ts'

// Go-back-N: whatever is lost, in either direction, the requester goes back
// to the oldest packet not acknowledged (on a sequence NAK, a gap in READ
// responses, or its ACK timer) and sends from there; every WR completes
// once, in order, with the right bytes.
const MTU = 256

t.test('engine - go-back-N under loss', async (t) => {
  await t.test('a lost READ response packet: the READ is asked again from that packet on', async (t) => {
    const pair = await startEnginePair(t, { capture: true })
    const { a, b } = connectQps(pair, { mtu: MTU, timeout: 0, psnA: 500 })
    const n = 6
    const lost = 2
    // b sends the 6 responses, then the 4 asked again.
    const inj = faults(pair.b, { drop: 1 / n, seed: seedDropping(n + n - lost, [lost], 1 / n) })!
    const data = pattern(n * MTU - 9, 8)
    b.buf.set(data, 0)
    a.qp.postSend({ wrId: 1, opcode: WrOpcode.RDMA_READ, sgList: [{ addr: a.mr.iova, length: data.length, lkey: a.mr.stag }], remoteAddr: b.mr.iova, rkey: b.mr.stag, sendFlags: SendFlags.SIGNALED })
    const wc = await a.cq.next()
    t.same([wc.status, wc.byteLen], [WcStatus.SUCCESS, data.length])
    t.same(Buffer.from(a.buf.subarray(0, data.length)), Buffer.from(data), 'byte for byte')
    t.equal(inj.counters.dropped, 1)
    const asks = sent(pair.a).filter((p) => p.opcode === Op.RDMA_READ_REQUEST)
    t.same(asks.map((p) => [p.psn, p.reth!.va - BigInt(b.mr.iova), p.reth!.len]), [[500, 0n, data.length], [psnAdd(500, lost), BigInt(lost * MTU), data.length - lost * MTU]], 'asked again at the lost PSN, for the rest of the message')
    t.equal(pair.a.device.counters.nakRetries, 1, 'one retry')
    // The first response past the gap starts the retry; the rest of the first pass is set aside.
    t.equal(pair.a.device.counters.strayResponses, n - lost - 2, 'the later responses of the first pass were ignored')
  })

  await t.test('seeded random loss: 4,000 WRITEs and READs complete once, in order, with the right bytes', async (t) => {
    const pair = await startEnginePair(t, { faults: { a: { drop: 0.02, seed: 7 }, b: { drop: 0.02, seed: 8 } } })
    // timeout 12: 1.7 ms.
    await runWorkload(t, pair, { ops: 4000, seed: 9, mtu: 1024, maxSize: 3000, window: 64, timeout: 12, mix: [['write', 0.5], ['read', 1]] })
    const requests = pair.a.device.faults!.counters
    const responses = pair.b.device.faults!.counters
    t.ok(requests.dropped > 0 && responses.dropped > 0, `requests lost ${requests.dropped} of ${requests.seen}, responses lost ${responses.dropped} of ${responses.seen}`)
    t.ok(pair.a.device.counters.nakRetries > 0, `go-back-N on NAKs and READ gaps (${pair.a.device.counters.nakRetries})`)
    t.ok(pair.b.device.counters.seqNaksSent > 0 && pair.b.device.counters.outOfSeqDropped > 0, 'the responder NAKed gaps and dropped what followed them')
  })
})
