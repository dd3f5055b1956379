import t from 'tap'
import { ALL_ACCESS } from './helpers/rdma-cluster.ts'
import { allBytes, fileBlocks, keepWriting, makeFile, PAGE, policyRig, sleep, writesLand } from './helpers/policy.ts'
import { Access, WcStatus } from '../src/verbs/constants.ts'
import { ErrorCodes } from '../src/errors.ts'

// Policy upstream (Linux today, the default): a long-term pin of a DAX file
// is refused (EOPNOTSUPP), a writable one of a page-cached file too (EFAULT);
// read-only page-cache pins and ODP MRs are fine. A truncate over pinned DAX
// pages (here a short-term pin, as direct I/O in flight holds) waits until
// the pins drop, however long (dax_layout_busy_page / break_layouts). The ODP
// MR the client writes through meanwhile is invalidated when the truncate
// goes through: no corruption.
t.test('policy upstream - long-term pins refused on DAX and writable page cache; truncate waits for pins', async (t) => {
  const rig = await policyRig(t, { policy: 'upstream' })
  const { req, client } = rig
  await makeFile(rig, 'A.dat', 4, 0x11)
  await makeFile(rig, 'P.dat', 2, 0x22, false)
  const aBlocks = await fileBlocks(rig, 'A.dat')
  const reg = (file: string, access: number, length = 2 * PAGE) => client.regServerFile('server0', { pd: rig.pd, file, offset: 0, length, access })

  await t.test('registration', async (t) => {
    await t.rejects(reg('A.dat', ALL_ACCESS), { code: ErrorCodes.EOPNOTSUPP }, 'long-term pin of a DAX file: EOPNOTSUPP')
    await t.rejects(reg('A.dat', Access.REMOTE_READ), { code: ErrorCodes.EOPNOTSUPP }, '... read-only as well')
    await t.rejects(reg('P.dat', ALL_ACCESS), { code: ErrorCodes.EFAULT }, 'writable long-term pin of a page-cached file: EFAULT')
    const ro = await reg('P.dat', Access.REMOTE_READ)
    t.same((await req('mem.pinCounts', { file: 'P.dat' })).pins, [1, 1], 'a read-only one on the page cache is pinned')
    await client.deregServerMr('server0', ro.stag)
    const odp = await reg('A.dat', ALL_ACCESS | Access.ON_DEMAND)
    t.ok(odp.access & Access.ON_DEMAND, 'an ODP MR over the DAX file is fine (no pin)')
    await client.deregServerMr('server0', odp.stag)
    const p = await rig.policy()
    t.same([p.pinRefusals, p.pinRefusedDax, p.pinRefusedPageCache, p.pinRefusedNoLease], [3, 2, 1, 0], 'refusals counted by kind')
    t.equal((await req('fs.stat', { name: 'A.dat' })).blocks, 4, 'a refused registration allocated nothing')
  })

  await t.test('truncate under RDMA waits for the pins', async (t) => {
    const mr = await reg('A.dat', ALL_ACCESS | Access.ON_DEMAND, 4 * PAGE)
    const qpn = await rig.connect()
    const writing = keepWriting(rig, qpn, mr)
    await writesLand(rig)
    // Direct I/O in flight on page 2: a short-term FOLL_PIN.
    const { handle } = await req('mem.pinPages', { file: 'A.dat', offset: 2 * PAGE, length: PAGE })
    let done = false
    const truncating = req('fs.truncate', { name: 'A.dat', size: PAGE }, 30_000).then(() => { done = true })
    await sleep(400)
    t.equal(done, false, 'the truncate is still waiting after 400 ms')
    t.equal((await req('fs.stat', { name: 'A.dat' })).size, 4 * PAGE, 'A is unchanged meanwhile')
    t.equal((await rig.policy()).layoutWaiting, 1, 'one layout change waiting')
    await req('mem.unpinPages', { handle })
    await truncating
    t.equal((await req('fs.stat', { name: 'A.dat' })).size, PAGE, 'the pin dropped: the truncate completed')
    const p = await rig.policy()
    t.equal(p.layoutWaited, 1, 'counted as a wait')
    t.ok(p.layoutWaitMs >= 350, `for ${p.layoutWaitMs} ms`)
    t.equal(p.layoutWaiting, 0)

    const r = await writing
    t.equal(r.firstError, WcStatus.REM_ACCESS_ERR, `the client's next WRITE past EOF failed (REM_ACCESS_ERR) after ${r.completed} completions`)
    await makeFile(rig, 'B.dat', 3, 0xbb)
    t.same([...(await fileBlocks(rig, 'B.dat'))].sort(), [...aBlocks.slice(1)].sort(), "B got A's freed blocks")
    const s = await rig.stats()
    t.equal(s.oracle.corruptBytes, 0, 'no byte landed outside A')
    t.ok(await allBytes(rig, 'B.dat', 0, 3 * PAGE, 0xbb), 'B is intact')
    t.equal(s.pins.nr_foll_pin_acquired, s.pins.nr_foll_pin_released, 'pins acquired == released')
    t.equal(s.pins.longterm_acquired, 2, "the only long-term pins ever taken: the read-only page-cache MR's two")
    await client.deregServerMr('server0', mr.stag)
  })

  await t.test('bad input', async (t) => {
    await t.rejects(req('fs.lease', { file: 'A.dat' }), { code: ErrorCodes.EOPNOTSUPP }, 'layout leases need policy layout-lease')
    await t.rejects(req('mem.unpinPages', { handle: 12345 }), { code: ErrorCodes.ENOENT }, 'unknown short-term pin')
    await t.rejects(req('mem.pinPages', { file: 'nope.dat', offset: 0, length: PAGE }), { code: ErrorCodes.ENOENT })
    await t.rejects(reg('nope.dat', ALL_ACCESS), { code: ErrorCodes.ENOENT }, 'unknown file')
    t.ok(await req('ping', 'still here'), 'the server still answers')
  })
})
