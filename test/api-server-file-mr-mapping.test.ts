import t from 'tap'
import { Access, ErrorCodes, launchCluster, SendFlags, WcOpcode, WcStatus, WrOpcode, type FileMapping, type MemStatsReply } from '../src/index.ts'

// The library's ServerSession.regFile with the mapping the file MR stands for,
// as mm/gup.c check_vma_flags() judges a FOLL_LONGTERM | FOLL_WRITE pin under
// policy upstream: a writable MAP_SHARED mapping of a page-cached file needs
// dirty tracking (mm/mmap.c vma_needs_dirty_tracking), so it is EFAULT; a
// MAP_PRIVATE one breaks COW (mm/memory.c do_wp_page) and pins anonymous
// copies, which the NIC then reads and writes while the file stays as it was.
// FS-DAX stays EOPNOTSUPP whatever the mapping.
const PAGE = 4096
const RW = Access.LOCAL_WRITE | Access.REMOTE_WRITE | Access.REMOTE_READ

t.test('api - ServerSession.regFile mapping: writable shared page-cache file MR EFAULT under upstream, mapping private pinned (COW copies)', async (t) => {
  const cl = await launchCluster({ name: 'api-mapping', logLevel: 'warn', nodes: [{ id: 'server0', role: 'server', server: { workers: 0, policy: 'upstream' } }] }, { runDir: t.testdir() })
  t.teardown(() => cl.stop())
  const srv = cl.host.server('server0')
  await srv.fs.create('P.dat', { dax: false })
  await srv.fs.write('P.dat', 0, new Uint8Array(2 * PAGE).fill(0x22))
  await srv.fs.create('D.dat', { dax: true })
  await srv.fs.write('D.dat', 0, new Uint8Array(PAGE).fill(0x33))
  const pd = await srv.allocPd()
  await srv.listen(4791, { pd })
  const held = (s: MemStatsReply): number => s.pins.nr_foll_pin_acquired - s.pins.nr_foll_pin_released
  const base = held(await srv.stats())
  const reg = (access: number, mapping?: FileMapping) => srv.regFile(pd, 'P.dat', { length: 2 * PAGE, access, ...(mapping ? { mapping } : {}) })

  await t.rejects(reg(RW), { code: ErrorCodes.EFAULT }, 'default mapping (shared), writable: EFAULT')
  await t.rejects(reg(RW, 'shared'), { code: ErrorCodes.EFAULT }, "mapping 'shared', writable: EFAULT")
  await t.rejects(srv.regFile(pd, 'D.dat', { length: PAGE, access: RW, mapping: 'private' }), { code: ErrorCodes.EOPNOTSUPP }, "DAX: EOPNOTSUPP even with mapping 'private'")
  const ro = await reg(Access.REMOTE_READ, 'shared')
  t.equal(held(await srv.stats()) - base, 2, "read-only shared: the file's two pages pinned")
  await ro.dereg()

  const mr = await reg(RW, 'private')
  t.same([mr.length, mr.access, mr.pd], [2 * PAGE, RW, pd], "writable, mapping 'private': registered")
  const s0 = await srv.stats()
  t.equal(s0.policy.pinRefusedPageCache, 2, 'the two EFAULTs counted')
  t.equal(held(s0) - base, 2, 'two pins held (on the copies)')

  // The NIC reads the file's bytes through the copies and writes into them; the file never sees it.
  const conn = await cl.host.cm.connect('server0', 4791)
  const local = conn.pd.regMr(new Uint8Array(2 * PAGE), Access.LOCAL_WRITE)
  conn.qp.postSend({ wrId: 1, opcode: WrOpcode.RDMA_READ, sgList: [local.sge(0, PAGE)], remoteAddr: mr.addr, rkey: mr.rkey, sendFlags: SendFlags.SIGNALED })
  t.match(await conn.cq.next(), { wrId: 1, status: WcStatus.SUCCESS, opcode: WcOpcode.RDMA_READ }, 'READ completes')
  t.ok(local.buffer.subarray(0, PAGE).every((b) => b === 0x22), "READ returns the file's bytes (copied at registration)")
  const data = Uint8Array.from({ length: PAGE }, (_, i) => (i * 13 + 5) & 0xff)
  local.buffer.set(data, PAGE)
  conn.qp.postSend({ wrId: 2, opcode: WrOpcode.RDMA_WRITE, sgList: [local.sge(PAGE, PAGE)], remoteAddr: mr.addr + PAGE, rkey: mr.rkey, sendFlags: SendFlags.SIGNALED })
  t.match(await conn.cq.next(), { wrId: 2, status: WcStatus.SUCCESS, opcode: WcOpcode.RDMA_WRITE }, 'WRITE completes')
  t.same(await srv.readMr(mr, PAGE, PAGE), data, 'the MR holds the bytes written')
  t.ok((await srv.fs.read('P.dat', PAGE, PAGE)).every((b) => b === 0x22), 'the file does not')

  await conn.disconnect()
  await mr.dereg()
  const s1 = await srv.stats()
  t.equal(held(s1), base, 'every pin released')
  t.equal(s1.oracle.corruptBytes, 0, 'no corruption')
})
