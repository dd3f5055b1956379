import t, { type Test } from 'tap'
import { startEnginePair, type EnginePair } from './helpers/engine-pair.ts'
import { qpPair, sge, type Side } from './helpers/verbs-pair.ts'
import { pattern } from './helpers/rdma-connect.ts'
import { Access, QpState, SendFlags, WcOpcode, WcStatus, WrOpcode } from '../src/verbs/constants.ts'
import { WcFlags } from '../src/verbs/cq.ts'
import { MwState, type Mw } from '../src/verbs/mw.ts'
import { ErrorCodes } from '../src/errors.ts'

// Modelled on rdma-core's tests/test_mw.py (type 2 windows bound with a
// BIND_MW WR, RDMA traffic through the window's rkey, binds refused without
// IBV_ACCESS_MW_BIND, invalidation by LOCAL_INV and by the peer's
// SEND_WITH_INV) and on rxe_mw.c rxe_check_bind_mw / rxe_invalidate_mw and
// rxe_resp.c check_rkey.
const S = SendFlags.SIGNALED
const ALL_BIND = Access.LOCAL_WRITE | Access.REMOTE_WRITE | Access.REMOTE_READ | Access.REMOTE_ATOMIC | Access.MW_BIND
const WIN = 4096

/** A pair whose b MR allows MW_BIND, and a type 2 window bound by b over [4096, 8192) of it. */
async function bound(t: Test, pair: EnginePair, access = Access.REMOTE_WRITE | Access.REMOTE_READ): Promise<{ a: Side; b: Side; mw: Mw }> {
  const p = qpPair(pair, { b: { mrAccess: ALL_BIND } })
  const mw = pair.b.device.allocMw(p.b.pd, 2)
  t.equal(mw.state, MwState.FREE, 'a type 2 window starts unbound')
  const rkey = ((mw.rkey & ~0xff) | ((mw.rkey + 1) & 0xff)) >>> 0
  p.b.qp.postSend({ wrId: 0xb1, opcode: WrOpcode.BIND_MW, bindMw: { mw, rkey, mr: p.b.mr, addr: p.b.mr.iova + WIN, length: WIN, access }, sendFlags: S })
  const wc = await p.b.cq.next()
  t.equal(wc.status, WcStatus.SUCCESS, 'BIND_MW completes')
  t.equal(wc.opcode, WcOpcode.BIND_MW)
  t.equal(mw.rkey, rkey, 'the bind set the new key byte')
  return { ...p, mw }
}

t.test('MW type 2 - traffic through the bound window (test_mw.py type 2 bind + RDMA)', async (t) => {
  const pair = await startEnginePair(t)
  const { a, b, mw } = await bound(t, pair)
  const data = pattern(WIN, 9)
  a.buf.set(data)
  a.qp.postSend({ wrId: 1, opcode: WrOpcode.RDMA_WRITE, sgList: [sge(a, 0, WIN)], remoteAddr: b.mr.iova + WIN, rkey: mw.rkey, sendFlags: S })
  t.equal((await a.cq.next()).status, WcStatus.SUCCESS, 'WRITE of the whole window')
  t.same(b.buf.subarray(WIN, 2 * WIN), data, 'the data landed in the window')
  t.ok(b.buf.subarray(0, WIN).every((x) => x === 0), 'nothing outside it')
  a.qp.postSend({ wrId: 2, opcode: WrOpcode.RDMA_READ, sgList: [sge(a, WIN, 100)], remoteAddr: b.mr.iova + WIN + 50, rkey: mw.rkey, sendFlags: S })
  t.equal((await a.cq.next()).status, WcStatus.SUCCESS, 'READ inside the window')
  t.same(a.buf.subarray(WIN, WIN + 100), data.subarray(50, 150))
})

