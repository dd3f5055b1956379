import t from 'tap'
import { startRdmaCluster, connect, ALL_ACCESS } from './helpers/rdma-cluster.ts'
import { SendFlags, WcStatus, WrOpcode } from '../src/verbs/constants.ts'

// A lone single-packet request on an idle QP whose response is lost is
// recovered by the retransmit timer (the timer must be armed for it).
t.test('qp - retransmit after a lost response on an idle QP', async (t) => {
  const rc = await startRdmaCluster(t)
  const c = await connect(rc, { connect: { timeout: 10, retryCnt: 7 } })
  const local = rc.local.device.regMr(c.pd, 64, ALL_ACCESS)
  await rc.server.write(c.serverMr.stag, 0, Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]))
  for (const [name, wr] of [
    ['READ', { opcode: WrOpcode.RDMA_READ }],
    ['FETCH_ADD', { opcode: WrOpcode.ATOMIC_FETCH_AND_ADD, compareAdd: 0n }],
  ] as const) {
    await t.test(name, async (t) => {
      // The server loses everything it sends for a while.
      await rc.cluster.control.request('server0', 'rdma.faults', { drop: 1 })
      const before = rc.local.device.counters.timeoutRetries
      c.qp.postSend({ wrId: 1, ...wr, sgList: [{ addr: local.iova, length: 8, lkey: local.stag }], remoteAddr: c.serverMr.iova, rkey: c.serverMr.stag, sendFlags: SendFlags.SIGNALED })
      for (let i = 0; i < 100 && rc.local.device.counters.timeoutRetries - before < 2; i++) await new Promise((r) => setTimeout(r, 10))
      await rc.cluster.control.request('server0', 'rdma.faults', null)
      const wc = await c.cq.next(5000)
      t.equal(wc.status, WcStatus.SUCCESS)
      t.ok(rc.local.device.counters.timeoutRetries - before >= 2, 'recovered by the retransmit timer')
      t.same([...local.memory.view(0, 8)!], [1, 2, 3, 4, 5, 6, 7, 8])
    })
  }
})
