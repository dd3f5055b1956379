import t from 'tap'
import { ALL_ACCESS } from './helpers/rdma-cluster.ts'
import { allBytes, fileBlocks, keepWriting, makeFile, PAGE, policyRig, writesLand } from './helpers/policy.ts'
import { Access, WcStatus, WrOpcode } from '../src/verbs/constants.ts'

// Policy odp (seeds 003, 004): a file MR is an ODP MR even when ON_DEMAND was
// not asked for: no pin. A truncate under live WRITEs goes through at once;
// the MMU notifier invalidates the MR's pages first, so the next WRITE past
// the new EOF faults and fails with REM_ACCESS_ERR, and the freed blocks,
// reused by the next file, never see a byte of it. Inside EOF the MR works on.
t.test('policy odp - file MRs take no pins; truncate invalidates; WRITEs past EOF get REM_ACCESS_ERR; zero corruption', async (t) => {
  const rig = await policyRig(t, { policy: 'odp' })
  const { req, client } = rig
  await makeFile(rig, 'A.dat', 4, 0x11)
  const aBlocks = await fileBlocks(rig, 'A.dat')
  const base = await rig.stats()
  const mr = await client.regServerFile('server0', { pd: rig.pd, file: 'A.dat', offset: 0, length: 4 * PAGE, access: ALL_ACCESS })
  t.ok(mr.access & Access.ON_DEMAND, 'registered as an ODP MR (ON_DEMAND set)')
  t.equal((await req('mem.odpQuery', { stag: mr.stag })).resident, 0, 'nothing mapped at registration')
  const s0 = await rig.stats()
  t.same(s0.pins, base.pins, 'no pin taken')
  t.equal(s0.policy.odpForced, 1, 'counted as made ODP by the policy')

  const qpn = await rig.connect()
  const writing = keepWriting(rig, qpn, mr)
  await writesLand(rig)

  const t0 = Date.now()
  await req('fs.truncate', { name: 'A.dat', size: PAGE })
  t.ok(Date.now() - t0 < 2000, 'the truncate returns at once (no pin to wait for)')
  const r = await writing
  t.ok(r.errors >= 1, `the WRITE stream ended with an error after ${r.completed} completions`)
  t.equal(r.firstError, WcStatus.REM_ACCESS_ERR, 'a WRITE past the new EOF: REM_ACCESS_ERR')
  t.equal((await client.queryQp(qpn)).stateName, 'ERR', "the client's QP went to ERR")

  await makeFile(rig, 'B.dat', 3, 0xbb)
  t.same([...(await fileBlocks(rig, 'B.dat'))].sort(), [...aBlocks.slice(1)].sort(), "B got A's three freed blocks")

  // A new connection: inside EOF the MR works, past it the access fails, B never sees a byte.
  const qpn2 = await rig.connect()
  const inside = await client.workload(qpn2, 4000, { opcode: WrOpcode.RDMA_WRITE, count: 20, window: 4, size: 1000, span: 1000, remoteAddr: mr.iova + 8, rkey: mr.stag })
  t.same([inside.completed, inside.errors], [20, 0], 'WRITEs inside the new EOF succeed')
  t.ok(await allBytes(rig, 'A.dat', 8, 1000, 0), 'and land in A')
  const past = await client.workload(qpn2, 1000, { opcode: WrOpcode.RDMA_WRITE, count: 1, window: 1, size: 1000, remoteAddr: mr.iova + 2 * PAGE, rkey: mr.stag })
  t.same([past.errors, past.firstError], [1, WcStatus.REM_ACCESS_ERR], 'a WRITE into the block B has now: REM_ACCESS_ERR')

  const s = await rig.stats()
  t.equal(s.oracle.corruptBytes, 0, 'no byte landed outside A')
  t.same(s.oracle.victims, [], 'no victim')
  t.ok(await allBytes(rig, 'B.dat', 0, 3 * PAGE, 0xbb), 'B is intact')
  t.ok(s.odp.pagesInvalidated - base.odp.pagesInvalidated >= 3, 'the truncate invalidated the pages past EOF')
  t.ok(s.odp.faultErrors > base.odp.faultErrors, 'the faults past EOF are counted')
  t.same(s.pins, base.pins, 'no pin at any point')
  t.same([s.policy.layoutWaited, s.policy.layoutFailed, s.policy.blocksKept], [0, 0, 0])
  await client.deregServerMr('server0', mr.stag)
  t.equal((await rig.stats()).odp.mrs, 0)
})
