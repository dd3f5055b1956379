import t from 'tap'
import { startRdmaCluster } from './helpers/rdma-cluster.ts'
import { refusedNaming } from './helpers/bad-body.ts'
import { serverReq } from './helpers/odp.ts'

// The server's filesystem commands: wrong types and missing fields are
// refused at the boundary, naming the field; nothing reaches the filesystem.
t.test('wire - an fs command with a malformed body is refused naming the field', async (t) => {
  const rc = await startRdmaCluster(t)
  const req = serverReq(rc)
  await req('fs.create', { name: 'F.dat' })
  await refusedNaming(t, rc, 'fs.create', { name: '' }, 'name')
  await refusedNaming(t, rc, 'fs.write', { name: 'F.dat', offset: 0, data: 'not bytes' }, 'data')
  await refusedNaming(t, rc, 'fs.write', { name: 'F.dat', offset: -1, data: new Uint8Array(1) }, 'offset')
  await refusedNaming(t, rc, 'fs.truncate', { name: 'F.dat' }, 'size')
  await refusedNaming(t, rc, 'fs.punch', { name: 'F.dat', offset: 0, length: 1.5 }, 'length')
  await refusedNaming(t, rc, 'fs.stat', {}, 'name')
  await refusedNaming(t, rc, 'fs.lease', null, 'body')
  const st = await req('fs.stat', { name: 'F.dat' })
  t.equal(st.size, 0, 'the file is untouched by the refused writes')
})
