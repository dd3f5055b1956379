import t from 'tap'
import { startRdmaCluster, ALL_ACCESS } from './helpers/rdma-cluster.ts'
import { badBodies, refusedNaming } from './helpers/bad-body.ts'

// The verbs layer over the control plane: a body of the wrong shape is
// refused at the boundary with ERR_BAD_MESSAGE naming the field (before, a
// TypeError inside the handler came back as ERR_INTERNAL), and the node goes
// on serving well-formed commands.
t.test('wire - a verbs command with a malformed body is refused naming the field', async (t) => {
  const rc = await startRdmaCluster(t)
  const before = await badBodies(rc)
  await refusedNaming(t, rc, 'verbs.mr.reg', { pd: 1, length: 'big', access: ALL_ACCESS }, 'length')
  await refusedNaming(t, rc, 'verbs.mr.reg', { length: 64, access: ALL_ACCESS }, 'pd')
  await refusedNaming(t, rc, 'verbs.qp.postSend', { wrs: [] }, 'qpn')
  await refusedNaming(t, rc, 'verbs.qp.postSend', { qpn: 1, wrs: [{ opcode: 'write' }] }, 'wrs[0].opcode')
  await refusedNaming(t, rc, 'verbs.qp.postSend', { qpn: 1, wrs: [{ opcode: 16, compareAdd: 1 }] }, 'wrs[0].compareAdd')
  await refusedNaming(t, rc, 'verbs.cq.poll', { qpn: 1, which: 'both' }, 'which')
  await refusedNaming(t, rc, 'verbs.qp.modify', { qpn: 1, attr: { qpState: 9 } }, 'attr.qpState')
  await refusedNaming(t, rc, 'verbs.mem.write', { stag: 1, offset: 0, data: 'bytes' }, 'data')
  t.equal(await badBodies(rc) - before, 8, 'each refusal counted')
  const pd = await rc.server.allocPd()
  const mr = await rc.server.regMr(pd, 64, ALL_ACCESS)
  t.equal(mr.length, 64, 'a well-formed command still works')
})
