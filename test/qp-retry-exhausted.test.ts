import t from 'tap'
import { startRdmaCluster, connect, ALL_ACCESS } from './helpers/rdma-cluster.ts'
import { QpState, SendFlags, WcStatus, WrOpcode } from '../src/verbs/constants.ts'

// The peer stops answering (its process is stopped with SIGSTOP): the
// requester retransmits retry_cnt times on its ACK timer, then fails the WQE
// with RETRY_EXC_ERR, moves the QP to ERR and flushes the rest.
t.test('qp - retry exhausted when the peer stops answering', async (t) => {
  const rc = await startRdmaCluster(t)
  // timeout 10: 4.096 us * 2^10 = 4.2 ms per try, retry_cnt 3.
  const c = await connect(rc, { connect: { timeout: 10, retryCnt: 3 } })
  const local = rc.local.device.regMr(c.pd, 4096, ALL_ACCESS)
  const pid = rc.cluster.node('server0').pid
  process.kill(pid, 'SIGSTOP')
  t.teardown(() => {
    try {
      process.kill(pid, 'SIGCONT')
    } catch {
      // already gone
    }
  })
  const before = rc.local.device.counters.timeoutRetries
  const wr = (wrId: number) => ({ wrId, opcode: WrOpcode.RDMA_WRITE, sgList: [{ addr: local.iova, length: 100, lkey: local.stag }], remoteAddr: c.serverMr.iova, rkey: c.serverMr.stag })
  c.qp.postSend([{ ...wr(1), sendFlags: SendFlags.SIGNALED }, wr(2), wr(3)])
  const wcs = await c.cq.take(3)
  process.kill(pid, 'SIGCONT')
  t.same(wcs.map((w) => w.wrId), [1, 2, 3], 'completions in order, unsignaled ones included')
  t.equal(wcs[0]!.status, WcStatus.RETRY_EXC_ERR)
  t.equal(wcs[1]!.status, WcStatus.WR_FLUSH_ERR)
  t.equal(wcs[2]!.status, WcStatus.WR_FLUSH_ERR)
  t.equal(rc.local.device.counters.timeoutRetries - before, 3, 'retry_cnt retransmissions')
  t.equal(c.qp.state, QpState.ERR)
})
