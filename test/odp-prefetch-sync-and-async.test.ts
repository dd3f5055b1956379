import t from 'tap'
import { startRdmaCluster, pattern, ALL_ACCESS } from './helpers/rdma-cluster.ts'
import { assertClean, buf, connectTo, dropPages, odpQuery, Op, PAGE, post, serverReq, stats } from './helpers/odp.ts'
import { Access, WcStatus } from '../src/verbs/constants.ts'
import { ErrorCodes, type EmuError } from '../src/errors.ts'

// ibv_advise_mr: a synchronous prefetch (IB_UVERBS_ADVISE_MR_FLAG_FLUSH)
// returns once the pages are mapped, so the traffic after it takes no fault;
// an asynchronous one returns at once and the pages get mapped behind it.
const PREFETCH = 0
const PREFETCH_WRITE = 1
const PREFETCH_NO_FAULT = 2
const FLUSH = 1
const PAGES = 8

t.test('odp - sync and async prefetch', async (t) => {
  const rc = await startRdmaCluster(t)
  const req = serverReq(rc)
  const pd = await rc.server.allocPd()
  const c = await connectTo(rc, pd, 5301)
  const b = buf(c)

  await t.test('sync prefetch: every page mapped on return, the access after it takes no fault', async (t) => {
    const mr = await rc.server.regMr(pd, PAGES * PAGE, ALL_ACCESS | Access.ON_DEMAND)
    t.equal((await odpQuery(rc, mr.stag)).resident, 0)
    const s0 = await stats(rc)
    const r = await rc.server.adviseMr(mr.stag, PREFETCH_WRITE, FLUSH)
    t.same(r, { pages: PAGES, async: false }, 'mapped all pages before replying')
    const q = await odpQuery(rc, mr.stag)
    t.equal(q.resident, PAGES)
    t.equal(q.prefetched, PAGES)
    const s1 = await stats(rc)
    t.equal(s1.odp.prefetches - s0.odp.prefetches, 1, 'one prefetch counted')
    t.equal(s1.odp.pagesPrefetched - s0.odp.pagesPrefetched, PAGES)
    t.equal(s1.odp.pageFaults, s0.odp.pageFaults, 'a prefetch is not a fault')
    const data = pattern(PAGES * PAGE, 3)
    b.set(data, 0)
    t.equal(await post(c, Op.RDMA_WRITE, mr.iova, mr.stag, data.length), WcStatus.SUCCESS)
    t.equal(await post(c, Op.RDMA_READ, mr.iova, mr.stag, data.length, { localOff: 16 * PAGE }), WcStatus.SUCCESS)
    t.same(Buffer.from(b.subarray(16 * PAGE, 16 * PAGE + data.length)), Buffer.from(data))
    t.equal((await stats(rc)).odp.pageFaults, s1.odp.pageFaults, 'no new fault after the sync prefetch')
    await rc.server.deregMr(mr.stag)
  })

  await t.test('async prefetch: returns at once, the pages get mapped in the background', async (t) => {
    const mr = await rc.server.regMr(pd, PAGES * PAGE, ALL_ACCESS | Access.ON_DEMAND)
    const r = await rc.server.adviseMr(mr.stag, PREFETCH, 0)
    t.equal(r.async, true, 'replied without waiting')
    const deadline = Date.now() + 5000
    let q = await odpQuery(rc, mr.stag)
    while (q.resident < PAGES && Date.now() < deadline) {
      await new Promise((res) => setTimeout(res, 10))
      q = await odpQuery(rc, mr.stag)
    }
    t.equal(q.resident, PAGES, 'eventually every page is mapped')
    const f0 = (await stats(rc)).odp.pageFaults
    t.equal(await post(c, Op.RDMA_WRITE, mr.iova, mr.stag, PAGES * PAGE), WcStatus.SUCCESS)
    t.equal((await stats(rc)).odp.pageFaults, f0, 'no fault after the async prefetch landed')

    // PREFETCH_NO_FAULT maps what is present in the CPU page table, no more.
    await dropPages(rc, mr.stag, 'unmap', { offset: 0, length: 2 * PAGE })
    const nf = await rc.server.adviseMr(mr.stag, PREFETCH_NO_FAULT, FLUSH, [{ offset: 0, length: 2 * PAGE }])
    t.equal(nf.pages, 2, 'NO_FAULT re-mapped the two present pages')
    await rc.server.deregMr(mr.stag)
  })

  await t.test('sync prefetch of a file MR allocates the holes; past EOF is EFAULT', async (t) => {
    await req('fs.create', { name: 'P.dat', dax: true })
    await req('fs.truncate', { name: 'P.dat', size: 4 * PAGE }) // sparse: all holes
    const mr = await req('verbs.mr.regFile', { pd, file: 'P.dat', offset: 0, length: 6 * PAGE, access: ALL_ACCESS | Access.ON_DEMAND })
    t.same(await req('fs.extents', { name: 'P.dat' }), [], 'no blocks before the prefetch')
    const r = await rc.server.adviseMr(mr.stag, PREFETCH_WRITE, FLUSH, [{ offset: 0, length: 4 * PAGE }])
    t.equal(r.pages, 4)
    const ext = await req('fs.extents', { name: 'P.dat' })
    t.equal(ext.reduce((n, e) => n + e.len, 0), 4, 'the holes got blocks, as a write fault would')
    const f0 = (await stats(rc)).odp.pageFaults
    b.set(pattern(4 * PAGE, 5), 0)
    t.equal(await post(c, Op.RDMA_WRITE, mr.iova, mr.stag, 4 * PAGE), WcStatus.SUCCESS)
    t.equal((await stats(rc)).odp.pageFaults, f0, 'no fault after the prefetch')
    const past = (await rc.server.adviseMr(mr.stag, PREFETCH, FLUSH, [{ offset: 4 * PAGE, length: PAGE }]).catch((e: unknown) => e)) as EmuError
    t.equal(past.code, ErrorCodes.EFAULT, 'prefetch past EOF: EFAULT')
    await req('verbs.mr.dereg', { stag: mr.stag })
  })

  await t.test('bad advice, flags, ranges and non-ODP MRs are refused', async (t) => {
    const odp = await rc.server.regMr(pd, PAGE, ALL_ACCESS | Access.ON_DEMAND)
    const pinned = await rc.server.regMr(pd, PAGE, ALL_ACCESS)
    const ro = await rc.server.regMr(pd, PAGE, Access.REMOTE_READ | Access.ON_DEMAND)
    const code = async (p: Promise<unknown>) => ((await p.catch((e: unknown) => e)) as EmuError).code
    t.equal(await code(rc.server.adviseMr(odp.stag, 7, FLUSH)), ErrorCodes.EINVAL, 'unknown advice')
    t.equal(await code(rc.server.adviseMr(odp.stag, PREFETCH, 2)), ErrorCodes.EINVAL, 'unknown flag')
    t.equal(await code(rc.server.adviseMr(odp.stag, PREFETCH, FLUSH, [{ offset: 0, length: 2 * PAGE }])), ErrorCodes.EFAULT, 'range outside the MR')
    t.equal(await code(rc.server.adviseMr(pinned.stag, PREFETCH, FLUSH)), ErrorCodes.EINVAL, 'not an ODP MR')
    t.equal(await code(rc.server.adviseMr(ro.stag, PREFETCH_WRITE, FLUSH)), ErrorCodes.EFAULT, 'PREFETCH_WRITE without write access')
    t.equal((await rc.server.adviseMr(ro.stag, PREFETCH, FLUSH)).pages, 1, 'PREFETCH of a read-only MR is fine')
    for (const m of [odp, pinned, ro]) await rc.server.deregMr(m.stag)
  })

  assertClean(t, await stats(rc), 'at the end')
})
