import t from 'tap'
import { startRdmaCluster } from './helpers/rdma-cluster.ts'
import { refusedNaming } from './helpers/bad-body.ts'
import { serverReq } from './helpers/odp.ts'

// The server's memory commands (pins, ODP, file MRs): a malformed body is
// refused at the boundary, naming the field, and takes no pin.
t.test('wire - a mem command with a malformed body is refused naming the field', async (t) => {
  const rc = await startRdmaCluster(t)
  const req = serverReq(rc)
  await req('fs.create', { name: 'M.dat' })
  await refusedNaming(t, rc, 'mem.pinCounts', { file: 7 }, 'file')
  await refusedNaming(t, rc, 'mem.pinPages', { file: 'M.dat', offset: 0 }, 'length')
  await refusedNaming(t, rc, 'mem.unpinPages', { handle: '1' }, 'handle')
  await refusedNaming(t, rc, 'mem.odpInvalidate', { stag: 1, how: 'zap' }, 'how')
  await refusedNaming(t, rc, 'mem.odpQuery', { stag: -1 }, 'stag')
  await refusedNaming(t, rc, 'verbs.mr.regFile', { pd: 1, file: 'M.dat', offset: 0, length: 4096, access: '7' }, 'access')
  await refusedNaming(t, rc, 'verbs.mr.advise', { stag: 1, advice: 0, sgList: [{ offset: 0 }] }, 'sgList[0].length')
  const s = await req('mem.stats')
  t.equal(s.policy.shortTermPins, 0, 'no pin was taken')
})
