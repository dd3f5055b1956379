import t from 'tap'
import { ALL_ACCESS } from './helpers/rdma-cluster.ts'
import { allBytes, fileBlocks, keepWriting, makeFile, PAGE, policyRig, writesLand } from './helpers/policy.ts'

// Policy truncate-extend (seed 000, option 4): the size shrinks at once, but
// the pinned blocks stay owned by the file, out of its visible range, until
// the last pin drops. The client's WRITEs past the new EOF land there,
// harmlessly; the next file gets other blocks. Deregistration frees them.
t.test('policy truncate-extend - size shrinks at once, pinned blocks stay the file\'s until unpinned; zero corruption', async (t) => {
  const rig = await policyRig(t, { policy: 'truncate-extend' })
  const { req, client } = rig
  await makeFile(rig, 'A.dat', 4, 0x11)
  const aBlocks = await fileBlocks(rig, 'A.dat')
  const mr = await client.regServerFile('server0', { pd: rig.pd, file: 'A.dat', offset: 0, length: 4 * PAGE, access: ALL_ACCESS })

  const qpn = await rig.connect()
  const writing = keepWriting(rig, qpn, mr)
  await writesLand(rig)

  const t0 = Date.now()
  await req('fs.truncate', { name: 'A.dat', size: PAGE })
  t.ok(Date.now() - t0 < 2000, 'the truncate returns at once')
  const st = await req('fs.stat', { name: 'A.dat' })
  t.same([st.size, st.blocks, st.retained], [PAGE, 1, 3], 'size shrank; the three pinned blocks are retained')
  t.equal((await req('fs.read', { name: 'A.dat', offset: 0, length: 4 * PAGE })).length, PAGE, 'reads stop at the new EOF')
  const s0 = await rig.stats()
  t.equal(s0.policy.blocksKept, 3, 'blocks kept counted')
  t.equal(s0.fs.retained, 3)

  await makeFile(rig, 'B.dat', 3, 0xbb)
  const bBlocks = await fileBlocks(rig, 'B.dat')
  t.notOk(bBlocks.some((b) => aBlocks.includes(b)), "B got none of A's blocks, retained ones included")
  await writesLand(rig) // WRITEs past A's EOF go on, into the retained blocks
  t.same(await client.stopWorkload(qpn), { stopped: true })
  const r = await writing
  t.equal(r.errors, 0, `all ${r.completed} WRITEs succeeded`)

  const s1 = await rig.stats()
  t.equal(s1.oracle.corruptBytes, 0, 'no byte landed outside A')
  t.same(s1.oracle.victims, [], 'no victim')
  t.ok(await allBytes(rig, 'B.dat', 0, 3 * PAGE, 0xbb), 'B is intact')
  t.same([s1.policy.layoutWaited, s1.policy.layoutFailed], [0, 0], 'nothing waited, nothing failed')

  // The last unpin gives the retained blocks back to the allocator.
  await client.deregServerMr('server0', mr.stag)
  const s2 = await rig.stats()
  t.equal(s2.fs.retained, 0, 'nothing retained after deregistration')
  t.equal(s2.fs.retainedReleased - s1.fs.retainedReleased, 3, 'three retained blocks released')
  t.equal(s2.fs.freeBlocks - s1.fs.freeBlocks, 3, '... back on the free list')
  t.equal((await req('fs.stat', { name: 'A.dat' })).retained, 0)
  await makeFile(rig, 'C.dat', 3, 0xcc)
  t.same([...(await fileBlocks(rig, 'C.dat'))].sort(), [...aBlocks.slice(1)].sort(), "the next file gets A's former blocks (LIFO)")
  t.equal(s2.pins.nr_foll_pin_acquired, s2.pins.nr_foll_pin_released, 'pins acquired == released')
  t.equal((await rig.stats()).oracle.corruptBytes, 0, 'still no corruption')
})
