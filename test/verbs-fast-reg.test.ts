import t, { type Test } from 'tap'
import { firstSent, startEnginePair, type EnginePair } from './helpers/engine-pair.ts'
import { Op } from '../src/engine/opcodes.ts'
import { qpPair, sge, type Side } from './helpers/verbs-pair.ts'
import { pattern } from './helpers/rdma-connect.ts'
import { Access, QpState, SendFlags, WcOpcode, WcStatus, WrOpcode } from '../src/verbs/constants.ts'
import { WcFlags } from '../src/verbs/cq.ts'
import { MrCheck, type Mr } from '../src/memory/stag.ts'
import { ErrorCodes } from '../src/errors.ts'

// Fast-register MRs, LOCAL_INV and SEND_WITH_INV as storage targets use them
// (nvme-rdma / iSER: ib_alloc_mr, ib_map_mr_sg, IB_WR_REG_MR, then the
// initiator's SEND_WITH_INV or the target's LOCAL_INV), checked as rdma-core's
// tests/test_mr.py checks remote access (data and statuses on both sides), and
// following rxe_mr.c rxe_reg_fast_mr / rxe_invalidate_mr and rxe_resp.c
// do_complete (IETH, IB_WC_WITH_INVALIDATE).
const S = SendFlags.SIGNALED
const RW = Access.LOCAL_WRITE | Access.REMOTE_WRITE | Access.REMOTE_READ

/** b allocates a fast-reg MR of 4 pages over 8 KiB of its memory and registers it with key byte `key` by a REG_MR WR. */
async function fastReg(t: Test, pair: EnginePair, p: { b: Side }, key: number, backing = new Uint8Array(8192)): Promise<{ mr: Mr; backing: Uint8Array }> {
  const mr = pair.b.device.allocMr(p.b.pd, 4)
  t.equal(pair.b.device.mapMrSg(mr, backing, 0x7000_0000), 2, '8 KiB at a page boundary span 2 pages')
  p.b.qp.postSend({ wrId: 0x1e6, opcode: WrOpcode.REG_MR, reg: { mr, key: ((mr.stag & ~0xff) | key) >>> 0, access: RW }, sendFlags: S })
  const wc = await p.b.cq.next()
  t.equal(wc.status, WcStatus.SUCCESS, 'REG_MR completes')
  t.equal(wc.opcode, WcOpcode.REG_MR)
  t.equal(mr.stag & 0xff, key, 'the REG_MR set the key byte')
  return { mr, backing }
}

t.test('fast-reg - REG_MR makes the MR usable, SEND_WITH_INV invalidates it remotely', async (t) => {
  const pair = await startEnginePair(t)
  const p = qpPair(pair)
  const mr = pair.b.device.allocMr(p.b.pd, 4)
  // Before REG_MR the rkey resolves to nothing valid: it is FREE.
  t.not(pair.b.device.mrs.lookup(mr.stag, p.b.pd, Access.REMOTE_WRITE, 0, 1).status, MrCheck.OK, 'FREE, no access: the rkey does not resolve')
  const { mr: fr, backing } = await fastReg(t, pair, p, 0x42)
  t.equal(fr.iova, 0x7000_0000)
  t.equal(fr.length, 8192)
  const data = pattern(4096, 5)
  p.a.buf.set(data)
  p.a.qp.postSend({ wrId: 1, opcode: WrOpcode.RDMA_WRITE, sgList: [sge(p.a, 0, 4096)], remoteAddr: fr.iova + 4096, rkey: fr.stag, sendFlags: S })
  t.equal((await p.a.cq.next()).status, WcStatus.SUCCESS, 'WRITE through the new rkey')
  t.same(backing.subarray(4096), data, 'the data landed in the mapped pages')
  p.a.qp.postSend({ wrId: 2, opcode: WrOpcode.RDMA_READ, sgList: [sge(p.a, 8192, 4096)], remoteAddr: fr.iova + 4096, rkey: fr.stag, sendFlags: S })
  t.equal((await p.a.cq.next()).status, WcStatus.SUCCESS, 'READ through the new rkey')
  t.same(p.a.buf.subarray(8192, 8192 + 4096), data)

  // The initiator answers with SEND_WITH_INV of that rkey (nvme-rdma's remote invalidation).
  p.b.qp.postRecv({ wrId: 77, sgList: [sge(p.b, 0, 64)] })
  p.a.buf.set([9, 8, 7], 0)
  p.a.qp.postSend({ wrId: 3, opcode: WrOpcode.SEND_WITH_INV, invalidateRkey: fr.stag, sgList: [sge(p.a, 0, 3)], sendFlags: S })
  const s = await p.a.cq.next()
  t.equal(s.status, WcStatus.SUCCESS)
  t.equal(s.opcode, WcOpcode.SEND)
  const r = await p.b.cq.next()
  t.equal(r.status, WcStatus.SUCCESS)
  t.equal(r.wrId, 77)
  t.equal(r.byteLen, 3)
  t.ok(r.wcFlags & WcFlags.WITH_INV, 'the receive WC has IBV_WC_WITH_INV')
  t.equal(r.invalidatedRkey, fr.stag, '... and the invalidated rkey')
  t.same([...p.b.buf.subarray(0, 3)], [9, 8, 7])

  // An invalidated rkey refuses access.
  p.a.qp.postSend({ wrId: 4, opcode: WrOpcode.RDMA_WRITE, sgList: [sge(p.a, 0, 8)], remoteAddr: fr.iova, rkey: fr.stag, sendFlags: S })
  t.equal((await p.a.cq.next()).status, WcStatus.REM_ACCESS_ERR, 'access after remote invalidation: REM_ACCESS_ERR')
  t.equal(p.b.qp.state, QpState.ERR, 'the responder QP is in ERR')
})

