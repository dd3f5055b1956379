import t from 'tap'
import { startRdmaCluster, pattern, ALL_ACCESS } from './helpers/rdma-cluster.ts'
import { assertClean, buf, connectTo, dropPages, Op, PAGE, post, serverReq, stats, u64 } from './helpers/odp.ts'
import { Access, WcStatus } from '../src/verbs/constants.ts'

// With the server's data path inline (no workers), every ODP fault is served
// on the main thread as the request arrives: traffic stays correct across
// drops, and a page past EOF ends the request with REM_ACCESS_ERR.
t.test('odp - inline data path: faults in place, past EOF is REM_ACCESS_ERR', async (t) => {
  const rc = await startRdmaCluster(t)
  const req = serverReq(rc)
  t.equal((await req('rdma.dataPath', { mode: 'inline' })).mode, 'inline')
  const pd = await rc.server.allocPd()
  const before = await stats(rc)
  const anon = await rc.server.regMr(pd, 4 * PAGE, ALL_ACCESS | Access.ON_DEMAND)
  await req('fs.create', { name: 'i.dat', dax: true })
  await req('fs.truncate', { name: 'i.dat', size: 2 * PAGE })
  const file = await req('verbs.mr.regFile', { pd, file: 'i.dat', offset: 0, length: 4 * PAGE, access: ALL_ACCESS | Access.ON_DEMAND })
  const c = await connectTo(rc, pd, 5501)
  const b = buf(c)

  for (let i = 0; i < 6; i++) {
    await dropPages(rc, anon.stag, i % 2 ? 'unmap' : 'migrate')
    await dropPages(rc, file.stag, 'dontneed')
    const d = pattern(3 * PAGE, i + 20)
    b.set(d, 0)
    t.equal(await post(c, Op.RDMA_WRITE, anon.iova, anon.stag, 3 * PAGE), WcStatus.SUCCESS)
    t.equal(await post(c, Op.RDMA_WRITE, file.iova + 100, file.stag, PAGE), WcStatus.SUCCESS)
    t.equal(await post(c, Op.RDMA_READ, anon.iova, anon.stag, 3 * PAGE, { localOff: 8 * PAGE }), WcStatus.SUCCESS)
    t.same(Buffer.from(b.subarray(8 * PAGE, 11 * PAGE)), Buffer.from(d), `iteration ${i}: anonymous data intact`)
    t.equal(await post(c, Op.ATOMIC_FETCH_AND_ADD, file.iova + PAGE + 1024, file.stag, 8, { localOff: 12 * PAGE, compareAdd: 1n }), WcStatus.SUCCESS)
    t.equal(u64(b, 12 * PAGE), BigInt(i), `iteration ${i}: FETCH_ADD on the file page`)
  }
  t.same(Buffer.from(await req('fs.read', { name: 'i.dat', offset: 100, length: PAGE })), Buffer.from(b.subarray(0, PAGE)), 'the file has the last WRITE')
  const s = await stats(rc)
  t.equal(s.odp.pageFaultsWorkers, before.odp.pageFaultsWorkers, 'no fault ran in a worker')
  t.ok(s.odp.majorFaults - before.odp.majorFaults >= 6, 'the file pages came back through the filesystem')
  t.equal(await post(c, Op.RDMA_READ, file.iova + 2 * PAGE, file.stag, 64, { localOff: 8 * PAGE }), WcStatus.REM_ACCESS_ERR, 'READ past EOF: REM_ACCESS_ERR')
  assertClean(t, await stats(rc), 'at the end')
  await rc.server.deregMr(anon.stag)
  await req('verbs.mr.dereg', { stag: file.stag })
  t.equal((await stats(rc)).freeRamFrames, before.freeRamFrames)
})
