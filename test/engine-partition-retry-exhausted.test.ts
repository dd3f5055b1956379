import t from 'tap'
import { addRule, connectQps, startEnginePair } from './helpers/engine-pair.ts'
import { QpState, SendFlags, WcStatus, WrOpcode } from '../src/verbs/constants.ts'

// Issue 11, acceptance 3: a partition that outlasts a QP's retry budget
// (retry_cnt 2). The QP learns of it as on hardware, through its retries:
// the head WR completes RETRY_EXC_ERR, the rest WR_FLUSH_ERR. Heartbeats
// still flow (the out-of-band liveness channel), so neither host sees the
// other go down. After the heal, a new QP pair moves data.
t.test('engine - partition: RETRY_EXC_ERR on the head WR, WR_FLUSH_ERR on the rest; a new QP pair after the heal', async (t) => {
  const pair = await startEnginePair(t, { heartbeatIntervalMs: 10, heartbeatTimeoutMs: 60 })
  const downs: string[] = []
  for (const h of [pair.a, pair.b]) h.transport.on('peer', (info) => info.state === 'down' && downs.push(`${h.id} saw ${info.id} down`))
  const { a, b } = connectQps(pair, { timeout: 14, retryCnt: 2 })
  addRule(pair.a, { id: 'split-ab', seed: 1, to: ['b'], partition: true })
  addRule(pair.b, { id: 'split-ba', seed: 1, to: ['a'], partition: true })

  const wr = (wrId: number) => ({ wrId, opcode: WrOpcode.RDMA_WRITE, sgList: [{ addr: a.mr.iova, length: 100, lkey: a.mr.stag }], remoteAddr: b.mr.iova, rkey: b.mr.stag, sendFlags: SendFlags.SIGNALED })
  a.qp.postSend([wr(1), wr(2), wr(3)])
  const wcs = await a.cq.take(3)
  t.same(wcs.map((w) => w.wrId), [1, 2, 3], 'completions in order')
  t.equal(wcs[0]!.status, WcStatus.RETRY_EXC_ERR, 'the head WR: RETRY_EXC_ERR')
  t.same(wcs.slice(1).map((w) => w.status), [WcStatus.WR_FLUSH_ERR, WcStatus.WR_FLUSH_ERR], 'the rest: WR_FLUSH_ERR')
  t.equal(a.qp.state, QpState.ERR, 'the QP is in ERR')
  t.equal(pair.a.device.counters.timeoutRetries, 2, 'retry_cnt retransmissions')
  t.equal(pair.b.device.counters.pktsReceived, 0, 'nothing crossed the partition')
  const split = pair.a.device.rules.report().rules[0]!.links[0]!
  t.same([split.from, split.to, split.counters.partitioned], ['a', 'b', 9], '3 requests on each of the 3 tries, partitioned')

  // Longer than the heartbeat timeout: a partition is not a process death.
  await new Promise((r) => setTimeout(r, 150))
  t.same(downs, [], 'heartbeats crossed the partition: no peer went down')
  t.ok(pair.a.transport.peers().every((p) => p.state === 'up'), 'b is up for a')

  pair.a.device.rules.remove('split-ab')
  pair.b.device.rules.remove('split-ba')
  const fresh = connectQps(pair, { timeout: 14, retryCnt: 2 })
  fresh.a.buf.fill(0x5c, 0, 4096)
  fresh.a.qp.postSend({ wrId: 9, opcode: WrOpcode.RDMA_WRITE, sgList: [{ addr: fresh.a.mr.iova, length: 4096, lkey: fresh.a.mr.stag }], remoteAddr: fresh.b.mr.iova, rkey: fresh.b.mr.stag, sendFlags: SendFlags.SIGNALED })
  const [done] = await fresh.a.cq.take(1)
  t.equal(done!.status, WcStatus.SUCCESS, 'after the heal, a new QP pair completes a WRITE')
  t.ok(fresh.b.buf.subarray(0, 4096).every((x) => x === 0x5c), 'and the data landed')
  t.equal(pair.a.device.rules.report().rules[0]!.id, 'split-ab', 'a removed rule keeps its counters readable')
})