t.test('fast-reg - LOCAL_INV, then re-registration with a new key byte', async (t) => {
  const pair = await startEnginePair(t)
  const p = qpPair(pair)
  const { mr } = await fastReg(t, pair, p, 0x10)
  const old = mr.stag
  p.b.qp.postSend({ wrId: 5, opcode: WrOpcode.LOCAL_INV, invalidateRkey: mr.stag, sendFlags: S })
  const inv = await p.b.cq.next()
  t.equal(inv.status, WcStatus.SUCCESS)
  t.equal(inv.opcode, WcOpcode.LOCAL_INV)
  const again = new Uint8Array(8192)
  pair.b.device.mapMrSg(mr, again, 0x7000_0000)
  p.b.qp.postSend({ wrId: 6, opcode: WrOpcode.REG_MR, reg: { mr, key: ((mr.stag & ~0xff) | 0x11) >>> 0, access: RW }, sendFlags: S })
  t.equal((await p.b.cq.next()).status, WcStatus.SUCCESS)
  p.a.buf.set([1, 2, 3, 4])
  p.a.qp.postSend({ wrId: 7, opcode: WrOpcode.RDMA_WRITE, sgList: [sge(p.a, 0, 4)], remoteAddr: 0x7000_0000, rkey: mr.stag, sendFlags: S })
  t.equal((await p.a.cq.next()).status, WcStatus.SUCCESS, 'the new key works')
  t.same([...again.subarray(0, 4)], [1, 2, 3, 4])
  p.a.qp.postSend({ wrId: 8, opcode: WrOpcode.RDMA_WRITE, sgList: [sge(p.a, 0, 4)], remoteAddr: 0x7000_0000, rkey: old, sendFlags: S })
  t.equal((await p.a.cq.next()).status, WcStatus.REM_ACCESS_ERR, 'the old key byte is refused')
})

t.test('fast-reg - refused local operations complete with LOC_QP_OP_ERR and end the QP', async (t) => {
  const pair = await startEnginePair(t)
  const cases: Array<[string, (p: { a: Side; b: Side }, mr: Mr) => void]> = [
    ['REG_MR of an MR that is not FREE', (p, mr) => p.b.qp.postSend({ wrId: 1, opcode: WrOpcode.REG_MR, reg: { mr, key: mr.stag, access: RW }, sendFlags: S })],
    ['REG_MR changing the index bits', (p, mr) => p.b.qp.postSend({ wrId: 1, opcode: WrOpcode.REG_MR, reg: { mr: pair.b.device.allocMr(p.b.pd, 1), key: mr.stag, access: RW }, sendFlags: S })],
    ['LOCAL_INV of an ordinary MR', (p) => p.b.qp.postSend({ wrId: 1, opcode: WrOpcode.LOCAL_INV, invalidateRkey: p.b.mr.stag, sendFlags: S })],
    ['LOCAL_INV of an unknown key', (p, mr) => p.b.qp.postSend({ wrId: 1, opcode: WrOpcode.LOCAL_INV, invalidateRkey: (mr.stag ^ 0x80) >>> 0, sendFlags: S })],
  ]
  for (const [name, post] of cases) {
    const p = qpPair(pair)
    const { mr } = await fastReg(t, pair, p, 0x20)
    post(p, mr)
    const wc = await p.b.cq.next()
    t.equal(wc.status, WcStatus.LOC_QP_OP_ERR, name)
    t.equal(p.b.qp.state, QpState.ERR, `${name}: the QP is in ERR`)
  }
  const p = qpPair(pair)
  t.throws(() => pair.b.device.mapMrSg(pair.b.device.allocMr(p.b.pd, 1), new Uint8Array(8192), 0), { code: ErrorCodes.EINVAL }, 'more pages than allocMr allowed')
  t.throws(() => pair.b.device.mapMrSg(p.b.mr, new Uint8Array(16), 0), { code: ErrorCodes.EINVAL }, 'map_mr_sg of an ordinary MR')
  t.throws(() => p.b.qp.postSend({ wrId: 1, opcode: WrOpcode.LOCAL_INV, sendFlags: S }), { code: ErrorCodes.EINVAL }, 'LOCAL_INV needs invalidateRkey')
})

