/**
 * A closed-loop workload of mixed RC operations between the two hosts of an
 * engine pair, with its own oracle: what b's memory must hold after the
 * WRITEs, what every READ must return, which originals the FETCH_ADDs must
 * see, what every CMP_SWAP must return (the responder executes atomics in
 * posting order, so a model word predicts each one: every other one is
 * meant to match), what every SEND must deliver. Used by the tests that run it over a
 * lossy fabric: every operation must complete exactly once, in order, with
 * the right bytes.
 */
import type { Test } from 'tap'
import { seededRandom } from '../../fabric/faults.ts'
import { SendFlags, WcStatus, WrOpcode } from '../../src/verbs/constants.ts'
import type { SendWr } from '../../src/engine/wqe.ts'
import { connectQps, type EnginePair } from './engine-pair.ts'
import { ALL_ACCESS, pattern } from './rdma-connect.ts'

export type OpKind = 'write' | 'read' | 'fadd' | 'send' | 'cswap'

export interface WorkloadSpec {
  ops: number
  /** Cumulative thresholds on a uniform draw, e.g. [['write', 0.5], ['read', 1]]. */
  mix: Array<[OpKind, number]>
  seed: number
  mtu: number
  /** Largest WRITE/READ (bytes); SENDs are at most 2048. */
  maxSize: number
  /** Operations in flight. */
  window: number
  /** ACK timeout exponent. */
  timeout: number
}

const SLOTS = 256
const SLOT = 4096
const RECV = 2048

