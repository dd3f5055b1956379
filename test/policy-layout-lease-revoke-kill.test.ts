import t from 'tap'
import { ALL_ACCESS } from './helpers/rdma-cluster.ts'
import { makeFile, PAGE, policyRig } from './helpers/policy.ts'
import type { NodeExit } from '../src/launcher/node-process.ts'

// layout-lease with leaseRevokeKill: a holder that ignores the lease break is
// not only revoked but shut down ("if unhandled, process gets killed", seed
// 001). The truncate completes, the holder's node process exits, and the
// server is left with no MR, pin or lease of it.
t.test('policy layout-lease - leaseRevokeKill shuts down a holder that ignored the break', async (t) => {
  const rig = await policyRig(t, { policy: 'layout-lease', leaseBreakTimeMs: 300, leaseRevokeKill: true })
  const { req, client } = rig
  await makeFile(rig, 'A.dat', 4, 0x11)
  await client.setLeaseMode('ignore')
  await client.leaseFile('server0', 'A.dat')
  await client.regServerFile('server0', { pd: rig.pd, file: 'A.dat', offset: 0, length: 4 * PAGE, access: ALL_ACCESS })
  const exited = new Promise<NodeExit>((resolve) => rig.rc.cluster.on('exit', (e: NodeExit) => { if (e.id === 'client0') resolve(e) }))

  const t0 = Date.now()
  await req('fs.truncate', { name: 'A.dat', size: PAGE }, 10_000)
  t.ok(Date.now() - t0 >= 250, 'the truncate waited for the break time')
  const e = await exited
  t.equal(e.code, 0, 'the holder node shut down cleanly')
  const s = await rig.stats()
  t.same([s.policy.leases.revocations, s.policy.leases.holdersKilled], [1, 1], 'revoked, and the holder told to go')
  t.equal(s.pins.nr_foll_pin_acquired, s.pins.nr_foll_pin_released, 'no pin left')
  t.equal(s.mrs.file, 0, 'no MR left')
  t.equal(s.policy.leases.active, 0, 'no lease left')
  t.equal((await req('fs.stat', { name: 'A.dat' })).size, PAGE, 'the truncate completed')
})
