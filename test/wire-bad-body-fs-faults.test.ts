import t from 'tap'
import { startRdmaCluster } from './helpers/rdma-cluster.ts'
import { badBodies, refusedNaming } from './helpers/bad-body.ts'
import { serverReq } from './helpers/odp.ts'

// fs.faults bodies are checked at the boundary: a wrong errno, a wrong type or
// an unknown field is refused naming the field, and nothing changes.
t.test('wire - an fs.faults command with a malformed body is refused naming the field', async (t) => {
  const rc = await startRdmaCluster(t)
  const before = await badBodies(rc)
  await refusedNaming(t, rc, 'fs.faults', { fsync: 'ENOSPC' }, 'fsync')
  await refusedNaming(t, rc, 'fs.faults', { flush: true }, 'flush')
  await refusedNaming(t, rc, 'fs.faults', { enospc: 'yes' }, 'enospc')
  await refusedNaming(t, rc, 'fs.faults', { fsync: null, eio: true }, 'eio')
  await refusedNaming(t, rc, 'fs.faults', 'EIO', 'body')
  t.equal(await badBodies(rc), before + 5, 'each refusal counted')
  const s = await serverReq(rc)('mem.stats')
  t.match(s.storageFaults, { fsync: null, flush: null, enospc: false }, 'no fault was set by a refused body')
  t.match(await serverReq(rc)('fs.faults', {}), { fsync: null, flush: null, enospc: false }, 'an empty body is all off')
})
