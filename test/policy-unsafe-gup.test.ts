import t from 'tap'
import { ALL_ACCESS } from './helpers/rdma-cluster.ts'
import { allBytes, fileBlocks, keepWriting, makeFile, PAGE, policyRig, until, writesLand } from './helpers/policy.ts'
import { WrOpcode } from '../src/verbs/constants.ts'

// Policy unsafe-gup (get_user_pages before 4.15): a long-term pin on a DAX
// file is allowed, and a truncate under it goes through at once: the blocks
// are freed while the client keeps WRITING through its STag, the LIFO
// allocator hands them to the next file, and the WRITEs land in that file.
// The oracle names the victim and counts the bytes; the NIC never notices.
t.test('policy unsafe-gup - truncate under a pinned MR frees its blocks; RDMA corrupts the file that reuses them', async (t) => {
  const rig = await policyRig(t, { policy: 'unsafe-gup' })
  const { req, client } = rig
  await makeFile(rig, 'A.dat', 4, 0x11)
  const aBlocks = await fileBlocks(rig, 'A.dat')
  const mr = await client.regServerFile('server0', { pd: rig.pd, file: 'A.dat', offset: 0, length: 4 * PAGE, access: ALL_ACCESS })
  t.same((await req('mem.pinCounts', { file: 'A.dat' })).pins, [1, 1, 1, 1], 'registration pinned every page (FOLL_LONGTERM)')

  const qpn = await rig.connect()
  const writing = keepWriting(rig, qpn, mr)
  await writesLand(rig)

  const t0 = Date.now()
  await req('fs.truncate', { name: 'A.dat', size: PAGE })
  t.ok(Date.now() - t0 < 2000, 'the truncate does not wait for the pins')
  const st = await req('fs.stat', { name: 'A.dat' })
  t.same([st.size, st.blocks, st.retained], [PAGE, 1, 0], 'A shrank and gave up three blocks')
  t.equal((await rig.stats()).pins.pinned_frames, 4, 'all four pins are still held, three of them on blocks A gave up')

  await makeFile(rig, 'B.dat', 3, 0xbb)
  const bBlocks = await fileBlocks(rig, 'B.dat')
  t.same([...bBlocks].sort(), [...aBlocks.slice(1)].sort(), "B got exactly A's three freed blocks (LIFO)")

  // The client is still writing all over the MR: B is hit.
  await until('the oracle charges B', async () => ((await rig.stats()).oracle.victims.find((v) => v.victim === 'B.dat')?.bytes ?? 0) > 0)
  t.same(await client.stopWorkload(qpn), { stopped: true })
  const r = await writing
  t.equal(r.errors, 0, 'every WRITE completed successfully: the NIC does not know')
  t.ok(r.stopped && r.completed > 0 && r.completed === r.posted, `stopped after ${r.completed} WRITEs, all completed`)

  const s1 = await rig.stats()
  t.ok(s1.oracle.corruptBytes > 0, `the oracle counted ${s1.oracle.corruptBytes} stray bytes`)
  const victim1 = s1.oracle.victims.find((v) => v.victim === 'B.dat')!
  t.ok(victim1.bytes > 0, `${victim1.bytes} of them in B.dat`)
  t.notOk(await allBytes(rig, 'B.dat', 0, 3 * PAGE, 0xbb), "B's contents really changed")

  // Exact count: 50 WRITEs of 1000 B into MR page 2, whose old block is B's page 1 now.
  const exact = await client.workload(qpn, 4000, { opcode: WrOpcode.RDMA_WRITE, count: 50, window: 4, size: 1000, span: 1000, remoteAddr: mr.iova + 2 * PAGE + 8, rkey: mr.stag })
  t.same([exact.completed, exact.errors], [50, 0], 'the WRITEs succeed')
  const s2 = await rig.stats()
  t.equal(s2.oracle.victims.find((v) => v.victim === 'B.dat')!.bytes - victim1.bytes, 50 * 1000, 'exactly 50 x 1000 bytes charged to B.dat')
  t.equal(s2.oracle.corruptBytes - s1.oracle.corruptBytes, 50 * 1000, '... and to no one else')
  t.ok(await allBytes(rig, 'B.dat', PAGE + 8, 1000, 0), "B's page 1 holds the client's bytes")

  const p = s2.policy
  t.equal(p.name, 'unsafe-gup')
  t.same([p.layoutWaited, p.layoutFailed, p.blocksKept, p.pinRefusals], [0, 0, 0, 0], 'the policy never stood in the way')

  await client.deregServerMr('server0', mr.stag)
  const end = (await rig.stats()).pins
  t.equal(end.nr_foll_pin_acquired, end.nr_foll_pin_released, 'pins acquired == released after deregistration')
})
