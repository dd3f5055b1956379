import t from 'tap'
import { ALL_ACCESS } from './helpers/rdma-cluster.ts'
import { allBytes, fileBlocks, keepWriting, makeFile, PAGE, policyRig, writesLand } from './helpers/policy.ts'
import { Access, WcStatus, WrOpcode } from '../src/verbs/constants.ts'
import { ErrorCodes } from '../src/errors.ts'
import type { LeaseInfo } from '../src/memory/index.ts'

// Policy layout-lease (seeds 001-003, F_LAYOUT): a file MR needs the file's
// exclusive layout lease, held by the node that registers it. A truncate of
// the file breaks the lease: the holder gets a lease-break notice over the
// fabric and must finish its I/O, deregister and unlock. A complying holder
// does, and the truncate completes. One that ignores the notice has its lease
// revoked after leaseBreakTimeMs: the STag is invalidated, its QP goes to ERR
// with REM_ACCESS_ERR, the pins drop, and the truncate completes. No byte of
// RDMA lands in the blocks the file gave up, either way.
const BREAK_MS = 1500

t.test('policy layout-lease - lease rules, lease break with a complying holder, revocation of one that ignores it', async (t) => {
  const rig = await policyRig(t, { policy: 'layout-lease', leaseBreakTimeMs: BREAK_MS })
  const { req, client } = rig
  const reg = (file: string, access = ALL_ACCESS) => client.regServerFile('server0', { pd: rig.pd, file, offset: 0, length: 4 * PAGE, access })

  await t.test('registration needs the lease; bad lease requests get clear errors', async (t) => {
    await makeFile(rig, 'A.dat', 4, 0x11)
    await t.rejects(reg('A.dat'), { code: ErrorCodes.EACCES }, 'no lease: the long-term pin is not permitted (EACCES)')
    await t.rejects(client.leaseFile('server0', 'nope.dat'), { code: ErrorCodes.ENOENT }, 'lease on an unknown file: ENOENT')
    await t.rejects(req('fs.lease', {}), { code: ErrorCodes.BAD_MESSAGE, details: { field: 'file' } }, 'lease without a file name: refused at the boundary, naming the field')
    t.match(await client.leaseFile('server0', 'A.dat'), { file: 'A.dat', holder: 'client0', breakTimeMs: BREAK_MS }, 'client0 takes the exclusive layout lease')
    t.match(await client.leaseFile('server0', 'A.dat'), { holder: 'client0' }, 'asking again is harmless')
    await t.rejects(req('fs.lease', { file: 'A.dat' }), { code: ErrorCodes.EAGAIN }, 'another node asking: EAGAIN (exclusive)')
    await t.rejects(req('fs.unlease', { file: 'A.dat' }), { code: ErrorCodes.EACCES }, 'unlock by a non-holder: EACCES')
    await t.rejects(req('verbs.mr.regFile', { pd: rig.pd, file: 'A.dat', offset: 0, length: PAGE, access: ALL_ACCESS }), { code: ErrorCodes.EACCES }, 'a pin by a non-holder: EACCES')
    const odp = await req('verbs.mr.regFile', { pd: rig.pd, file: 'A.dat', offset: 0, length: PAGE, access: ALL_ACCESS | Access.ON_DEMAND })
    t.ok(odp.access & Access.ON_DEMAND, 'an ODP MR needs no lease (no pin)')
    await req('verbs.mr.dereg', { stag: odp.stag })
    const mr = await reg('A.dat')
    t.same((await req('mem.pinCounts', { file: 'A.dat' })).pins, [1, 1, 1, 1], 'the holder registers: every page pinned')
    await t.rejects(client.unleaseFile('server0', 'A.dat'), { code: ErrorCodes.EBUSY }, 'unlock while its MR holds pins: EBUSY')
    await t.rejects(req('fs.unlease', { file: 'P.dat' }), { code: ErrorCodes.ENOENT }, 'unlock of an unknown file: ENOENT')
    await makeFile(rig, 'P.dat', 1, 0)
    await t.rejects(req('fs.unlease', { file: 'P.dat' }), { code: ErrorCodes.EINVAL }, 'unlock of a file without a lease: EINVAL')
    await t.rejects(client.setLeaseMode('sometimes' as never), { code: ErrorCodes.BAD_MESSAGE, details: { field: 'mode' } }, 'unknown lease mode: refused at the boundary')
    await client.deregServerMr('server0', mr.stag)
    await client.unleaseFile('server0', 'A.dat')
    t.same(await req('mem.leases'), [], 'no lease left')
    const p = await rig.policy()
    t.same([p.pinRefusedNoLease, p.leases.granted, p.leases.released, p.leases.breaks], [2, 1, 1, 0], 'refusals and leases counted')
    t.ok(await req('ping', 'still here'), 'the server still answers')
  })

  await t.test('a truncate breaks the lease; the complying holder stops, deregisters, unlocks; the truncate completes', async (t) => {
    await client.leaseFile('server0', 'A.dat')
    const mr = await reg('A.dat')
    const aBlocks = await fileBlocks(rig, 'A.dat')
    const qpn = await rig.connect()
    const writing = keepWriting(rig, qpn, mr)
    await writesLand(rig)

    const t0 = Date.now()
    await req('fs.truncate', { name: 'A.dat', size: PAGE }, 10_000)
    const took = Date.now() - t0
    t.ok(took < BREAK_MS, `the truncate completed in ${took} ms, before the break time ran out`)
    const r = await writing
    t.ok(r.stopped, `the holder stopped its workload after ${r.completed} WRITEs`)
    t.match(r.stopReason, /lease/, 'because of the lease break')
    t.same([r.errors, r.completed], [0, r.posted], 'every WRITE it had posted completed successfully')

    const status = await client.leaseStatus()
    const notice = status.notices.find((n) => n.file === 'A.dat')!
    t.match(notice, { server: 'server0', stags: [mr.stag], deadlineMs: BREAK_MS, op: 'truncate', mode: 'comply', state: 'released', workloadsStopped: 1, mrsDeregistered: 1 }, 'the notice named the MR; the holder gave it back')
    await t.rejects(client.postSend(qpn, [{ wrId: 1, opcode: WrOpcode.RDMA_WRITE, remoteAddr: mr.iova, rkey: mr.stag }]), { code: ErrorCodes.EACCES }, 'the holder posts nothing more on that STag')

    const st = await req('fs.stat', { name: 'A.dat' })
    t.same([st.size, st.blocks, st.retained], [PAGE, 1, 0], 'A shrank and gave up its blocks')
    await makeFile(rig, 'B.dat', 3, 0xbb)
    t.same([...(await fileBlocks(rig, 'B.dat'))].sort(), [...aBlocks.slice(1)].sort(), "B got A's freed blocks (LIFO)")
    const s = await rig.stats()
    t.equal(s.oracle.corruptBytes, 0, 'no byte landed outside A')
    t.ok(await allBytes(rig, 'B.dat', 0, 3 * PAGE, 0xbb), 'B is intact')
    t.equal(s.pins.nr_foll_pin_acquired, s.pins.nr_foll_pin_released, 'pins acquired == released')
    t.same([s.policy.leases.breaks, s.policy.leases.breaksReleased, s.policy.leases.revocations], [1, 1, 0], 'one break, released in time, no revocation')
    t.equal(s.policy.layoutWaited, 1, 'the truncate waited for the break')
    t.ok(s.policy.layoutWaitMs >= 0 && s.policy.layoutWaitMs < BREAK_MS, `for ${s.policy.layoutWaitMs} ms`)
    t.same(await req('mem.leases'), [], 'the lease is gone')
  })

  await t.test('a holder that ignores the break is revoked after leaseBreakTimeMs: REM_ACCESS_ERR, QP in ERR, no corruption', async (t) => {
    await makeFile(rig, 'C.dat', 4, 0x33)
    await client.setLeaseMode('ignore')
    await client.leaseFile('server0', 'C.dat')
    const mr = await reg('C.dat')
    const cBlocks = await fileBlocks(rig, 'C.dat')
    const qpn = await rig.connect()
    const idle = await rig.connect() // a second QP of the holder in the same PD, posting nothing
    const writing = keepWriting(rig, qpn, mr)
    await writesLand(rig)
    const before = await rig.stats()

    const t0 = Date.now()
    const truncating = req('fs.truncate', { name: 'C.dat', size: PAGE }, 10_000)
    const breaking: LeaseInfo[] = await req('mem.leases')
    await truncating
    const took = Date.now() - t0
    t.match(breaking, [{ file: 'C.dat', holder: 'client0', breaking: true }], 'while the truncate waits, the lease is being broken')
    t.ok(took >= BREAK_MS - 100, `the truncate waited out the break time (${took} ms)`)

    const r = await writing
    t.equal(r.stopped, false, 'the holder did not stop by itself')
    t.ok(r.errors >= 1, `its WRITE stream failed after ${r.completed} completions`)
    t.equal(r.firstError, WcStatus.REM_ACCESS_ERR, 'with REM_ACCESS_ERR')
    t.equal((await client.queryQp(qpn)).stateName, 'ERR', 'its QP is in ERR')
    t.equal((await client.queryQp(idle)).stateName, 'ERR', 'so is its idle QP that could use the MR (same PD): the server NAKed it')
    const status = await client.leaseStatus()
    t.match(status.notices.find((n) => n.file === 'C.dat'), { mode: 'ignore', state: 'ignored', stags: [mr.stag] }, 'it got the notice and ignored it')
    t.match(status.revocations.find((x) => x.file === 'C.dat'), { server: 'server0', stags: [mr.stag] }, 'it was told of the revocation')

    // The revoked STag is dead for good: a new QP gets REM_ACCESS_ERR too.
    const qpn2 = await rig.connect()
    const again = await client.workload(qpn2, 1000, { opcode: WrOpcode.RDMA_WRITE, count: 1, window: 1, size: 1000, remoteAddr: mr.iova, rkey: mr.stag })
    t.same([again.errors, again.firstError], [1, WcStatus.REM_ACCESS_ERR], 'a WRITE through the revoked STag: REM_ACCESS_ERR')

    await makeFile(rig, 'D.dat', 3, 0xdd)
    t.same([...(await fileBlocks(rig, 'D.dat'))].sort(), [...cBlocks.slice(1)].sort(), "D got C's freed blocks")
    const s = await rig.stats()
    t.equal(s.oracle.corruptBytes, 0, 'no byte landed outside C')
    t.ok(await allBytes(rig, 'D.dat', 0, 3 * PAGE, 0xdd), 'D is intact')
    t.equal(s.pins.nr_foll_pin_acquired, s.pins.nr_foll_pin_released, 'the revocation dropped the pins')
    t.equal(s.mrs.file, 0, 'the MR is gone')
    t.equal(s.policy.leases.breaks - before.policy.leases.breaks, 1, 'one more break')
    t.equal(s.policy.leases.revocations, 1, 'revoked')
    t.equal(s.policy.leases.revokedMrs, 1, 'one MR invalidated')
    t.ok(s.policy.leases.revokedQps >= 1, `${s.policy.leases.revokedQps} QP(s) moved to ERR by the revocation`)
    t.ok(s.policy.layoutWaitMs - before.policy.layoutWaitMs >= BREAK_MS - 100, 'the wait is counted')
    t.same(await req('mem.leases'), [], 'no lease left')
    t.match(await req('fs.lease', { file: 'C.dat' }), { holder: '@launcher' }, 'the file can be leased again')
    await req('fs.unlease', { file: 'C.dat' })
    await client.setLeaseMode('comply')
  })
})
