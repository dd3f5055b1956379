import t from 'tap'
import { startRdmaCluster, pattern, ALL_ACCESS } from './helpers/rdma-cluster.ts'
import { assertClean, buf, connectTo, odpQuery, Op, PAGE, post, serverReq, stats } from './helpers/odp.ts'
import { Access, WcStatus } from '../src/verbs/constants.ts'

// An ODP STag over a DAX file takes no pins, so truncate and punch-hole go
// through at once; the MMU notifier invalidates the MR's pages first, so its
// next access faults: past EOF it is a remote access error, inside the file
// it maps (or allocates) the file's current block. The blocks the file gave
// up go to another file, and no byte of the ODP MR ever lands there.
type Extent = { page: number; block: number; len: number }
const blocksOf = (ext: Extent[]): number[] => ext.flatMap((e) => Array.from({ length: e.len }, (_, i) => e.block + i))

t.test('odp - file MR: truncate and punch invalidate, past EOF is REM_ACCESS_ERR, no corruption', async (t) => {
  const rc = await startRdmaCluster(t)
  const req = serverReq(rc)
  const pd = await rc.server.allocPd()
  await req('fs.create', { name: 'A.dat', dax: true })
  await req('fs.write', { name: 'A.dat', offset: 0, data: new Uint8Array(4 * PAGE).fill(0x11) })
  const before = await stats(rc)
  const mr = await req('verbs.mr.regFile', { pd, file: 'A.dat', offset: 0, length: 4 * PAGE, access: ALL_ACCESS | Access.ON_DEMAND })
  t.same((await stats(rc)).pins, before.pins, 'registration took no pins')
  t.equal((await odpQuery(rc, mr.stag)).resident, 0, 'and mapped nothing')
  let c = await connectTo(rc, pd, 5201)
  const b = buf(c)

  await t.test('a WRITE through the STag faults the pages in and lands in the file', async (t) => {
    const data = pattern(3 * PAGE, 7)
    b.set(data, 0)
    t.equal(await post(c, Op.RDMA_WRITE, mr.iova + 100, mr.stag, data.length), WcStatus.SUCCESS)
    t.same(Buffer.from(await req('fs.read', { name: 'A.dat', offset: 100, length: data.length })), Buffer.from(data), 'fs.read sees it')
    const q = await odpQuery(rc, mr.stag)
    t.equal(q.resident, 4, 'four pages resident')
    t.ok(q.majorFaults >= 1, 'through the filesystem (major fault)')
  })

  await t.test('punch-hole: invalidated, then a WRITE allocates a new block for the hole', async (t) => {
    const s0 = await stats(rc)
    await req('fs.punch', { name: 'A.dat', offset: PAGE, length: PAGE })
    const s1 = await stats(rc)
    t.equal(s1.odp.invalidations - s0.odp.invalidations, 1, 'one invalidation')
    t.equal(s1.odp.pagesInvalidated - s0.odp.pagesInvalidated, 1, 'of the punched page')
    t.equal((await odpQuery(rc, mr.stag)).resident, 3)
    b.fill(0x22, 0, 16)
    t.equal(await post(c, Op.RDMA_WRITE, mr.iova + PAGE + 8, mr.stag, 16), WcStatus.SUCCESS)
    const got = await req('fs.read', { name: 'A.dat', offset: PAGE, length: 32 })
    t.same([...got.subarray(0, 8)], new Array(8).fill(0), 'the hole reads as zeros ...')
    t.same([...got.subarray(8, 24)], new Array(16).fill(0x22), '... with the WRITE in a fresh block')
  })

  const extBefore = blocksOf(await req('fs.extents', { name: 'A.dat' }))

  await t.test('truncate: no pin holds it up, the range beyond EOF is invalidated', async (t) => {
    const s0 = await stats(rc)
    const t0 = Date.now()
    await req('fs.truncate', { name: 'A.dat', size: PAGE })
    t.ok(Date.now() - t0 < 2000, 'truncate returned promptly')
    const s1 = await stats(rc)
    t.equal(s1.odp.pagesInvalidated - s0.odp.pagesInvalidated, 3, 'pages 1-3 unmapped from the MR')
    t.same(s1.pins, before.pins, 'still no pins')
    t.equal((await odpQuery(rc, mr.stag)).resident, 1)
  })

  await t.test('the freed blocks go to another file; a WRITE past EOF fails and touches none of them', async (t) => {
    const aNow = blocksOf(await req('fs.extents', { name: 'A.dat' }))
    const gone = extBefore.filter((blk) => !aNow.includes(blk))
    t.equal(gone.length, 3, 'A gave up three blocks')
    await req('fs.create', { name: 'B.dat', dax: true })
    await req('fs.write', { name: 'B.dat', offset: 0, data: new Uint8Array(3 * PAGE).fill(0xbb) })
    const bBlocks = blocksOf(await req('fs.extents', { name: 'B.dat' }))
    t.same([...bBlocks].sort(), [...gone].sort(), "B got exactly A's freed blocks (LIFO)")

    b.fill(0xee, 0, PAGE)
    t.equal(await post(c, Op.RDMA_WRITE, mr.iova + 2 * PAGE, mr.stag, PAGE), WcStatus.REM_ACCESS_ERR, 'WRITE past the new EOF: REM_ACCESS_ERR')
    const s = await stats(rc)
    assertClean(t, s, 'after the WRITE past EOF')
    t.equal(s.oracle.victims.length, 0, 'no victim')
    const bData = await req('fs.read', { name: 'B.dat', offset: 0, length: 3 * PAGE })
    t.ok(bData.every((x) => x === 0xbb), "B's contents are intact")
    t.ok(s.odp.faultErrors > before.odp.faultErrors, 'the fault error is counted')
  })

  await t.test('the file grows again: a WRITE maps new blocks', async (t) => {
    // The QP went to ERR with the failed WRITE: a new connection into the same PD.
    c = await connectTo(rc, pd, 5202)
    const b2 = buf(c)
    await req('fs.truncate', { name: 'A.dat', size: 4 * PAGE })
    const data = pattern(PAGE, 9)
    b2.set(data, 0)
    const s0 = await stats(rc)
    t.equal(await post(c, Op.RDMA_WRITE, mr.iova + 2 * PAGE, mr.stag, PAGE), WcStatus.SUCCESS, 'WRITE inside the new EOF succeeds')
    const s1 = await stats(rc)
    t.ok(s1.odp.majorFaults > s0.odp.majorFaults, 'through a major fault')
    t.same(Buffer.from(await req('fs.read', { name: 'A.dat', offset: 2 * PAGE, length: PAGE })), Buffer.from(data), 'the file has the data')
    const aNow = await req('fs.extents', { name: 'A.dat' })
    t.ok(aNow.some((e) => e.page <= 2 && e.page + e.len > 2), 'page 2 has a block again')
    const bBlocks = blocksOf(await req('fs.extents', { name: 'B.dat' }))
    t.notOk(blocksOf(aNow).some((blk) => bBlocks.includes(blk)), "not one of B's")
    const bData = await req('fs.read', { name: 'B.dat', offset: 0, length: 3 * PAGE })
    t.ok(bData.every((x) => x === 0xbb), "B's contents are intact")
    // READ back through the STag, pages 0..3 (page 1 and 3 partly holes).
    t.equal(await post(c, Op.RDMA_READ, mr.iova, mr.stag, 4 * PAGE, { localOff: 4 * PAGE }), WcStatus.SUCCESS)
    t.same(Buffer.from(b2.subarray(6 * PAGE, 7 * PAGE)), Buffer.from(data), 'READ through the STag sees it too')
    assertClean(t, await stats(rc), 'after the file grew')
  })

  await t.test('unlink: the MR loses its pages; the next access is REM_ACCESS_ERR', async (t) => {
    const s0 = await stats(rc)
    await req('fs.unlink', { name: 'A.dat' })
    const s1 = await stats(rc)
    t.ok(s1.odp.pagesInvalidated - s0.odp.pagesInvalidated >= 1, 'unlink invalidated the mapped pages')
    await req('fs.create', { name: 'C.dat', dax: true })
    await req('fs.write', { name: 'C.dat', offset: 0, data: new Uint8Array(4 * PAGE).fill(0xcc) })
    t.equal(await post(c, Op.RDMA_WRITE, mr.iova, mr.stag, 64), WcStatus.REM_ACCESS_ERR)
    const cData = await req('fs.read', { name: 'C.dat', offset: 0, length: 4 * PAGE })
    t.ok(cData.every((x) => x === 0xcc), "C (on A's old blocks) is intact")
    assertClean(t, await stats(rc), 'after unlink')
  })

  await req('verbs.mr.dereg', { stag: mr.stag })
  const end = await stats(rc)
  t.same(end.pins, before.pins, 'no pins at any point')
  t.equal(end.odp.mrs, 0)
  assertClean(t, end, 'at the end')
})