t.test('MW type 2 - the window limits range, rights and QP', async (t) => {
  const pair = await startEnginePair(t)
  const refused = async (name: string, post: (p: { a: Side; b: Side; mw: Mw }) => void, access?: number): Promise<void> => {
    const p = await bound(t, pair, access)
    post(p)
    t.equal((await p.a.cq.next()).status, WcStatus.REM_ACCESS_ERR, name)
    t.equal(p.b.qp.state, QpState.ERR, `${name}: the responder QP is in ERR`)
  }
  await refused('below the window (inside the MR)', ({ a, b, mw }) => a.qp.postSend({ wrId: 1, opcode: WrOpcode.RDMA_WRITE, sgList: [sge(a, 0, 8)], remoteAddr: b.mr.iova, rkey: mw.rkey, sendFlags: S }))
  await refused('across its end', ({ a, b, mw }) => a.qp.postSend({ wrId: 1, opcode: WrOpcode.RDMA_READ, sgList: [sge(a, 0, 16)], remoteAddr: b.mr.iova + 2 * WIN - 8, rkey: mw.rkey, sendFlags: S }))
  await refused('WRITE through a read-only window', ({ a, b, mw }) => a.qp.postSend({ wrId: 1, opcode: WrOpcode.RDMA_WRITE, sgList: [sge(a, 0, 8)], remoteAddr: b.mr.iova + WIN, rkey: mw.rkey, sendFlags: S }), Access.REMOTE_READ)
  await refused('atomic without REMOTE_ATOMIC on the window', ({ a, b, mw }) => a.qp.postSend({ wrId: 1, opcode: WrOpcode.ATOMIC_FETCH_AND_ADD, sgList: [sge(a, 0, 8)], remoteAddr: b.mr.iova + WIN, rkey: mw.rkey, compareAdd: 1n, sendFlags: S }))
  await refused('the old key byte', ({ a, b, mw }) => a.qp.postSend({ wrId: 1, opcode: WrOpcode.RDMA_WRITE, sgList: [sge(a, 0, 8)], remoteAddr: b.mr.iova + WIN, rkey: (mw.rkey & ~0xff) | ((mw.rkey - 1) & 0xff), sendFlags: S }))
  // A type 2 window serves only the QP that bound it (rxe_lookup_mw: mw->qp != qp).
  const p = await bound(t, pair)
  const other = qpPair(pair, { b: { pd: p.b.pd, mr: p.b.mr } })
  other.a.qp.postSend({ wrId: 1, opcode: WrOpcode.RDMA_WRITE, sgList: [sge(other.a, 0, 8)], remoteAddr: p.b.mr.iova + WIN, rkey: p.mw.rkey, sendFlags: S })
  t.equal((await other.a.cq.next()).status, WcStatus.REM_ACCESS_ERR, 'another QP of the same PD is refused')
  t.throws(() => pair.b.device.deregMr(p.b.mr), { code: ErrorCodes.EBUSY }, 'an MR with a bound window cannot be deregistered')
})

t.test('MW type 2 - binds are refused without MW_BIND, twice, or outside the MR (MW_BIND_ERR)', async (t) => {
  const pair = await startEnginePair(t)
  const bad = async (name: string, mrAccess: number, info: (b: Side, mw: Mw) => { addr: number; length: number; access: number }): Promise<void> => {
    const p = qpPair(pair, { b: { mrAccess } })
    const mw = pair.b.device.allocMw(p.b.pd)
    p.b.qp.postSend({ wrId: 1, opcode: WrOpcode.BIND_MW, bindMw: { mw, rkey: mw.rkey, mr: p.b.mr, ...info(p.b, mw) }, sendFlags: S })
    const wc = await p.b.cq.next()
    t.equal(wc.status, WcStatus.MW_BIND_ERR, name)
    t.equal(wc.opcode, WcOpcode.BIND_MW)
    t.equal(p.b.qp.state, QpState.ERR, `${name}: the QP is in ERR`)
    t.equal(mw.state, MwState.FREE, `${name}: the window stays unbound`)
  }
  await bad('MR without IBV_ACCESS_MW_BIND', Access.LOCAL_WRITE | Access.REMOTE_WRITE, (b) => ({ addr: b.mr.iova, length: 64, access: Access.REMOTE_READ }))
  await bad('range outside the MR', ALL_BIND, (b) => ({ addr: b.mr.iova + b.mr.length - 8, length: 64, access: Access.REMOTE_READ }))
  await bad('remote write over an MR without LOCAL_WRITE', Access.REMOTE_READ | Access.MW_BIND, (b) => ({ addr: b.mr.iova, length: 64, access: Access.REMOTE_WRITE }))
  const p = await bound(t, pair)
  p.b.qp.postSend({ wrId: 2, opcode: WrOpcode.BIND_MW, bindMw: { mw: p.mw, rkey: p.mw.rkey, mr: p.b.mr, addr: p.b.mr.iova, length: 64, access: Access.REMOTE_READ }, sendFlags: S })
  t.equal((await p.b.cq.next()).status, WcStatus.MW_BIND_ERR, 'a bound type 2 window cannot be bound again')
})

