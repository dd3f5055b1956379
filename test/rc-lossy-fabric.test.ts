import t from 'tap'
import { startRdmaCluster, connect, pattern, ALL_ACCESS } from './helpers/rdma-cluster.ts'
import { seededRandom, FaultInjector } from '../fabric/faults.ts'
import { SendFlags, WcStatus, WrOpcode } from '../src/verbs/constants.ts'
import type { SendWr } from '../src/engine/wqe.ts'

// 10,000 mixed operations over a fabric that drops, duplicates and reorders
// data-plane packets in both directions (seeded): every operation completes
// exactly once, in order, and every byte ends up where it should.
const OPS = 10_000
const SLOTS = 256
const SLOT = 4096
const WINDOW = 128
const SEED = 20261123

t.test('rc - lossy fabric: 10,000 mixed operations complete exactly once, in order, with correct data', async (t) => {
  const rc = await startRdmaCluster(t)
  const t0 = Date.now()
  rc.cluster.transport.on('peer', (p) => t.comment(`peer ${p.id} ${p.state} at +${Date.now() - t0} ms`))
  rc.local.device.onQpError = (qp, reason) => t.comment(`QP ${qp.qpNum} to ERR at +${Date.now() - t0} ms: ${reason}`)
  const rand = seededRandom(SEED)
  const kinds: string[] = []
  for (let i = 0; i < OPS; i++) {
    const r = rand()
    kinds.push(r < 0.4 ? 'write' : r < 0.65 ? 'read' : r < 0.85 ? 'fadd' : 'send')
  }
  const nSend = kinds.filter((k) => k === 'send').length

  const c = await connect(rc, { serverBytes: SLOTS * SLOT, listenCap: { maxRecvWr: 8192 }, connect: { mtu: 1024, timeout: 10, retryCnt: 7 } })
  // Receive buffers for every SEND, posted up front.
  const recvArea = await rc.server.regMr(c.serverPd, nSend * 2048, ALL_ACCESS)
  const counter = await rc.server.regMr(c.serverPd, 8, ALL_ACCESS)
  for (let i = 0; i < nSend; i += 500) {
    const wrs = []
    for (let j = i; j < Math.min(nSend, i + 500); j++) wrs.push({ wrId: j, sgList: [{ stag: recvArea.stag, offset: j * 2048, length: 2048 }] })
    await rc.server.postRecv(c.remoteQpn, wrs)
  }
  t.equal(nSend > 100, true, `${nSend} SENDs in the mix`)

  rc.local.device.faults = new FaultInjector({ drop: 0.01, duplicate: 0.01, reorder: 0.01, seed: SEED })
  await rc.cluster.control.request('server0', 'rdma.faults', { drop: 0.01, duplicate: 0.01, reorder: 0.01, seed: SEED + 1 })

  const dev = rc.local.device
  const src = dev.regMr(c.pd, WINDOW * SLOT, ALL_ACCESS)
  const dst = dev.regMr(c.pd, WINDOW * SLOT, ALL_ACCESS)
  const srcBuf = src.memory.view(0, WINDOW * SLOT)!
  const dstBuf = dst.memory.view(0, WINDOW * SLOT)!
  const image = new Uint8Array(SLOTS * SLOT) // what server memory must hold
  const expectRead = new Map<number, Uint8Array>()
  const readSlot = new Map<number, number>()
  const readsInFlight = new Map<number, number>()
  const sent: Uint8Array[] = []
  const faddResults: bigint[] = []
  let wrongOrder = 0
  let failed = 0
  let nextDone = 0

  const post = (i: number): void => {
    const w = i % WINDOW
    const kind = kinds[i]!
    const size = 1 + Math.floor(rand() * 3000)
    const slot = Math.floor(rand() * SLOTS)
    let wr: SendWr
    let fence = 0
    if (kind === 'write' || kind === 'send') {
      const data = pattern(kind === 'send' ? Math.min(size, 2048) : size, i + 1)
      srcBuf.set(data, w * SLOT)
      if (kind === 'write') {
        image.set(data, slot * SLOT)
        // A retried READ re-reads memory: fence a WRITE that could overwrite what an outstanding READ returns.
        if (readsInFlight.get(slot)) fence = SendFlags.FENCE
        wr = { wrId: i, opcode: WrOpcode.RDMA_WRITE, sgList: [{ addr: src.iova + w * SLOT, length: data.length, lkey: src.stag }], remoteAddr: c.serverMr.iova + slot * SLOT, rkey: c.serverMr.stag }
      } else {
        sent.push(data)
        wr = { wrId: i, opcode: WrOpcode.SEND, sgList: [{ addr: src.iova + w * SLOT, length: data.length, lkey: src.stag }] }
      }
    } else if (kind === 'read') {
      expectRead.set(i, image.slice(slot * SLOT, slot * SLOT + size))
      readSlot.set(i, slot)
      readsInFlight.set(slot, (readsInFlight.get(slot) ?? 0) + 1)
      wr = { wrId: i, opcode: WrOpcode.RDMA_READ, sgList: [{ addr: dst.iova + w * SLOT, length: size, lkey: dst.stag }], remoteAddr: c.serverMr.iova + slot * SLOT, rkey: c.serverMr.stag }
    } else {
      wr = { wrId: i, opcode: WrOpcode.ATOMIC_FETCH_AND_ADD, sgList: [{ addr: dst.iova + w * SLOT, length: 8, lkey: dst.stag }], remoteAddr: counter.iova, rkey: counter.stag, compareAdd: 1n }
    }
    wr.sendFlags = SendFlags.SIGNALED | fence
    c.qp.postSend(wr)
  }

  let posted = 0
  while (posted < Math.min(WINDOW, OPS)) post(posted++)
  while (nextDone < OPS) {
    let wc
    try {
      wc = await c.cq.next(30_000)
    } catch (err) {
      const q = c.qp
      t.comment(`stalled at ${nextDone}: ${JSON.stringify({ state: q.state, sq: q.sq.length, base: q.sq.base, idx: q.req.idx, pkt: q.req.pkt, rd: q.req.rdInflight, rnrWait: q.req.rnrWait, timer: !!q.comp.timer, retryLeft: q.comp.retryLeft, head: q.sq.peek() && { kind: q.sq.peek()!.kind, first: q.sq.peek()!.firstPsn, last: q.sq.peek()!.lastPsn, done: q.sq.peek()!.done }, counters: dev.counters })}`)
      t.comment(`server: ${JSON.stringify(await rc.server.counters())} ${JSON.stringify(await rc.cluster.control.request('server0', 'rdma.dataPathStats'))} ${JSON.stringify(await rc.cluster.control.request('server0', 'verbs.qps'))}`)
      throw err
    }
    if (wc.wrId !== nextDone) wrongOrder++
    if (wc.status !== WcStatus.SUCCESS) { failed++; t.comment(`wr ${wc.wrId} ${kinds[wc.wrId]} status ${wc.status} at ${nextDone}`) }
    const i = wc.wrId
    const w = i % WINDOW
    if (kinds[i] === 'read') {
      const want = expectRead.get(i)!
      if (Buffer.compare(Buffer.from(dstBuf.subarray(w * SLOT, w * SLOT + want.length)), Buffer.from(want)) !== 0) { failed++; t.comment(`read ${i} mismatch len ${want.length}`) }
      expectRead.delete(i)
      const slot = readSlot.get(i)!
      readsInFlight.set(slot, readsInFlight.get(slot)! - 1)
    } else if (kinds[i] === 'fadd') {
      faddResults.push(new DataView(dstBuf.buffer, dstBuf.byteOffset + w * SLOT, 8).getBigUint64(0, true))
    }
    nextDone++
    if (failed || wrongOrder) break
    if (posted < OPS) post(posted++)
  }
  t.equal(wrongOrder, 0, 'completions arrive in posting order')
  t.equal(failed, 0, 'every completion is successful and every READ returned the expected bytes')
  t.equal(nextDone, OPS, 'every operation completed')
  t.equal(c.cq.count, 0, 'and none completed twice')

  const nFadd = kinds.filter((k) => k === 'fadd').length
  const sorted = [...faddResults].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
  t.ok(sorted.every((v, k) => v === BigInt(k)), 'each FETCH_ADD executed exactly once (originals are 0..n-1)')
  const cnt = await rc.server.read(counter.stag, 0, 8)
  t.equal(new DataView(cnt.buffer, cnt.byteOffset, 8).getBigUint64(0, true), BigInt(nFadd))

  const mem = await rc.server.read(c.serverMr.stag, 0, SLOTS * SLOT)
  t.ok(Buffer.compare(Buffer.from(mem), Buffer.from(image)) === 0, 'server memory holds exactly the writes, in order')

  const recvs = []
  while (recvs.length < nSend) {
    const got = await rc.server.pollCq(c.remoteQpn, 'recv', { max: 1000, min: 1, waitMs: 5000 })
    if (!got.length) break
    recvs.push(...got)
  }
  t.equal(recvs.length, nSend, 'one receive completion per SEND')
  t.ok(recvs.every((r, k) => r.wrId === k && r.status === WcStatus.SUCCESS && r.byteLen === sent[k]!.length), 'receives complete in order with the right lengths')
  const area = await rc.server.read(recvArea.stag, 0, nSend * 2048)
  t.ok(sent.every((d, k) => Buffer.compare(Buffer.from(area.subarray(k * 2048, k * 2048 + d.length)), Buffer.from(d)) === 0), 'every SEND payload arrived intact')

  const localFaults = dev.faults!.counters
  const remoteFaults = await rc.cluster.control.request('server0', 'rdma.faultCounters')
  t.ok(localFaults.dropped > 0 && localFaults.duplicated > 0 && localFaults.reordered > 0, `faults hit requests: ${JSON.stringify(localFaults)}`)
  t.ok(remoteFaults !== null && remoteFaults.dropped > 0 && remoteFaults.duplicated > 0 && remoteFaults.reordered > 0, `faults hit responses: ${JSON.stringify(remoteFaults)}`)
  t.comment(`retries: timeout ${dev.counters.timeoutRetries}, nak ${dev.counters.nakRetries}`)
})
