import t from 'tap'
import { connectQps, faults, sent, startEnginePair, until, type EnginePair, type QpEnd } from './helpers/engine-pair.ts'
import { pattern } from './helpers/rdma-connect.ts'
import { decodePacket, psnAdd, type Packet } from '../fabric/codec.ts'
import { Op } from '../src/engine/opcodes.ts'
import { SendFlags, WcStatus, WrOpcode } from '../src/verbs/constants.ts'

// Duplicate requests (a retransmission whose original did arrive) are not
// executed twice: a duplicate SEND or WRITE is acknowledged again and
// changes nothing; a duplicate READ is answered again from the
// max_dest_rd_atomic responder-resource ring (and dropped once its entry has
// been reused); a duplicate atomic is answered with the result saved when it
// ran, and the word is not touched again.
const MTU = 256
const S = SendFlags.SIGNALED
const isResponse = (p: Packet) => (p.opcode >= Op.RDMA_READ_RESPONSE_FIRST && p.opcode <= Op.RDMA_READ_RESPONSE_ONLY) || p.opcode === Op.ATOMIC_ACKNOWLEDGE

const word = (e: QpEnd, off: number) => new DataView(e.buf.buffer, e.buf.byteOffset).getBigUint64(off, true)
const setWord = (e: QpEnd, off: number, v: bigint) => new DataView(e.buf.buffer, e.buf.byteOffset).setBigUint64(off, v, true)

/** The last request packet a sent with this opcode, as it went on the wire. */
function lastRequest(pair: EnginePair, opcode: number): Uint8Array {
  const raw = pair.a.wire.out.filter((p) => decodePacket(p).opcode === opcode).at(-1)
  if (!raw) throw new Error(`a sent no packet with opcode ${opcode}`)
  return raw
}

/** Send `raw` from a to b again over the fabric; resolves with what b sent in answer. */
async function replay(pair: EnginePair, raw: Uint8Array): Promise<Packet[]> {
  const dup = pair.b.device.counters.duplicateRequests
  const before = pair.b.wire.out.length
  pair.a.control.sendData(pair.b.id, [raw])
  await until('b to see the duplicate', () => pair.b.device.counters.duplicateRequests === dup + 1)
  // Whatever b answers leaves within this turn; give the loopback a turn to be sure.
  await new Promise((r) => setImmediate(r))
  return sent(pair.b).slice(before)
}

