import t from 'tap'
import { startEnginePair, type Host } from './helpers/engine-pair.ts'
import {
  Access, AsyncEventType, Context, localInvWr, mapMrSg, QpState, regMrWr, SendFlags, WcFlags, WcOpcode, WcStatus, WrOpcode,
  type CQ, type PD, type QP, type SRQ,
} from '../src/index.ts'
import { CM_QP_ACCESS } from '../src/verbs/cm.ts'

// The library (src/index.ts) over an in-process pair: a program's view of
// SRQs with the limit event (test_srq.py), completion channels
// (test_cq_events.py), fast-register MRs with SEND_WITH_INV and LOCAL_INV
// (the nvme-rdma pattern), and type 2 windows (test_mw.py), each checked on
// both sides.
const S = SendFlags.SIGNALED
const RW = Access.LOCAL_WRITE | Access.REMOTE_WRITE | Access.REMOTE_READ

function up(me: QP, host: Host, peer: QP): void {
  me.modify({ qpState: QpState.INIT, pkeyIndex: 0, portNum: 1, qpAccessFlags: CM_QP_ACCESS })
  me.modify({ qpState: QpState.RTR, destNode: host.id, destQpNum: peer.qpNum, rqPsn: 0, pathMtu: 1024, maxDestRdAtomic: 4, minRnrTimer: 1 })
  me.modify({ qpState: QpState.RTS, sqPsn: 0, timeout: 14, retryCnt: 7, rnrRetry: 7, maxRdAtomic: 4 })
}

