import t from 'tap'
import { ALL_ACCESS } from './helpers/rdma-cluster.ts'
import { allBytes, keepWriting, makeFile, PAGE, policyRig, sleep, writesLand } from './helpers/policy.ts'
import { ErrorCodes } from '../src/errors.ts'

// Policy exclusive-lease (seed 002, June 2019: "adding 'exclusive' to the
// layout lease"; Jan Kara: a lease that is not broken after a timeout): the
// file MR needs the lease, as under layout-lease, but a truncate or punch of
// the file does not break it: it fails with ETXTBSY while the lease is held,
// however long. The holder's RDMA is never disturbed. Once the holder has
// deregistered and unlocked (seed 002's order), the truncate goes through.
t.test('policy exclusive-lease - truncate and punch fail ETXTBSY while the lease is held; no notice, no timeout; after dereg + unlock they succeed', async (t) => {
  const rig = await policyRig(t, { policy: 'exclusive-lease', leaseBreakTimeMs: 300 })
  const { req, client } = rig
  await makeFile(rig, 'A.dat', 4, 0x11)
  await t.rejects(client.regServerFile('server0', { pd: rig.pd, file: 'A.dat', offset: 0, length: 4 * PAGE, access: ALL_ACCESS }), { code: ErrorCodes.EACCES }, 'no lease: EACCES')
  await client.leaseFile('server0', 'A.dat')
  const mr = await client.regServerFile('server0', { pd: rig.pd, file: 'A.dat', offset: 0, length: 4 * PAGE, access: ALL_ACCESS })
  const qpn = await rig.connect()
  const writing = keepWriting(rig, qpn, mr)
  await writesLand(rig)

  const t0 = Date.now()
  await t.rejects(req('fs.truncate', { name: 'A.dat', size: PAGE }), { code: ErrorCodes.ETXTBSY }, 'truncate: ETXTBSY')
  t.ok(Date.now() - t0 < 1000, 'at once: no wait')
  await t.rejects(req('fs.punch', { name: 'A.dat', offset: PAGE, length: PAGE }), { code: ErrorCodes.ETXTBSY }, 'punch: ETXTBSY')
  await sleep(500) // longer than leaseBreakTimeMs: nothing is revoked, ever
  await writesLand(rig)
  const p = await rig.policy()
  t.same([p.layoutFailed, p.layoutWaited, p.leases.breaks, p.leases.revocations], [2, 0, 0, 0], 'two refusals; no wait, no break, no revocation')
  t.equal((await client.leaseStatus()).notices.length, 0, 'the holder got no lease-break notice')
  t.same(await client.stopWorkload(qpn), { stopped: true })
  const r = await writing
  t.equal(r.errors, 0, `the holder's ${r.completed} WRITEs all succeeded`)
  t.same((await req('fs.stat', { name: 'A.dat' })).size, 4 * PAGE, 'the file is whole')

  await t.rejects(client.unleaseFile('server0', 'A.dat'), { code: ErrorCodes.EBUSY }, 'unlock while the MR holds pins: EBUSY')
  await client.deregServerMr('server0', mr.stag)
  await client.unleaseFile('server0', 'A.dat')
  await req('fs.truncate', { name: 'A.dat', size: PAGE })
  t.equal((await req('fs.stat', { name: 'A.dat' })).size, PAGE, 'no lease: the truncate goes through')
  t.ok(await allBytes(rig, 'A.dat', 0, 1, 0), 'the first page holds what the NIC wrote (zeros)')
  const s = await rig.stats()
  t.equal(s.oracle.corruptBytes, 0, 'no corruption')
  t.equal(s.pins.nr_foll_pin_acquired, s.pins.nr_foll_pin_released, 'pins balance')
})
