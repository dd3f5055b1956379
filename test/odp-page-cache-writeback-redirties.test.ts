import t from 'tap'
import { startRdmaCluster, pattern, ALL_ACCESS } from './helpers/rdma-cluster.ts'
import { connectTo, buf, Op, PAGE, post, serverReq, stats } from './helpers/odp.ts'
import { Access, WcStatus } from '../src/verbs/constants.ts'

// Seed 001's problem, with ODP: a page-cache page an RDMA NIC writes into is
// not pinned, so fsync writes it back (nothing skipped); page_mkclean
// write-protects the MR's mapping first, so the next RDMA WRITE faults and
// dirties the page again, and the following fsync writes the new bytes.
t.test('odp - page-cached file: fsync writes RDMA data back, the next WRITE re-dirties the page', async (t) => {
  const rc = await startRdmaCluster(t)
  const req = serverReq(rc)
  const pd = await rc.server.allocPd()
  await req('fs.create', { name: 'pc.dat', dax: false })
  await req('fs.write', { name: 'pc.dat', offset: 0, data: new Uint8Array(2 * PAGE) })
  await req('fs.fsync', { name: 'pc.dat' })
  const mr = await req('verbs.mr.regFile', { pd, file: 'pc.dat', offset: 0, length: 2 * PAGE, access: ALL_ACCESS | Access.ON_DEMAND })
  const c = await connectTo(rc, pd, 5601)
  const b = buf(c)

  b.set(pattern(PAGE, 1), 0)
  t.equal(await post(c, Op.RDMA_WRITE, mr.iova, mr.stag, PAGE), WcStatus.SUCCESS)
  t.equal((await req('fs.stat', { name: 'pc.dat' })).dirtyPages, 1, 'the write fault dirtied the page')
  const s0 = await stats(rc)
  const f1 = await req('fs.fsync', { name: 'pc.dat' })
  t.same(f1, { written: 1, bounced: 0, skippedPinned: 0 }, 'fsync wrote it back: no pin in the way')
  t.equal((await req('fs.stat', { name: 'pc.dat' })).dirtyPages, 0)
  t.ok((await stats(rc)).odp.pagesInvalidated > s0.odp.pagesInvalidated, 'page_mkclean unmapped it from the MR')

  b.set(pattern(PAGE, 2), 0)
  t.equal(await post(c, Op.RDMA_WRITE, mr.iova, mr.stag, PAGE), WcStatus.SUCCESS)
  t.equal((await req('fs.stat', { name: 'pc.dat' })).dirtyPages, 1, 'the next WRITE faulted and dirtied the page again')
  const f2 = await req('fs.fsync', { name: 'pc.dat' })
  t.equal(f2.written, 1, 'and fsync writes the new bytes')
  t.same(Buffer.from(await req('fs.read', { name: 'pc.dat', offset: 0, length: PAGE })), Buffer.from(pattern(PAGE, 2)))
  await req('verbs.mr.dereg', { stag: mr.stag })
  t.equal((await stats(rc)).oracle.corruptBytes, 0)
})
