import t from 'tap'
import { Op } from '../src/engine/opcodes.ts'
import { SendFlags, WcStatus, WrOpcode } from '../src/verbs/constants.ts'
import { connectQps, faults, sent, startEnginePair, until } from './helpers/engine-pair.ts'

// max_rd_atomic as rxe: rxe_qp_from_attr rounds it up to a power of two and
// keeps 0 as 0; rxe_req.c's check_init_depth lets at most that many READs and
// atomics be outstanding, so with 0 none ever leaves and the send queue waits
// behind it.

const S = SendFlags.SIGNALED

t.test('rxe check_init_depth: max_rd_atomic 3 is rounded up to 4 READs in flight', async (t) => {
  const pair = await startEnginePair(t, { capture: true })
  const { a, b } = connectQps(pair, { rdAtomic: 3, timeout: 18 })
  t.same([a.qp.attr.maxRdAtomic, b.qp.attr.maxDestRdAtomic], [4, 4], 'both ends hold 4')
  faults(pair.b, { drop: 1, seed: 1 }) // the READ responses are lost for now
  for (let i = 0; i < 8; i++) a.qp.postSend({ wrId: i, opcode: WrOpcode.RDMA_READ, sgList: [{ addr: a.mr.iova + i * 8, length: 8, lkey: a.mr.stag }], remoteAddr: b.mr.iova + i * 8, rkey: b.mr.stag, sendFlags: S })
  await until('four READs sent', () => sent(pair.a).length >= 4)
  await new Promise((r) => setTimeout(r, 20))
  t.equal(sent(pair.a).filter((p) => p.opcode === Op.RDMA_READ_REQUEST).length, 4, 'four READ requests, no more')
  faults(pair.b, null)
  const wcs = await a.cq.take(8, 5000)
  t.same(wcs.map((w) => w.status), Array(8).fill(WcStatus.SUCCESS), 'all eight complete once responses come')
})

t.test('rxe check_init_depth: max_rd_atomic 0 lets no READ leave, and the send queue waits behind it', async (t) => {
  const pair = await startEnginePair(t, { capture: true })
  const { a, b } = connectQps(pair, { rdAtomic: 0 })
  t.equal(a.qp.attr.maxRdAtomic, 0, '0 stays 0')
  a.qp.postSend({ wrId: 1, opcode: WrOpcode.RDMA_READ, sgList: [{ addr: a.mr.iova, length: 8, lkey: a.mr.stag }], remoteAddr: b.mr.iova, rkey: b.mr.stag, sendFlags: S })
  a.qp.postSend({ wrId: 2, opcode: WrOpcode.RDMA_WRITE, sgList: [{ addr: a.mr.iova, length: 8, lkey: a.mr.stag }], remoteAddr: b.mr.iova + 64, rkey: b.mr.stag, sendFlags: S })
  await new Promise((r) => setTimeout(r, 30))
  t.equal(sent(pair.a).length, 0, 'nothing was sent')
  t.equal(a.cq.count, 0, 'nothing completed')
  t.equal(a.qp.sq.length, 2, 'both WRs wait in the send queue')
})