t.test('engine - duplicate replay', async (t) => {
  await t.test('every request packet sent twice: each operation runs once', async (t) => {
    const pair = await startEnginePair(t, { capture: true })
    const { a, b } = connectQps(pair, { mtu: MTU, timeout: 0 })
    const inj = faults(pair.a, { duplicate: 1, seed: 1 })!
    const data = pattern(3 * MTU, 1)
    a.buf.set(data, 0)
    const remote = pattern(3 * MTU, 2)
    b.buf.set(remote, 4096)
    setWord(b, 8192, 10n)
    setWord(b, 8200, 7n)
    b.qp.postRecv([{ wrId: 50, sgList: [{ addr: b.mr.iova + 12288, length: 64, lkey: b.mr.stag }] }, { wrId: 51, sgList: [{ addr: b.mr.iova + 12352, length: 64, lkey: b.mr.stag }] }])
    a.qp.postSend([
      { wrId: 1, opcode: WrOpcode.RDMA_WRITE, sgList: [{ addr: a.mr.iova, length: data.length, lkey: a.mr.stag }], remoteAddr: b.mr.iova, rkey: b.mr.stag, sendFlags: S },
      { wrId: 2, opcode: WrOpcode.RDMA_READ, sgList: [{ addr: a.mr.iova + 4096, length: remote.length, lkey: a.mr.stag }], remoteAddr: b.mr.iova + 4096, rkey: b.mr.stag, sendFlags: S },
      { wrId: 3, opcode: WrOpcode.ATOMIC_FETCH_AND_ADD, sgList: [{ addr: a.mr.iova + 8192, length: 8, lkey: a.mr.stag }], remoteAddr: b.mr.iova + 8192, rkey: b.mr.stag, compareAdd: 5n, sendFlags: S },
      { wrId: 4, opcode: WrOpcode.ATOMIC_CMP_AND_SWP, sgList: [{ addr: a.mr.iova + 8200, length: 8, lkey: a.mr.stag }], remoteAddr: b.mr.iova + 8200, rkey: b.mr.stag, compareAdd: 7n, swap: 8n, sendFlags: S },
      { wrId: 5, opcode: WrOpcode.SEND, sgList: [{ addr: a.mr.iova, length: 20, lkey: a.mr.stag }], sendFlags: S },
    ])
    const wcs = await a.cq.take(5)
    t.same(wcs.map((w) => [w.wrId, w.status]), [1, 2, 3, 4, 5].map((k) => [k, WcStatus.SUCCESS]), 'each WR completes once, in order')
    await new Promise((r) => setTimeout(r, 5))
    t.equal(a.cq.count, 0, 'and no second time')

    const requests = 3 + 1 + 1 + 1 + 1
    t.equal(inj.counters.duplicated, requests, 'every request packet went twice')
    t.equal(pair.b.device.counters.duplicateRequests, requests, 'the responder saw each second copy as a duplicate')
    t.same(Buffer.from(b.buf.subarray(0, data.length)), Buffer.from(data), 'the WRITE landed')
    t.same(Buffer.from(a.buf.subarray(4096, 4096 + remote.length)), Buffer.from(remote), 'the READ returned the bytes')
    t.equal(word(a, 8192), 10n, 'FETCH_ADD returned the original')
    t.equal(word(b, 8192), 15n, 'FETCH_ADD added once (10 + 5, not 10 + 5 + 5)')
    t.equal(word(a, 8200), 7n, 'CMP_SWAP returned the original')
    t.equal(word(b, 8200), 8n, 'and swapped')
    const [rwc] = await b.cq.take(1)
    t.same([rwc!.wrId, rwc!.status, rwc!.byteLen], [50, WcStatus.SUCCESS, 20], 'the SEND consumed one receive')
    t.equal(b.cq.count, 0, 'not two')

    const responses = sent(pair.b).filter(isResponse)
    t.equal(responses.length, 2 * (3 + 1 + 1), 'each READ response and atomic ACK was sent again for the duplicate')
    t.same(responses.filter((p) => p.opcode === Op.ATOMIC_ACKNOWLEDGE).map((p) => p.atomicAckEth!.origData), [10n, 10n, 7n, 7n], 'the replayed atomic ACKs carry the saved originals')
    t.equal(pair.a.device.counters.strayResponses, responses.length - (3 + 1 + 1), 'the requester ignored the second copies')
  })

  await t.test('a late duplicate READ is replayed from the resource ring, until its entry is reused', async (t) => {
    const pair = await startEnginePair(t, { capture: true })
    // Two responder resources: the ring remembers the last two READs.
    const { a, b } = connectQps(pair, { mtu: MTU, timeout: 0, rdAtomic: 2 })
    const reads = [2 * MTU, 2 * MTU + 1, 3 * MTU - 7].map((len, k) => ({ off: k * 1024, len, n: Math.ceil(len / MTU) }))
    for (const [k, r] of reads.entries()) {
      b.buf.set(pattern(r.len, 10 + k), r.off)
      a.qp.postSend({ wrId: k, opcode: WrOpcode.RDMA_READ, sgList: [{ addr: a.mr.iova + r.off, length: r.len, lkey: a.mr.stag }], remoteAddr: b.mr.iova + r.off, rkey: b.mr.stag, sendFlags: S })
      t.equal((await a.cq.next()).status, WcStatus.SUCCESS)
    }
    const raw = pair.a.wire.out.filter((p) => decodePacket(p).opcode === Op.RDMA_READ_REQUEST)
    t.equal(raw.length, 3)

    const newest = decodePacket(raw[2]!)
    const answer = await replay(pair, raw[2]!)
    const n = reads[2]!.n
    t.same(answer.map((p) => p.psn), [...Array(n).keys()].map((k) => psnAdd(newest.psn, k)), 'the newest READ is answered again, with its PSNs')
    t.same(Buffer.concat(answer.map((p) => p.payload)), Buffer.from(b.buf.subarray(reads[2]!.off, reads[2]!.off + reads[2]!.len)), 'and its bytes')

    const middle = await replay(pair, raw[1]!)
    t.same(middle.map((p) => p.psn), [...Array(reads[1]!.n).keys()].map((k) => psnAdd(decodePacket(raw[1]!).psn, k)), 'the one before it too (still in the ring)')
    t.same(await replay(pair, raw[0]!), [], 'the oldest is gone from the ring: dropped, not answered')
    t.equal(pair.b.device.counters.seqNaksSent + pair.b.device.counters.errorNaksSent, 0, 'no NAK for any of them')
    t.equal(pair.a.device.counters.strayResponses, answer.length + middle.length, 'the requester ignored the replayed responses')
  })

  await t.test('a late duplicate FETCH_ADD gets the saved original and is not executed again', async (t) => {
    const pair = await startEnginePair(t, { capture: true })
    const { a, b } = connectQps(pair, { mtu: MTU, timeout: 0 })
    setWord(b, 64, 10n)
    a.qp.postSend({ wrId: 1, opcode: WrOpcode.ATOMIC_FETCH_AND_ADD, sgList: [{ addr: a.mr.iova, length: 8, lkey: a.mr.stag }], remoteAddr: b.mr.iova + 64, rkey: b.mr.stag, compareAdd: 5n, sendFlags: S })
    t.equal((await a.cq.next()).status, WcStatus.SUCCESS)
    t.same([word(a, 0), word(b, 64)], [10n, 15n], 'ran once: 10 + 5')
    setWord(b, 64, 100n) // the application changes the word afterwards
    const answer = await replay(pair, lastRequest(pair, Op.FETCH_ADD))
    t.same(answer.map((p) => [p.opcode, p.atomicAckEth?.origData]), [[Op.ATOMIC_ACKNOWLEDGE, 10n]], 'the duplicate is answered with the saved original (10), not the current value')
    t.equal(word(b, 64), 100n, 'and the word is left alone')
  })

  await t.test('a late duplicate WRITE or SEND is re-acknowledged and changes nothing', async (t) => {
    const pair = await startEnginePair(t, { capture: true })
    const { a, b } = connectQps(pair, { mtu: MTU, timeout: 0 })
    a.buf.set(pattern(100, 1), 0)
    a.qp.postSend({ wrId: 1, opcode: WrOpcode.RDMA_WRITE, sgList: [{ addr: a.mr.iova, length: 100, lkey: a.mr.stag }], remoteAddr: b.mr.iova, rkey: b.mr.stag, sendFlags: S })
    t.equal((await a.cq.next()).status, WcStatus.SUCCESS)
    const later = pattern(100, 2)
    b.buf.set(later, 0) // overwritten since
    const writeAck = await replay(pair, lastRequest(pair, Op.RDMA_WRITE_ONLY))
    const write = decodePacket(lastRequest(pair, Op.RDMA_WRITE_ONLY))
    t.same(writeAck.map((p) => [p.opcode, p.aeth!.syndrome >> 5, p.psn]), [[Op.ACKNOWLEDGE, 0, write.psn]], 'an ACK up to the duplicate\'s PSN')
    t.same(Buffer.from(b.buf.subarray(0, 100)), Buffer.from(later), 'the WRITE was not applied again')

    b.qp.postRecv([{ wrId: 10, sgList: [{ addr: b.mr.iova + 1000, length: 64, lkey: b.mr.stag }] }, { wrId: 11, sgList: [{ addr: b.mr.iova + 2000, length: 64, lkey: b.mr.stag }] }])
    a.qp.postSend({ wrId: 2, opcode: WrOpcode.SEND, sgList: [{ addr: a.mr.iova, length: 10, lkey: a.mr.stag }], sendFlags: S })
    t.equal((await a.cq.next()).status, WcStatus.SUCCESS)
    t.equal((await b.cq.next()).wrId, 10)
    const sendAck = await replay(pair, lastRequest(pair, Op.SEND_ONLY))
    t.same(sendAck.map((p) => p.opcode), [Op.ACKNOWLEDGE], 'the duplicate SEND is acknowledged')
    t.equal(b.cq.count, 0, 'and consumes no receive')
    a.buf.set(pattern(10, 3), 0)
    a.qp.postSend({ wrId: 3, opcode: WrOpcode.SEND, sgList: [{ addr: a.mr.iova, length: 10, lkey: a.mr.stag }], sendFlags: S })
    t.equal((await a.cq.next()).status, WcStatus.SUCCESS)
    t.equal((await b.cq.next()).wrId, 11, 'the next SEND takes the second receive')
    t.same(Buffer.from(b.buf.subarray(2000, 2010)), Buffer.from(pattern(10, 3)))
  })
})
