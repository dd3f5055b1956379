import t, { type Test } from 'tap'
import { startEnginePair } from './helpers/engine-pair.ts'
import { connect, ALL_ACCESS } from './helpers/rdma-connect.ts'
import { Access, QpState, SendFlags, WcStatus, WrOpcode } from '../src/verbs/constants.ts'
import { ErrorCodes } from '../src/errors.ts'

// The pyverbs-style error cases: the remote side refuses what the rkey, the
// MR's rights, the QP's rights or alignment do not allow, and the requester
// sees the matching completion status; API misuse is an EINVAL-coded error.
// (Moved from the multi-process rc-access-errors test: the "server" is the
// second host of an in-process pair, driven the same way, with RemoteVerbs
// over the control plane, and connected through the CM.)
const S = SendFlags.SIGNALED

t.test('engine - access and request errors', async (t) => {
  const rc = await startEnginePair(t)
  const dev = rc.local.device

  const fresh = async (o: Parameters<typeof connect>[1] = {}) => {
    const c = await connect(rc, o)
    const local = dev.regMr(c.pd, 4096, ALL_ACCESS)
    const sge = (len = 8) => [{ addr: local.iova, length: len, lkey: local.stag }]
    return { ...c, local, sge }
  }

  const expectStatus = async (t: Test, c: Awaited<ReturnType<typeof fresh>>, status: number) => {
    const wc = await c.cq.next()
    t.equal(wc.status, status)
    t.equal(c.qp.state, QpState.ERR, 'requester QP is in ERR')
    // Everything posted after the failure flushes.
    c.qp.postSend({ wrId: 99, opcode: WrOpcode.RDMA_WRITE, sgList: c.sge(), remoteAddr: c.serverMr.iova, rkey: c.serverMr.stag })
    const flushed = await c.cq.next()
    t.equal(flushed.status, WcStatus.WR_FLUSH_ERR)
    t.equal(flushed.wrId, 99)
  }

  await t.test('bad rkey gives REM_ACCESS_ERR', async (t) => {
    const c = await fresh()
    c.qp.postSend({ wrId: 1, opcode: WrOpcode.RDMA_WRITE, sgList: c.sge(), remoteAddr: c.serverMr.iova, rkey: (c.serverMr.stag ^ 0x5a) >>> 0, sendFlags: S })
    await expectStatus(t, c, WcStatus.REM_ACCESS_ERR)
    const q = await rc.server.queryQp(c.remoteQpn)
    t.equal(q.stateName, 'ERR', 'responder QP is in ERR too')
  })

  await t.test('out-of-bounds VA gives REM_ACCESS_ERR', async (t) => {
    const c = await fresh({ serverBytes: 4096 })
    c.qp.postSend({ wrId: 1, opcode: WrOpcode.RDMA_READ, sgList: c.sge(16), remoteAddr: c.serverMr.iova + 4090, rkey: c.serverMr.stag, sendFlags: S })
    await expectStatus(t, c, WcStatus.REM_ACCESS_ERR)
  })

  await t.test('MR without REMOTE_READ gives REM_ACCESS_ERR on READ', async (t) => {
    const c = await fresh({ serverAccess: Access.LOCAL_WRITE | Access.REMOTE_WRITE })
    c.qp.postSend({ wrId: 1, opcode: WrOpcode.RDMA_READ, sgList: c.sge(), remoteAddr: c.serverMr.iova, rkey: c.serverMr.stag, sendFlags: S })
    await expectStatus(t, c, WcStatus.REM_ACCESS_ERR)
  })

  await t.test('re-registration without REMOTE_WRITE makes the next WRITE fail', async (t) => {
    const c = await fresh()
    c.qp.postSend({ wrId: 1, opcode: WrOpcode.RDMA_WRITE, sgList: c.sge(), remoteAddr: c.serverMr.iova, rkey: c.serverMr.stag, sendFlags: S })
    t.equal((await c.cq.next()).status, WcStatus.SUCCESS, 'allowed before')
    await rc.server.reregMr(c.serverMr.stag, { access: Access.LOCAL_WRITE | Access.REMOTE_READ })
    c.qp.postSend({ wrId: 2, opcode: WrOpcode.RDMA_WRITE, sgList: c.sge(), remoteAddr: c.serverMr.iova, rkey: c.serverMr.stag, sendFlags: S })
    await expectStatus(t, c, WcStatus.REM_ACCESS_ERR)
  })

  await t.test('an MR of another PD is not reachable', async (t) => {
    const c = await fresh()
    const otherPd = await rc.server.allocPd()
    const other = await rc.server.regMr(otherPd, 4096, ALL_ACCESS)
    c.qp.postSend({ wrId: 1, opcode: WrOpcode.RDMA_WRITE, sgList: c.sge(), remoteAddr: other.iova, rkey: other.stag, sendFlags: S })
    await expectStatus(t, c, WcStatus.REM_ACCESS_ERR)
  })

  await t.test('a deregistered MR is not reachable', async (t) => {
    const c = await fresh()
    await rc.server.deregMr(c.serverMr.stag)
    c.qp.postSend({ wrId: 1, opcode: WrOpcode.RDMA_WRITE, sgList: c.sge(), remoteAddr: c.serverMr.iova, rkey: c.serverMr.stag, sendFlags: S })
    await expectStatus(t, c, WcStatus.REM_ACCESS_ERR)
  })

  await t.test('REMOTE_WRITE or REMOTE_ATOMIC without LOCAL_WRITE is refused at registration', async (t) => {
    const pd = dev.allocPd()
    t.throws(() => dev.regMr(pd, 64, Access.REMOTE_WRITE), { code: ErrorCodes.EINVAL })
    t.throws(() => dev.regMr(pd, 64, Access.REMOTE_ATOMIC | Access.REMOTE_READ), { code: ErrorCodes.EINVAL })
    t.throws(() => dev.regMr(pd, 64, 1 << 20), { code: ErrorCodes.EINVAL }, 'unknown flag bits')
    const spd = await rc.server.allocPd()
    await t.rejects(rc.server.regMr(spd, 64, Access.REMOTE_WRITE), { code: ErrorCodes.EINVAL }, 'the same over the control plane')
  })

  // The responder's own misaligned-atomic NAK (REM_INV_REQ_ERR) is tested with
  // raw packets in engine-responder-atomics.test.ts: librxe refuses this at post.
  await t.test('unaligned atomic is refused at post with EINVAL (librxe validate_send_wr)', async (t) => {
    const c = await fresh()
    for (const opcode of [WrOpcode.ATOMIC_FETCH_AND_ADD, WrOpcode.ATOMIC_CMP_AND_SWP]) {
      t.throws(() => c.qp.postSend({ wrId: 1, opcode, sgList: c.sge(), remoteAddr: c.serverMr.iova + 4, rkey: c.serverMr.stag, compareAdd: 1n, sendFlags: S }), { code: ErrorCodes.EINVAL })
    }
    t.equal(c.qp.state, QpState.RTS, 'nothing was posted; the QP is unharmed')
    c.qp.postSend({ wrId: 2, opcode: WrOpcode.ATOMIC_FETCH_AND_ADD, sgList: c.sge(), remoteAddr: c.serverMr.iova + 8, rkey: c.serverMr.stag, compareAdd: 1n, sendFlags: S })
    t.equal((await c.cq.next()).status, WcStatus.SUCCESS, 'an aligned one goes through')
  })

  await t.test('atomic with an invalid rkey gives REM_ACCESS_ERR', async (t) => {
    const c = await fresh()
    c.qp.postSend({ wrId: 1, opcode: WrOpcode.ATOMIC_CMP_AND_SWP, sgList: c.sge(), remoteAddr: c.serverMr.iova, rkey: 0x1234, compareAdd: 0n, swap: 1n, sendFlags: S })
    await expectStatus(t, c, WcStatus.REM_ACCESS_ERR)
  })

  await t.test('atomic on an MR without REMOTE_ATOMIC gives REM_ACCESS_ERR', async (t) => {
    const c = await fresh({ serverAccess: Access.LOCAL_WRITE | Access.REMOTE_WRITE | Access.REMOTE_READ })
    c.qp.postSend({ wrId: 1, opcode: WrOpcode.ATOMIC_FETCH_AND_ADD, sgList: c.sge(), remoteAddr: c.serverMr.iova, rkey: c.serverMr.stag, compareAdd: 1n, sendFlags: S })
    await expectStatus(t, c, WcStatus.REM_ACCESS_ERR)
  })

  await t.test('atomic on a QP without REMOTE_ATOMIC gives REM_INV_REQ_ERR', async (t) => {
    const c = await fresh({ listenAccess: Access.REMOTE_WRITE | Access.REMOTE_READ })
    c.qp.postSend({ wrId: 1, opcode: WrOpcode.ATOMIC_FETCH_AND_ADD, sgList: c.sge(), remoteAddr: c.serverMr.iova, rkey: c.serverMr.stag, compareAdd: 1n, sendFlags: S })
    await expectStatus(t, c, WcStatus.REM_INV_REQ_ERR)
  })

  await t.test('posting in RESET, INIT or RTR throws EINVAL', async (t) => {
    const pd = dev.allocPd()
    const cq = dev.createCq(16)
    const qp = dev.createQp({ pd, sendCq: cq })
    const wr = { wrId: 1, opcode: WrOpcode.SEND, sgList: [] }
    t.throws(() => qp.postSend(wr), { code: ErrorCodes.EINVAL }, 'RESET')
    t.throws(() => qp.postRecv({ wrId: 1 }), { code: ErrorCodes.EINVAL }, 'post_recv in RESET')
    qp.modify({ qpState: QpState.INIT, pkeyIndex: 0, portNum: 1, qpAccessFlags: 0 })
    t.throws(() => qp.postSend(wr), { code: ErrorCodes.EINVAL }, 'INIT')
    qp.modify({ qpState: QpState.RTR, destNode: rc.serverId, destQpNum: 1, rqPsn: 0, pathMtu: 4096, maxDestRdAtomic: 1, minRnrTimer: 12 })
    t.throws(() => qp.postSend(wr), { code: ErrorCodes.EINVAL }, 'RTR')
    t.throws(() => qp.modify({ qpState: QpState.SQD }), { code: ErrorCodes.EINVAL }, 'RTR -> SQD is not a legal transition')
    dev.destroyQp(qp)
  })

  await t.test('zero-length READ and WRITE succeed even with no MR behind them', async (t) => {
    const c = await fresh()
    c.qp.postSend([
      { wrId: 1, opcode: WrOpcode.RDMA_WRITE, sgList: [], remoteAddr: 0, rkey: 0, sendFlags: S },
      { wrId: 2, opcode: WrOpcode.RDMA_READ, sgList: [], remoteAddr: 0, rkey: 0, sendFlags: S },
    ])
    const wcs = await c.cq.take(2)
    t.same(wcs.map((w) => [w.wrId, w.status]), [[1, WcStatus.SUCCESS], [2, WcStatus.SUCCESS]])
  })
})

t.test('engine - SEND longer than the posted receive', async (t) => {
  const rc = await startEnginePair(t)
  const c = await connect(rc)
  const local = rc.local.device.regMr(c.pd, 4096, ALL_ACCESS)
  await rc.server.postRecv(c.remoteQpn, [{ wrId: 7, sgList: [{ stag: c.serverMr.stag, offset: 0, length: 16 }] }])
  c.qp.postSend({ wrId: 1, opcode: WrOpcode.SEND, sgList: [{ addr: local.iova, length: 100, lkey: local.stag }], sendFlags: S })
  t.equal((await c.cq.next()).status, WcStatus.REM_INV_REQ_ERR, 'the sender sees an invalid request')
  const [rwc] = await rc.server.pollCq(c.remoteQpn, 'recv', { min: 1, waitMs: 5000 })
  t.equal(rwc!.wrId, 7)
  t.equal(rwc!.status, WcStatus.LOC_LEN_ERR, 'the receive fails with a local length error')
})
