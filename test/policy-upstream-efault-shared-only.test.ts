import t from 'tap'
import { startRdmaCluster, connect, pattern, ALL_ACCESS } from './helpers/rdma-cluster.ts'
import { serverReq } from './helpers/odp.ts'
import { ErrorCodes } from '../src/errors.ts'
import { Access, SendFlags, WcStatus, WrOpcode } from '../src/verbs/constants.ts'

// Policy upstream, as mm/gup.c check_vma_flags() has it: FOLL_LONGTERM on
// FS-DAX is EOPNOTSUPP whatever the mapping; FOLL_WRITE | FOLL_LONGTERM is
// EFAULT only where writable_file_mapping_allowed() says no, i.e. where
// vma_needs_dirty_tracking() holds: a shared, writable file mapping. A
// MAP_PRIVATE registration is allowed: its writable pin breaks COW, so the
// NIC writes into anonymous copies and the file is untouched. MW_BIND alone
// makes an MR writable (include/rdma/ib_verbs.h ib_access_writable).
const PAGE = 4096

t.test('policy upstream - EFAULT only for a writable shared file mapping (check_vma_flags, vma_needs_dirty_tracking); MAP_PRIVATE pins a COW copy; MW_BIND is writable (ib_access_writable)', async (t) => {
  const rc = await startRdmaCluster(t, { server: { policy: 'upstream' } })
  const req = serverReq(rc)
  const c = await connect(rc, { serverBytes: PAGE })
  await req('fs.create', { name: 'P.dat', dax: false })
  await req('fs.write', { name: 'P.dat', offset: 0, data: new Uint8Array(2 * PAGE).fill(0x22) })
  await req('fs.create', { name: 'D.dat', dax: true })
  await req('fs.write', { name: 'D.dat', offset: 0, data: new Uint8Array(PAGE).fill(0x33) })
  const held = (s: { pins: { nr_foll_pin_acquired: number; nr_foll_pin_released: number } }) => s.pins.nr_foll_pin_acquired - s.pins.nr_foll_pin_released
  const base = held(await req('mem.stats')) // the connection's own anonymous MR
  const reg = (file: string, access: number, mapping?: 'shared' | 'private') => req('verbs.mr.regFile', { pd: c.serverPd, file, offset: 0, length: 2 * PAGE, access, ...(mapping ? { mapping } : {}) })

  await t.rejects(reg('P.dat', ALL_ACCESS), { code: ErrorCodes.EFAULT }, 'default mapping (shared), writable: EFAULT')
  await t.rejects(reg('P.dat', ALL_ACCESS, 'shared'), { code: ErrorCodes.EFAULT }, 'shared, writable: EFAULT')
  await t.rejects(reg('P.dat', Access.REMOTE_READ | Access.MW_BIND, 'shared'), { code: ErrorCodes.EFAULT }, 'MW_BIND alone is writable: EFAULT')
  await t.rejects(req('verbs.mr.regFile', { pd: c.serverPd, file: 'D.dat', offset: 0, length: PAGE, access: ALL_ACCESS, mapping: 'private' }), { code: ErrorCodes.EOPNOTSUPP }, 'DAX: EOPNOTSUPP even when private')
  const ro = await reg('P.dat', Access.REMOTE_READ, 'shared')
  t.same((await req('mem.pinCounts', { file: 'P.dat' })).pins, [1, 1], 'read-only shared: the page-cache pages are pinned')
  await req('verbs.mr.dereg', { stag: ro.stag })

  const priv = await reg('P.dat', ALL_ACCESS, 'private')
  t.ok(priv.stag, 'writable MAP_PRIVATE: registered')
  t.same((await req('mem.pinCounts', { file: 'P.dat' })).pins, [0, 0], "the file's own pages carry no pin (COW copies do)")
  const s0 = await req('mem.stats')
  t.equal(s0.policy.pinRefusedPageCache, 3, 'the three EFAULTs counted')
  t.equal(held(s0) - base, 2, 'two pins held, on the copies')

  // The NIC reads the file's bytes through the copy and writes into the copy.
  const local = rc.local.device.regMr(c.pd, 2 * PAGE, ALL_ACCESS)
  const buf = local.memory.view(0, 2 * PAGE)!
  c.qp.postSend({ wrId: 1, opcode: WrOpcode.RDMA_READ, sgList: [{ addr: local.iova, length: PAGE, lkey: local.stag }], remoteAddr: priv.iova, rkey: priv.stag, sendFlags: SendFlags.SIGNALED })
  t.equal((await c.cq.next()).status, WcStatus.SUCCESS)
  t.ok(buf.subarray(0, PAGE).every((b) => b === 0x22), "READ returns the file's bytes (copied at registration)")
  const data = pattern(PAGE, 9)
  buf.set(data, 0)
  c.qp.postSend({ wrId: 2, opcode: WrOpcode.RDMA_WRITE, sgList: [{ addr: local.iova, length: PAGE, lkey: local.stag }], remoteAddr: priv.iova + PAGE, rkey: priv.stag, sendFlags: SendFlags.SIGNALED })
  t.equal((await c.cq.next()).status, WcStatus.SUCCESS, 'WRITE into the private MR succeeds')
  t.ok((await req('fs.read', { name: 'P.dat', offset: PAGE, length: PAGE })).every((b: number) => b === 0x22), 'the file never sees it')
  await req('fs.truncate', { name: 'P.dat', size: 0 }, 5000)
  const s1 = await req('mem.stats')
  t.equal(s1.oracle.corruptBytes, 0, 'no corruption: the copies are anonymous memory')
  await req('verbs.mr.dereg', { stag: priv.stag })
  const s2 = await req('mem.stats')
  t.equal(held(s2), base, 'every pin of the file MRs released')
  t.equal(s2.freeRamFrames, s1.freeRamFrames + 2, 'the two copies are freed')
})
