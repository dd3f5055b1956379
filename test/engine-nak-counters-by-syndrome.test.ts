import t from 'tap'
import { startEnginePair } from './helpers/engine-pair.ts'
import { connect, ALL_ACCESS } from './helpers/rdma-connect.ts'
import { Access, SendFlags, WcStatus, WrOpcode } from '../src/verbs/constants.ts'

// The responder counts its error NAKs by AETH syndrome (what the metrics
// endpoint exports as rdma_emu_naks_sent_total{syndrome}): a bad rkey is a
// remote access error (0x62), an atomic on a QP without REMOTE_ATOMIC an
// invalid request (0x61); errorNaksSent stays their sum.
t.test('engine - error NAKs are counted by syndrome', async (t) => {
  const rc = await startEnginePair(t)
  const responder = rc.b.device.counters
  const fail = async (o: Parameters<typeof connect>[1], post: (c: Awaited<ReturnType<typeof connect>>, sge: Array<{ addr: number; length: number; lkey: number }>) => void, status: number) => {
    const c = await connect(rc, o)
    const local = rc.local.device.regMr(c.pd, 4096, ALL_ACCESS)
    post(c, [{ addr: local.iova, length: 8, lkey: local.stag }])
    t.equal((await c.cq.next()).status, status)
  }
  const before = { ...responder }
  await fail({}, (c, sgList) => c.qp.postSend({ wrId: 1, opcode: WrOpcode.RDMA_WRITE, sgList, remoteAddr: c.serverMr.iova, rkey: (c.serverMr.stag ^ 0x5a) >>> 0, sendFlags: SendFlags.SIGNALED }), WcStatus.REM_ACCESS_ERR)
  t.equal(responder.remoteAccessNaksSent - before.remoteAccessNaksSent, 1, 'bad rkey: one remote access error NAK')
  t.equal(responder.invalidRequestNaksSent - before.invalidRequestNaksSent, 0, 'and no invalid request NAK')
  await fail({ listenAccess: Access.REMOTE_WRITE | Access.REMOTE_READ }, (c, sgList) => c.qp.postSend({ wrId: 2, opcode: WrOpcode.ATOMIC_FETCH_AND_ADD, sgList, remoteAddr: c.serverMr.iova, rkey: c.serverMr.stag, compareAdd: 1n, sendFlags: SendFlags.SIGNALED }), WcStatus.REM_INV_REQ_ERR)
  t.equal(responder.invalidRequestNaksSent - before.invalidRequestNaksSent, 1, 'atomic without REMOTE_ATOMIC on the QP: one invalid request NAK')
  t.equal(responder.remoteOperationalNaksSent - before.remoteOperationalNaksSent, 0, 'no remote operational error NAK')
  const bySyndrome = responder.invalidRequestNaksSent + responder.remoteAccessNaksSent + responder.remoteOperationalNaksSent
  t.equal(bySyndrome, responder.errorNaksSent, 'the per-syndrome counters add up to errorNaksSent')
})