/** Run `spec` on a fresh QP pair of `pair` and assert the outcome; returns the number of each kind. */
export async function runWorkload(t: Test, pair: EnginePair, spec: WorkloadSpec): Promise<Record<OpKind, number>> {
  const rand = seededRandom(spec.seed)
  const kinds: OpKind[] = []
  for (let i = 0; i < spec.ops; i++) {
    const r = rand()
    kinds.push(spec.mix.find(([, upTo]) => r < upTo)![0])
  }
  const count = (k: OpKind) => kinds.filter((x) => x === k).length
  const nSend = count('send')
  const { a, b } = connectQps(pair, { mtu: spec.mtu, timeout: spec.timeout, retryCnt: 7, capB: { maxRecvWr: Math.max(1, nSend) }, mrBytes: SLOTS * SLOT })
  const recvArea = pair.b.device.regMr(b.pd, Math.max(1, nSend) * RECV, ALL_ACCESS)
  const counter = pair.b.device.regMr(b.pd, 8, ALL_ACCESS)
  const swapWord = pair.b.device.regMr(b.pd, 8, ALL_ACCESS)
  let swapModel = 0n
  let swapsMatched = 0
  const swapExpect = new Map<number, bigint>()
  const area = recvArea.memory.view(0, recvArea.length)!
  for (let j = 0; j < nSend; j++) b.qp.postRecv({ wrId: j, sgList: [{ addr: recvArea.iova + j * RECV, length: RECV, lkey: recvArea.stag }] })

  const W = spec.window
  const src = pair.a.device.regMr(a.pd, W * SLOT, ALL_ACCESS)
  const dst = pair.a.device.regMr(a.pd, W * SLOT, ALL_ACCESS)
  const srcBuf = src.memory.view(0, W * SLOT)!
  const dstBuf = dst.memory.view(0, W * SLOT)!
  const image = new Uint8Array(SLOTS * SLOT) // what b's memory must hold
  const expectRead = new Map<number, Uint8Array>()
  const readSlot = new Map<number, number>()
  const readsInFlight = new Map<number, number>()
  const sent: Uint8Array[] = []
  const faddResults: bigint[] = []
  let wrongOrder = 0
  let failed = 0
  let nextDone = 0

  const post = (i: number): void => {
    const w = i % W
    const kind = kinds[i]!
    const size = 1 + Math.floor(rand() * spec.maxSize)
    const slot = Math.floor(rand() * SLOTS)
    let wr: SendWr
    let fence = 0
    if (kind === 'write' || kind === 'send') {
      const data = pattern(kind === 'send' ? Math.min(size, RECV) : size, i + 1)
      srcBuf.set(data, w * SLOT)
      if (kind === 'write') {
        image.set(data, slot * SLOT)
        // A retried READ re-reads memory: fence a WRITE that could overwrite what an outstanding READ returns.
        if (readsInFlight.get(slot)) fence = SendFlags.FENCE
        wr = { wrId: i, opcode: WrOpcode.RDMA_WRITE, sgList: [{ addr: src.iova + w * SLOT, length: data.length, lkey: src.stag }], remoteAddr: b.mr.iova + slot * SLOT, rkey: b.mr.stag }
      } else {
        sent.push(data)
        wr = { wrId: i, opcode: WrOpcode.SEND, sgList: [{ addr: src.iova + w * SLOT, length: data.length, lkey: src.stag }] }
      }
    } else if (kind === 'read') {
      expectRead.set(i, image.slice(slot * SLOT, slot * SLOT + size))
      readSlot.set(i, slot)
      readsInFlight.set(slot, (readsInFlight.get(slot) ?? 0) + 1)
      wr = { wrId: i, opcode: WrOpcode.RDMA_READ, sgList: [{ addr: dst.iova + w * SLOT, length: size, lkey: dst.stag }], remoteAddr: b.mr.iova + slot * SLOT, rkey: b.mr.stag }
    } else if (kind === 'cswap') {
      // Executed in posting order: the model knows what the word holds when this one runs.
      const compare = i % 2 === 0 ? swapModel : swapModel + 1n
      const swap = BigInt(i + 1) * 0x1_0000_0001n
      swapExpect.set(i, swapModel)
      if (compare === swapModel) {
        swapModel = swap
        swapsMatched++
      }
      wr = { wrId: i, opcode: WrOpcode.ATOMIC_CMP_AND_SWP, sgList: [{ addr: dst.iova + w * SLOT, length: 8, lkey: dst.stag }], remoteAddr: swapWord.iova, rkey: swapWord.stag, compareAdd: compare, swap }
    } else {
      wr = { wrId: i, opcode: WrOpcode.ATOMIC_FETCH_AND_ADD, sgList: [{ addr: dst.iova + w * SLOT, length: 8, lkey: dst.stag }], remoteAddr: counter.iova, rkey: counter.stag, compareAdd: 1n }
    }
    wr.sendFlags = SendFlags.SIGNALED | fence
    a.qp.postSend(wr)
  }

  let posted = 0
  while (posted < Math.min(W, spec.ops)) post(posted++)
  while (nextDone < spec.ops) {
    let wc
    try {
      wc = await a.cq.next(30_000)
    } catch (err) {
      t.comment(`stalled at ${nextDone}: QP state ${a.qp.state}, counters a ${JSON.stringify(pair.a.device.counters)} b ${JSON.stringify(pair.b.device.counters)}`)
      throw err
    }
    if (wc.wrId !== nextDone) wrongOrder++
    if (wc.status !== WcStatus.SUCCESS) {
      failed++
      t.comment(`wr ${wc.wrId} ${kinds[wc.wrId]} status ${wc.status} at ${nextDone}`)
    }
    const i = wc.wrId
    const w = i % W
    if (kinds[i] === 'read') {
      const want = expectRead.get(i)!
      if (Buffer.compare(Buffer.from(dstBuf.subarray(w * SLOT, w * SLOT + want.length)), Buffer.from(want)) !== 0) {
        failed++
        t.comment(`read ${i} mismatch len ${want.length}`)
      }
      expectRead.delete(i)
      const slot = readSlot.get(i)!
      readsInFlight.set(slot, readsInFlight.get(slot)! - 1)
    } else if (kinds[i] === 'fadd') {
      faddResults.push(new DataView(dstBuf.buffer, dstBuf.byteOffset + w * SLOT, 8).getBigUint64(0, true))
    } else if (kinds[i] === 'cswap') {
      const original = new DataView(dstBuf.buffer, dstBuf.byteOffset + w * SLOT, 8).getBigUint64(0, true)
      if (original !== swapExpect.get(i)) {
        failed++
        t.comment(`cmp_swap ${i} returned ${original}, expected ${swapExpect.get(i)}`)
      }
      swapExpect.delete(i)
    }
    nextDone++
    if (failed || wrongOrder) break
    if (posted < spec.ops) post(posted++)
  }
  t.equal(wrongOrder, 0, 'completions arrive in posting order')
  t.equal(failed, 0, 'every completion is successful and every READ returned the expected bytes')
  t.equal(nextDone, spec.ops, 'every operation completed')
  await new Promise((r) => setTimeout(r, 5))
  t.equal(a.cq.count, 0, 'and none completed twice')

  const sorted = [...faddResults].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0))
  t.ok(sorted.every((v, k) => v === BigInt(k)), 'each FETCH_ADD executed exactly once (originals are 0..n-1)')
  t.equal(new DataView(counter.memory.view(0, 8)!.buffer, counter.memory.view(0, 8)!.byteOffset, 8).getBigUint64(0, true), BigInt(count('fadd')), 'the counter holds the number of FETCH_ADDs')
  t.ok(Buffer.compare(Buffer.from(b.buf), Buffer.from(image)) === 0, "b's memory holds exactly the writes, in order")
  if (count('cswap') > 0) {
    const word = swapWord.memory.view(0, 8)!
    t.equal(new DataView(word.buffer, word.byteOffset, 8).getBigUint64(0, true), swapModel, `the CMP_SWAP word holds the last successful swap (${swapsMatched} of ${count('cswap')} matched)`)
  }

  const recvs = b.cq.poll(nSend + 1)
  t.equal(recvs.length, nSend, 'one receive completion per SEND')
  t.ok(recvs.every((r, k) => r.wrId === k && r.status === WcStatus.SUCCESS && r.byteLen === sent[k]!.length), 'receives complete in order with the right lengths')
  t.ok(sent.every((d, k) => Buffer.compare(Buffer.from(area.subarray(k * RECV, k * RECV + d.length)), Buffer.from(d)) === 0), 'every SEND payload arrived intact')
  const c = pair.a.device.counters
  t.comment(`retries: timeout ${c.timeoutRetries}, nak ${c.nakRetries}; duplicate NAKs ignored ${c.duplicateNaks}`)
  return { write: count('write'), read: count('read'), fadd: count('fadd'), send: nSend, cswap: count('cswap') }
}