t.test('MW type 2 - invalidated by LOCAL_INV and by SEND_WITH_INV', async (t) => {
  const pair = await startEnginePair(t)
  const local = await bound(t, pair)
  local.b.qp.postSend({ wrId: 3, opcode: WrOpcode.LOCAL_INV, invalidateRkey: local.mw.rkey, sendFlags: S })
  const inv = await local.b.cq.next()
  t.equal(inv.status, WcStatus.SUCCESS, 'LOCAL_INV of the window rkey')
  t.equal(inv.opcode, WcOpcode.LOCAL_INV)
  t.equal(local.mw.state, MwState.FREE)
  local.a.qp.postSend({ wrId: 1, opcode: WrOpcode.RDMA_READ, sgList: [sge(local.a, 0, 8)], remoteAddr: local.b.mr.iova + WIN, rkey: local.mw.rkey, sendFlags: S })
  t.equal((await local.a.cq.next()).status, WcStatus.REM_ACCESS_ERR, 'access after LOCAL_INV: REM_ACCESS_ERR')
  pair.b.device.deregMr(local.b.mr)
  t.pass('the MR deregisters once its window is invalidated')

  const remote = await bound(t, pair)
  remote.b.qp.postRecv({ wrId: 9, sgList: [sge(remote.b, 0, 64)] })
  remote.a.buf.set([5, 6])
  remote.a.qp.postSend({ wrId: 4, opcode: WrOpcode.SEND_WITH_INV, invalidateRkey: remote.mw.rkey, sgList: [sge(remote.a, 0, 2)], sendFlags: S })
  t.equal((await remote.a.cq.next()).status, WcStatus.SUCCESS)
  const r = await remote.b.cq.next()
  t.equal(r.status, WcStatus.SUCCESS)
  t.ok(r.wcFlags & WcFlags.WITH_INV, 'IBV_WC_WITH_INV')
  t.equal(r.invalidatedRkey, remote.mw.rkey)
  t.same([...remote.b.buf.subarray(0, 2)], [5, 6])
  t.equal(remote.mw.state, MwState.FREE, 'the window is unbound')
  remote.a.qp.postSend({ wrId: 5, opcode: WrOpcode.RDMA_WRITE, sgList: [sge(remote.a, 0, 8)], remoteAddr: remote.b.mr.iova + WIN, rkey: remote.mw.rkey, sendFlags: S })
  t.equal((await remote.a.cq.next()).status, WcStatus.REM_ACCESS_ERR, 'access after SEND_WITH_INV: REM_ACCESS_ERR')
  t.throws(() => pair.b.device.deallocPd(remote.b.pd), { code: ErrorCodes.EBUSY }, 'a PD with objects cannot be deallocated')
  pair.b.device.deallocMw(remote.mw)
  t.throws(() => pair.b.device.deallocMw(remote.mw), { code: ErrorCodes.EINVAL }, 'dealloc twice')
})

t.test('MW type 1 - bound by the WR ibv_bind_mw posts, usable by any QP of the PD, not invalidated', async (t) => {
  const pair = await startEnginePair(t)
  const p = qpPair(pair, { b: { mrAccess: ALL_BIND } })
  const mw = pair.b.device.allocMw(p.b.pd, 1)
  t.equal(mw.state, MwState.VALID, 'a type 1 window starts valid, with no range')
  p.b.qp.postSend({ wrId: 1, opcode: WrOpcode.BIND_MW, bindMw: { mw, rkey: mw.rkey, mr: p.b.mr, addr: p.b.mr.iova, length: 512, access: Access.REMOTE_READ }, sendFlags: S })
  t.equal((await p.b.cq.next()).status, WcStatus.SUCCESS)
  p.b.buf.fill(0x3c, 0, 512)
  const other = qpPair(pair, { b: { pd: p.b.pd, mr: p.b.mr } })
  other.a.qp.postSend({ wrId: 2, opcode: WrOpcode.RDMA_READ, sgList: [sge(other.a, 0, 512)], remoteAddr: p.b.mr.iova, rkey: mw.rkey, sendFlags: S })
  t.equal((await other.a.cq.next()).status, WcStatus.SUCCESS, 'another QP of the PD reads through a type 1 window')
  t.ok(other.a.buf.subarray(0, 512).every((x) => x === 0x3c))
  p.b.qp.postSend({ wrId: 3, opcode: WrOpcode.LOCAL_INV, invalidateRkey: mw.rkey, sendFlags: S })
  t.equal((await p.b.cq.next()).status, WcStatus.LOC_QP_OP_ERR, 'LOCAL_INV of a type 1 window is refused (rxe_check_invalidate_mw)')
})
