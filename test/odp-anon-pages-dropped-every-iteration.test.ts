import t from 'tap'
import { startRdmaCluster, pattern, ALL_ACCESS } from './helpers/rdma-cluster.ts'
import { assertClean, buf, connectTo, dropPages, odpQuery, Op, PAGE, post, stats, u64 } from './helpers/odp.ts'
import { Access, WcStatus } from '../src/verbs/constants.ts'

// pyverbs test_odp_* analogue: RDMA WRITE / READ / atomics on an anonymous ODP
// MR stay correct while its pages are dropped on every iteration (migrated to
// new frames, unmapped, or discarded with MADV_DONTNEED). Each drop makes the
// next access fault; no page is ever pinned; the oracle sees no access to a
// frame the MR no longer owns (migration frees the old frames).
const ITERS = 12
const SIZE = 4 * PAGE + 512 // five pages
const WORD = 4 * PAGE + 64 // the atomic counter, on the fifth page

t.test('odp - anonymous MR traffic stays correct while pages are dropped every iteration', async (t) => {
  const rc = await startRdmaCluster(t)
  const pd = await rc.server.allocPd()
  const before = await stats(rc)
  const mr = await rc.server.regMr(pd, SIZE, ALL_ACCESS | Access.ON_DEMAND)
  t.equal((await odpQuery(rc, mr.stag)).resident, 0, 'registration maps nothing')
  const c = await connectTo(rc, pd, 5101)
  const b = buf(c)

  // Without drops, the pages fault once and stay mapped.
  const data0 = pattern(4 * PAGE, 100)
  b.set(data0, 0)
  t.equal(await post(c, Op.RDMA_WRITE, mr.iova, mr.stag, 4 * PAGE), WcStatus.SUCCESS)
  const warm = (await stats(rc)).odp.pageFaults
  t.ok(warm - before.odp.pageFaults >= 4, `the first WRITE faulted its pages in (${warm - before.odp.pageFaults})`)
  for (let i = 0; i < 3; i++) t.equal(await post(c, Op.RDMA_READ, mr.iova, mr.stag, 4 * PAGE, { localOff: 8 * PAGE }), WcStatus.SUCCESS)
  t.equal((await stats(rc)).odp.pageFaults, warm, 'no drop, no new fault')

  let counter = 0n
  const hows = ['migrate', 'unmap', 'dontneed'] as const
  let faults = warm
  for (let i = 0; i < ITERS; i++) {
    const how = hows[i % hows.length]!
    const dropped = await dropPages(rc, mr.stag, how)
    t.ok(dropped.pages >= 1, `iteration ${i}: ${how} unmapped ${dropped.pages} resident pages`)
    if (how === 'dontneed') {
      // MADV_DONTNEED on anonymous memory: the pages come back zero-filled.
      counter = 0n
      t.equal(await post(c, Op.RDMA_READ, mr.iova, mr.stag, 4 * PAGE, { localOff: 8 * PAGE }), WcStatus.SUCCESS)
      t.ok(b.subarray(8 * PAGE, 12 * PAGE).every((x) => x === 0), `iteration ${i}: discarded pages read back as zeros`)
    }
    const data = pattern(4 * PAGE, i + 1)
    b.set(data, 0)
    t.equal(await post(c, Op.RDMA_WRITE, mr.iova, mr.stag, 4 * PAGE), WcStatus.SUCCESS, `iteration ${i}: WRITE`)
    // Drop again between the WRITE and the READ: the contents move with the pages.
    await dropPages(rc, mr.stag, 'migrate')
    b.fill(0, 8 * PAGE, 12 * PAGE)
    t.equal(await post(c, Op.RDMA_READ, mr.iova, mr.stag, 4 * PAGE, { localOff: 8 * PAGE }), WcStatus.SUCCESS, `iteration ${i}: READ`)
    t.same(Buffer.from(b.subarray(8 * PAGE, 12 * PAGE)), Buffer.from(data), `iteration ${i}: READ returns what was written`)
    t.equal(await post(c, Op.ATOMIC_FETCH_AND_ADD, mr.iova + WORD, mr.stag, 8, { localOff: 16 * PAGE, compareAdd: 5n }), WcStatus.SUCCESS)
    t.equal(u64(b, 16 * PAGE), counter, `iteration ${i}: FETCH_ADD returns the old value`)
    counter += 5n
    await dropPages(rc, mr.stag, 'unmap', { offset: 4 * PAGE, length: 8 })
    t.equal(await post(c, Op.ATOMIC_CMP_AND_SWP, mr.iova + WORD, mr.stag, 8, { localOff: 16 * PAGE, compareAdd: counter, swap: counter + 1n }), WcStatus.SUCCESS)
    t.equal(u64(b, 16 * PAGE), counter, `iteration ${i}: CMP_SWAP saw the added value`)
    counter += 1n
    // The server's own access through the MR (mem.read) faults too.
    await dropPages(rc, mr.stag, 'migrate', { offset: 4 * PAGE, length: 8 })
    t.equal(u64(await rc.server.read(mr.stag, WORD, 8)), counter, `iteration ${i}: mem.read sees the counter`)
    const now = (await stats(rc)).odp.pageFaults
    t.ok(now > faults, `iteration ${i}: the drops caused new faults (${now - faults})`)
    faults = now
  }

  const s = await stats(rc)
  t.ok(s.odp.pageFaults - warm >= ITERS * 5, `faults grew with the drops (${s.odp.pageFaults - warm} over ${ITERS} iterations)`)
  t.ok(s.odp.invalidations - before.odp.invalidations >= ITERS * 4, `invalidations counted (${s.odp.invalidations - before.odp.invalidations})`)
  t.ok(s.odp.pagesInvalidated > before.odp.pagesInvalidated, 'pages invalidated counted')
  t.equal(s.odp.faultErrors, before.odp.faultErrors, 'no fault failed')
  t.same(s.pins, before.pins, 'no page was pinned')
  t.equal(s.odp.mrs, 1)
  assertClean(t, s, 'after the iterations')

  await rc.server.deregMr(mr.stag)
  const end = await stats(rc)
  t.equal(end.odp.mrs, 0, 'the ODP MR is gone')
  t.equal(end.freeRamFrames, before.freeRamFrames, 'its frames (wherever they migrated) went back to the allocator')
  t.same(end.pins, before.pins, 'still no pins')
  assertClean(t, end, 'after deregistration')
})
