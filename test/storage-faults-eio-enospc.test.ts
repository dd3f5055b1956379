import t from 'tap'
import { startRdmaCluster, connect, pattern, ALL_ACCESS, PMEM_ACCESS, type RdmaCluster } from './helpers/rdma-cluster.ts'
import { serverReq } from './helpers/odp.ts'
import { ErrorCodes } from '../src/errors.ts'
import { QpState, SendFlags, WcStatus, WrOpcode } from '../src/verbs/constants.ts'

// fs.faults on a server: fsync fails with EIO; an RDMA FLUSH is NAKed with a
// remote operational error (REM_OP_ERR at the requester, both data paths);
// ENOSPC refuses every new block (holes, past EOF, fallocate, GUP of holes at
// registration) while existing blocks stay writable. Clearing restores all.
const PAGE = 4096
const S = SendFlags.SIGNALED

/** WRITE then FLUSH over a fresh connection into file `name`: the two completion statuses and the QP state after. */
async function writeThenFlush(rc: RdmaCluster, name: string): Promise<{ write: number; flush: number; qpState: number }> {
  const req = serverReq(rc)
  const c = await connect(rc, { serverBytes: 0 })
  const mr = await req('verbs.mr.regFile', { pd: c.serverPd, file: name, offset: 0, length: 4 * PAGE, access: PMEM_ACCESS })
  const local = rc.local.device.regMr(c.pd, PAGE, ALL_ACCESS)
  local.memory.view(0, PAGE)!.set(pattern(PAGE, 7))
  c.qp.postSend({ wrId: 1, opcode: WrOpcode.RDMA_WRITE, sgList: [{ addr: local.iova, length: PAGE, lkey: local.stag }], remoteAddr: mr.iova, rkey: mr.stag, sendFlags: S })
  c.qp.postSend({ wrId: 2, opcode: WrOpcode.FLUSH, remoteAddr: mr.iova, rkey: mr.stag, flush: { length: PAGE }, sendFlags: S })
  const write = (await c.cq.next()).status
  const flush = (await c.cq.next()).status
  await req('verbs.mr.dereg', { stag: mr.stag })
  return { write, flush, qpState: c.qp.state }
}

t.test('storage faults - fsync EIO, FLUSH REM_OP_ERR, ENOSPC on allocation; clearing restores', async (t) => {
  const rc = await startRdmaCluster(t, { server: { policy: 'deny' } })
  const req = serverReq(rc)
  await req('fs.create', { name: 'f.dat', dax: true })
  await req('fs.fallocate', { name: 'f.dat', mode: 0, offset: 0, length: 4 * PAGE })
  await req('fs.create', { name: 'cached.dat' })
  await req('fs.write', { name: 'cached.dat', offset: 0, data: pattern(100, 1) })

  await t.test('fsync EIO while set', async (t) => {
    const on = await req('fs.faults', { fsync: 'EIO' })
    t.match(on, { fsync: 'EIO', flush: null, enospc: false }, 'the reply says what is in force')
    await t.rejects(req('fs.fsync', { name: 'cached.dat' }), { code: ErrorCodes.EIO }, 'fsync of a page-cached file: EIO')
    await t.rejects(req('fs.fsync', { name: 'f.dat' }), { code: ErrorCodes.EIO }, 'fsync of a DAX file: EIO')
    t.equal((await req('mem.stats')).fs.dirtyPages > 0, true, 'the dirty page stays dirty (nothing written back)')
    const off = await req('fs.faults', null)
    t.match(off, { fsync: null, fsyncErrors: 2 }, 'cleared; both failures counted')
    const ok = await req('fs.fsync', { name: 'cached.dat' })
    t.ok(ok.written >= 1, 'the next fsync writes the page back')
  })

  await t.test('FLUSH fails with REM_OP_ERR, inline and worker data paths', async (t) => {
    await req('fs.faults', { flush: 'EIO' })
    t.equal((await req('rdma.dataPath', { mode: 'inline' })).mode, 'inline')
    let r = await writeThenFlush(rc, 'f.dat')
    t.equal(r.write, WcStatus.SUCCESS, 'inline: the WRITE before it completes')
    t.equal(r.flush, WcStatus.REM_OP_ERR, 'inline: the FLUSH completes with REM_OP_ERR')
    t.equal(r.qpState, QpState.ERR, 'inline: the requester QP is in ERR')
    t.equal((await req('rdma.dataPath', { mode: 'workers', workers: 1, inlineBatchBytes: 0 })).mode, 'workers')
    r = await writeThenFlush(rc, 'f.dat')
    t.equal(r.write, WcStatus.SUCCESS, 'workers: the WRITE before it completes')
    t.equal(r.flush, WcStatus.REM_OP_ERR, 'workers: the FLUSH completes with REM_OP_ERR')
    const s = await req('mem.stats')
    t.equal(s.storageFaults.flushErrors, 2, 'mem.stats counts both')
    const before = (await rc.cluster.control.request(rc.serverId, 'verbs.counters')) as Record<string, number>
    t.ok((before.errorNaksSent ?? 0) >= 2, 'the responder sent error NAKs')
    await req('fs.faults', { flush: null })
    r = await writeThenFlush(rc, 'f.dat')
    t.equal(r.flush, WcStatus.SUCCESS, 'cleared: FLUSH succeeds again')
    await req('rdma.dataPath', { mode: 'inline' })
  })

  await t.test('ENOSPC on every new block while set; existing blocks writable', async (t) => {
    await req('fs.faults', { enospc: true })
    await req('fs.create', { name: 'new.dat', dax: true })
    await t.rejects(req('fs.write', { name: 'new.dat', offset: 0, data: pattern(10, 2) }), { code: ErrorCodes.ENOSPC }, 'a write past EOF: ENOSPC')
    await t.rejects(req('fs.fallocate', { name: 'new.dat', mode: 0, offset: 0, length: PAGE }), { code: ErrorCodes.ENOSPC }, 'fallocate: ENOSPC')
    await req('fs.truncate', { name: 'new.dat', size: 2 * PAGE })
    await t.rejects(req('fs.write', { name: 'new.dat', offset: PAGE, data: pattern(10, 3) }), { code: ErrorCodes.ENOSPC }, 'a write into a hole: ENOSPC')
    const pd = await rc.server.allocPd()
    await t.rejects(req('verbs.mr.regFile', { pd, file: 'new.dat', offset: 0, length: 2 * PAGE, access: ALL_ACCESS }), { code: ErrorCodes.ENOSPC }, 'registration (GUP of holes): ENOSPC')
    const data = pattern(3 * PAGE, 4)
    t.equal((await req('fs.write', { name: 'f.dat', offset: 0, data })).written, data.length, 'allocated blocks are still writable')
    const s = await req('mem.stats')
    t.match(s.storageFaults, { enospc: true, enospcErrors: 4 }, 'mem.stats: in force, 4 refusals')
    t.equal(s.mrs.file, 0, 'the refused registration left no MR')
    t.equal(s.pins.pinned_frames, 0, 'and no pin')
    await req('fs.faults', { enospc: false })
    t.equal((await req('fs.write', { name: 'new.dat', offset: PAGE, data: pattern(10, 3) })).written, 10, 'cleared: the hole is filled')
    t.match(await req('fs.faults', null), { fsync: null, flush: null, enospc: false }, 'all off')
  })
})