t.test('library - storage verbs end to end', async (t) => {
  const pair = await startEnginePair(t)
  const ctxA = new Context(pair.a.device, pair.a.id)
  const ctxB = new Context(pair.b.device, pair.b.id)
  const pdA = ctxA.allocPd()
  const pdB: PD = ctxB.allocPd()
  const cqA = ctxA.createCq(64)
  const channel = ctxB.createCompChannel()
  const cqB: CQ = ctxB.createCq(64, { channel })
  const srq: SRQ = pdB.createSrq({ maxWr: 8, srqLimit: 2 })
  const qpA = pdA.createQp({ sendCq: cqA })
  const qpB = pdB.createQp({ sendCq: cqB, srq })
  up(qpA, pair.b, qpB)
  up(qpB, pair.a, qpA)
  const mrA = pdA.regMr(1 << 16, RW)
  const mrB = pdB.regMr(1 << 16, RW | Access.MW_BIND)

  await t.test('SRQ receives, a solicited-only completion channel, the SRQ limit event', async (t) => {
    for (let i = 0; i < 3; i++) srq.postRecv({ wrId: i, sgList: [mrB.sge(i * 256, 256)] })
    for (let i = 0; i < 2; i++) {
      cqB.reqNotify(true)
      mrA.buffer.fill(0xa0 + i, 0, 100)
      qpA.postSend({ wrId: i, opcode: WrOpcode.SEND, sgList: [mrA.sge(0, 100)], sendFlags: S | SendFlags.SOLICITED })
      t.equal((await cqA.next()).status, WcStatus.SUCCESS, 'the sender completes')
      t.equal(await channel.getCqEvent(2000), cqB, 'the event names the library CQ')
      channel.ackCqEvents(cqB)
      const [wc] = cqB.poll(1)
      t.equal(wc!.status, WcStatus.SUCCESS)
      t.equal(wc!.wrId, i)
      t.equal(wc!.byteLen, 100)
      t.ok(mrB.buffer.subarray(i * 256, i * 256 + 100).every((x) => x === 0xa0 + i), 'data received into the SRQ buffer')
    }
    const ev = await ctxB.getAsyncEvent(1000)
    t.equal(ev.type, AsyncEventType.SRQ_LIMIT_REACHED, 'one WQE left, below the limit of 2')
    t.equal(ev.srqn, srq.srqn)
    t.equal(srq.query().srqLimit, 0)
    t.throws(() => qpB.postRecv({ wrId: 9 }), { code: 'ERR_EINVAL' })
  })

  await t.test('fast-register MR: REG_MR, READ by the peer, SEND_WITH_INV, refused after', async (t) => {
    const fr = pdB.allocMr(2)
    const backing = new Uint8Array(4096).fill(0x5c)
    t.equal(mapMrSg(fr, backing, 0x4000_0000), 1)
    const reg = regMrWr(fr, { access: RW, wrId: 50, sendFlags: S })
    qpB.postSend(reg)
    const wc = await cqB.next()
    t.equal(wc.status, WcStatus.SUCCESS)
    t.equal(wc.opcode, WcOpcode.REG_MR)
    t.equal(fr.rkey, reg.key, 'the MR took the new key')
    t.equal(fr.addr, 0x4000_0000)
    qpA.postSend({ wrId: 2, opcode: WrOpcode.RDMA_READ, sgList: [mrA.sge(0, 64)], remoteAddr: fr.addr, rkey: fr.rkey, sendFlags: S })
    t.equal((await cqA.next()).status, WcStatus.SUCCESS)
    t.ok(mrA.buffer.subarray(0, 64).every((x) => x === 0x5c), 'the READ returned the mapped pages')
    qpA.postSend({ wrId: 3, opcode: WrOpcode.SEND_WITH_INV, invalidateRkey: fr.rkey, sgList: [mrA.sge(0, 8)], sendFlags: S })
    t.equal((await cqA.next()).status, WcStatus.SUCCESS)
    const r = await cqB.next()
    t.equal(r.status, WcStatus.SUCCESS)
    t.equal(r.wrId, 2, 'the receive came from the SRQ')
    t.ok(r.wcFlags & WcFlags.WITH_INV)
    t.equal(r.invalidatedRkey, fr.rkey)
    // Registered again, then invalidated locally.
    mapMrSg(fr, backing, 0x4000_0000)
    const again = regMrWr(fr, { access: RW })
    qpB.postSend([again, localInvWr(again.key, { wrId: 51, sendFlags: S })])
    t.equal((await cqB.next()).status, WcStatus.SUCCESS, 'REG_MR then LOCAL_INV of its new key')
  })

  await t.test('type 2 window: bind, WRITE through it, LOCAL_INV', async (t) => {
    const mw = pdB.allocMw(2)
    const bind = mw.bindWr({ mr: mrB, addr: mrB.addr + 8192, length: 1024, access: Access.REMOTE_WRITE, wrId: 60, sendFlags: S })
    qpB.postSend(bind)
    const wc = await cqB.next()
    t.equal(wc.status, WcStatus.SUCCESS)
    t.equal(wc.opcode, WcOpcode.BIND_MW)
    t.equal(mw.rkey, bind.rkey)
    t.ok(mw.bound)
    mrA.buffer.fill(0x77, 0, 1024)
    qpA.postSend({ wrId: 4, opcode: WrOpcode.RDMA_WRITE, sgList: [mrA.sge(0, 1024)], remoteAddr: mrB.addr + 8192, rkey: mw.rkey, sendFlags: S })
    t.equal((await cqA.next()).status, WcStatus.SUCCESS)
    t.ok(mrB.buffer.subarray(8192, 9216).every((x) => x === 0x77), 'the data landed in the window')
    qpB.postSend(localInvWr(mw.rkey, { wrId: 61, sendFlags: S }))
    t.equal((await cqB.next()).status, WcStatus.SUCCESS)
    t.notOk(mw.bound)
    qpA.postSend({ wrId: 5, opcode: WrOpcode.RDMA_WRITE, sgList: [mrA.sge(0, 8)], remoteAddr: mrB.addr + 8192, rkey: mw.rkey, sendFlags: S })
    t.equal((await cqA.next()).status, WcStatus.REM_ACCESS_ERR, 'refused after invalidation')
    t.same(ctxA.pollAsyncEvents(), [], 'the requester program learns of it from the completion')
    const onB = await ctxB.getAsyncEvent(1000)
    t.equal(onB.type, AsyncEventType.QP_ACCESS_ERR, 'the responder program gets the access violation')
    t.equal(onB.qpn, qpB.qpNum)
    t.equal((await ctxB.getAsyncEvent(1000)).type, AsyncEventType.QP_LAST_WQE_REACHED, 'the SRQ QP reports its last WQE')
  })
})