t.test('SEND_WITH_INV of an rkey the responder cannot invalidate: REM_INV_REQ_ERR on both sides', async (t) => {
  const pair = await startEnginePair(t)
  const p = qpPair(pair)
  p.b.qp.postRecv({ wrId: 5, sgList: [sge(p.b, 0, 64)] })
  p.a.qp.postSend({ wrId: 6, opcode: WrOpcode.SEND_WITH_INV, invalidateRkey: p.b.mr.stag, sgList: [sge(p.a, 0, 8)], sendFlags: S })
  t.equal((await p.a.cq.next()).status, WcStatus.REM_INV_REQ_ERR, 'the sender: REM_INV_REQ_ERR (NAK invalid request)')
  const r = await p.b.cq.next()
  t.equal(r.wrId, 5)
  t.equal(r.status, WcStatus.REM_INV_REQ_ERR, 'the receive: REM_INV_REQ_ERR (rxe RESPST_ERR_INVALIDATE_RKEY)')
  t.equal(p.b.qp.state, QpState.ERR)
  t.ok(pair.b.device.mrs.byStag(p.b.mr.stag), 'the ordinary MR stays registered and valid')
})

t.test('fast-reg - local operations complete in order behind outstanding requests', async (t) => {
  const pair = await startEnginePair(t)
  const p = qpPair(pair)
  // b's requester: a READ (a response to wait for), then REG_MR, then LOCAL_INV, then a WRITE.
  const mr = pair.b.device.allocMr(p.b.pd, 1)
  pair.b.device.mapMrSg(mr, new Uint8Array(64), 0x9000_0000)
  p.a.buf.set([4, 3, 2, 1])
  const key = ((mr.stag & ~0xff) | 0x33) >>> 0
  p.b.qp.postSend([
    { wrId: 1, opcode: WrOpcode.RDMA_READ, sgList: [sge(p.b, 0, 4)], remoteAddr: p.a.mr.iova, rkey: p.a.mr.stag, sendFlags: S },
    { wrId: 2, opcode: WrOpcode.REG_MR, reg: { mr, key, access: RW }, sendFlags: S },
    { wrId: 3, opcode: WrOpcode.LOCAL_INV, invalidateRkey: key, sendFlags: S | SendFlags.FENCE },
    { wrId: 4, opcode: WrOpcode.RDMA_WRITE, sgList: [sge(p.b, 0, 4)], remoteAddr: p.a.mr.iova + 64, rkey: p.a.mr.stag, sendFlags: S },
  ])
  const wcs = await p.b.cq.take(4)
  t.same(wcs.map((w) => w.wrId), [1, 2, 3, 4], 'completions in posting order')
  t.same(wcs.map((w) => w.status), Array(4).fill(WcStatus.SUCCESS))
  t.same(wcs.map((w) => w.opcode), [WcOpcode.RDMA_READ, WcOpcode.REG_MR, WcOpcode.LOCAL_INV, WcOpcode.RDMA_WRITE])
  t.same([...p.a.buf.subarray(64, 68)], [4, 3, 2, 1], 'the READ data went out again by the WRITE')
  // Unsignaled local operations complete silently, and a later signaled WR still completes.
  pair.b.device.mapMrSg(mr, new Uint8Array(64), 0x9000_0000)
  p.b.qp.postSend([
    { wrId: 5, opcode: WrOpcode.REG_MR, reg: { mr, key, access: RW } },
    { wrId: 6, opcode: WrOpcode.RDMA_WRITE, sgList: [sge(p.b, 0, 4)], remoteAddr: p.a.mr.iova, rkey: p.a.mr.stag, sendFlags: S },
  ])
  const [w] = await p.b.cq.take(1)
  t.equal(w!.wrId, 6)
  t.equal(p.b.cq.poll(4).length, 0)
})

t.test('SEND_WITH_INV over several packets: the IETH rides on SEND_LAST_WITH_INVALIDATE', async (t) => {
  const pair = await startEnginePair(t, { capture: true })
  const p = qpPair(pair)
  const { mr } = await fastReg(t, pair, p, 0x44)
  p.b.qp.postRecv({ wrId: 8, sgList: [sge(p.b, 0, 4096)] })
  const data = pattern(3000, 11)
  p.a.buf.set(data)
  p.a.qp.postSend({ wrId: 9, opcode: WrOpcode.SEND_WITH_INV, invalidateRkey: mr.stag, sgList: [sge(p.a, 0, 3000)], sendFlags: S })
  t.equal((await p.a.cq.next()).status, WcStatus.SUCCESS)
  const r = await p.b.cq.next()
  t.equal(r.status, WcStatus.SUCCESS)
  t.equal(r.byteLen, 3000)
  t.equal(r.invalidatedRkey, mr.stag)
  t.same(p.b.buf.subarray(0, 3000), data)
  const ops = firstSent(pair.a).filter((x) => x.opcode <= Op.SEND_ONLY_WITH_INVALIDATE && x.opcode !== Op.ACKNOWLEDGE)
  t.same(ops.map((x) => x.opcode), [Op.SEND_FIRST, Op.SEND_MIDDLE, Op.SEND_LAST_WITH_INVALIDATE])
  t.same(ops.map((x) => x.ieth), [undefined, undefined, mr.stag], 'the IETH carries the rkey on the last packet only')
})
