import t from 'tap'
import { startRdmaCluster, connect, ALL_ACCESS } from './helpers/rdma-cluster.ts'
import { QpState, SendFlags, WcStatus, WrOpcode } from '../src/verbs/constants.ts'

// SEND with no receive posted: the responder answers RNR NAK, the requester
// waits the RNR timer and retries; it gives up with RNR_RETRY_EXC_ERR after
// rnr_retry attempts, and succeeds if a receive shows up in time.
t.test('qp - rnr retry', async (t) => {
  const rc = await startRdmaCluster(t)

  await t.test('rnr retry exhausts with RNR_RETRY_EXC_ERR', async (t) => {
    // minRnrTimer 1 = 0.01 ms on the responder; rnr_retry 3 on the requester.
    const c = await connect(rc, { connect: { rnrRetry: 3, minRnrTimer: 1 } })
    const local = rc.local.device.regMr(c.pd, 64, ALL_ACCESS)
    const before = rc.local.device.counters.rnrRetries
    c.qp.postSend({ wrId: 1, opcode: WrOpcode.SEND, sgList: [{ addr: local.iova, length: 16, lkey: local.stag }], sendFlags: SendFlags.SIGNALED })
    const wc = await c.cq.next()
    t.equal(wc.status, WcStatus.RNR_RETRY_EXC_ERR)
    t.equal(rc.local.device.counters.rnrRetries - before, 4, 'one RNR NAK per try: the first send and 3 retries')
    t.equal(c.qp.state, QpState.ERR)
  })

  await t.test('a receive posted during the retry window lets the SEND complete', async (t) => {
    // Server-side RNR timer 14 = 1.28 ms; infinite retries (7).
    const c = await connect(rc, { connect: { rnrRetry: 7 } })
    const local = rc.local.device.regMr(c.pd, 64, ALL_ACCESS)
    local.memory.view(0, 5)!.set([1, 2, 3, 4, 5])
    const before = rc.local.device.counters.rnrRetries
    c.qp.postSend({ wrId: 2, opcode: WrOpcode.SEND, sgList: [{ addr: local.iova, length: 5, lkey: local.stag }], sendFlags: SendFlags.SIGNALED })
    // Let it bounce off the empty receive queue a few times first.
    for (let i = 0; i < 200 && rc.local.device.counters.rnrRetries - before < 2; i++) await new Promise((r) => setTimeout(r, 5))
    t.ok(rc.local.device.counters.rnrRetries - before >= 2, 'RNR NAKs were received')
    await rc.server.postRecv(c.remoteQpn, [{ wrId: 3, sgList: [{ stag: c.serverMr.stag, offset: 0, length: 64 }] }])
    const wc = await c.cq.next()
    t.equal(wc.status, WcStatus.SUCCESS)
    const [rwc] = await rc.server.pollCq(c.remoteQpn, 'recv', { min: 1, waitMs: 5000 })
    t.equal(rwc!.byteLen, 5)
    t.same([...(await rc.server.read(c.serverMr.stag, 0, 5))], [1, 2, 3, 4, 5])
  })
})
