import t from 'tap'
import { ALL_ACCESS } from './helpers/rdma-cluster.ts'
import { allBytes, fileBlocks, keepWriting, makeFile, PAGE, policyRig, writesLand } from './helpers/policy.ts'
import { ErrorCodes } from '../src/errors.ts'

// Policy deny (seed 000, option 3): long-term pins are allowed, and the
// filesystem does nothing to a pinned range while the pin lasts: truncate and
// punch-hole over it fail with ETXTBSY. The client keeps WRITING, the next
// file gets other blocks, nothing is corrupted. Once the MR is deregistered
// the truncate goes through.
t.test('policy deny - truncate and punch over a pinned MR fail with ETXTBSY; zero corruption', async (t) => {
  const rig = await policyRig(t, { policy: 'deny' })
  const { req, client } = rig
  await makeFile(rig, 'A.dat', 4, 0x11)
  const aBlocks = await fileBlocks(rig, 'A.dat')
  const mr = await client.regServerFile('server0', { pd: rig.pd, file: 'A.dat', offset: 0, length: 4 * PAGE, access: ALL_ACCESS })
  t.same((await req('mem.pinCounts', { file: 'A.dat' })).pins, [1, 1, 1, 1], 'registration pinned every page')

  const qpn = await rig.connect()
  const writing = keepWriting(rig, qpn, mr)
  await writesLand(rig)

  await t.rejects(req('fs.truncate', { name: 'A.dat', size: PAGE }), { code: ErrorCodes.ETXTBSY }, 'truncate over the pinned range: ETXTBSY')
  await t.rejects(req('fs.punch', { name: 'A.dat', offset: PAGE, length: PAGE }), { code: ErrorCodes.ETXTBSY }, 'punch-hole over it: ETXTBSY')
  const st = await req('fs.stat', { name: 'A.dat' })
  t.same([st.size, st.blocks], [4 * PAGE, 4], 'A is unchanged')
  t.same(await fileBlocks(rig, 'A.dat'), aBlocks, 'on the same blocks')

  await makeFile(rig, 'B.dat', 3, 0xbb)
  const bBlocks = await fileBlocks(rig, 'B.dat')
  t.notOk(bBlocks.some((b) => aBlocks.includes(b)), "B got none of A's blocks")
  await writesLand(rig) // the client goes on writing after B exists
  t.same(await client.stopWorkload(qpn), { stopped: true })
  const r = await writing
  t.equal(r.errors, 0, `all ${r.completed} WRITEs succeeded`)

  const s = await rig.stats()
  t.equal(s.oracle.corruptBytes, 0, 'no byte landed outside A')
  t.same(s.oracle.victims, [], 'no victim')
  t.ok(await allBytes(rig, 'B.dat', 0, 3 * PAGE, 0xbb), 'B is intact')
  t.equal(s.policy.name, 'deny')
  t.equal(s.policy.layoutFailed, 2, 'two layout changes refused')
  t.same([s.policy.layoutWaited, s.policy.blocksKept], [0, 0])

  // Unpinned, the truncate goes through (a punch over an unpinned range always does).
  await client.deregServerMr('server0', mr.stag)
  await req('fs.truncate', { name: 'A.dat', size: PAGE })
  t.equal((await req('fs.stat', { name: 'A.dat' })).size, PAGE, 'after deregistration the truncate succeeds')
  const end = await rig.stats()
  t.equal(end.pins.nr_foll_pin_acquired, end.pins.nr_foll_pin_released, 'pins acquired == released')
  t.equal(end.policy.layoutFailed, 2)
  t.equal(end.oracle.corruptBytes, 0)
})
