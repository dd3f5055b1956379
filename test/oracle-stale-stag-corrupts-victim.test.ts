import { serverReq } from './helpers/odp.ts'
import t from 'tap'
import { startRdmaCluster, connect, pattern, ALL_ACCESS } from './helpers/rdma-cluster.ts'
import { SendFlags, WcStatus, WrOpcode } from '../src/verbs/constants.ts'

// Acceptance 5: the blocks behind a live STag are freed behind its back
// (test-only path: no pin or policy stops it), the LIFO allocator hands them
// to file B, and a WRITE through the old STag lands in B. The oracle names B
// as the victim with the exact byte count, and B's contents really changed.
const PAGE = 4096
const S = SendFlags.SIGNALED

t.test('oracle - a WRITE through a stale file STag is charged to the file that reused the blocks', async (t) => {
  // unsafe-gup (pre-4.15 GUP): long-term pins on DAX are allowed and nothing
  // protects the blocks behind them, the case the oracle is there to measure.
  const rc = await startRdmaCluster(t, { server: { policy: 'unsafe-gup' } })
  const req = serverReq(rc)
  const c = await connect(rc, { serverBytes: 0 })
  await req('fs.create', { name: 'A.dat', dax: true })
  await req('fs.fallocate', { name: 'A.dat', mode: 0, offset: 0, length: 2 * PAGE })
  const mr = await req('verbs.mr.regFile', { pd: c.serverPd, file: 'A.dat', offset: 0, length: 2 * PAGE, access: ALL_ACCESS })

  const { blocks } = await req('test.freeBehindMr', { file: 'A.dat' })
  t.equal(blocks.length, 2, "A's two blocks are freed under the pins")
  t.same(await req('fs.extents', { name: 'A.dat' }), [], 'A has no blocks left')

  await req('fs.create', { name: 'B.dat', dax: true })
  const victimData = new Uint8Array(2 * PAGE).fill(0xbb)
  await req('fs.write', { name: 'B.dat', offset: 0, data: victimData })
  const ext = await req('fs.extents', { name: 'B.dat' })
  const bBlocks = ext.flatMap((e) => Array.from({ length: e.len }, (_, i) => e.block + i))
  t.same([...bBlocks].sort(), [...blocks].sort(), "B got exactly A's freed blocks")

  const before = (await req('mem.stats', null)).oracle
  t.equal(before.corruptBytes, 0)

  const local = rc.local.device.regMr(c.pd, 2 * PAGE, ALL_ACCESS)
  const data = pattern(5000, 5)
  local.memory.copyIn(0, data)
  const off = 1000
  c.qp.postSend({ wrId: 1, opcode: WrOpcode.RDMA_WRITE, sgList: [{ addr: local.iova, length: data.length, lkey: local.stag }], remoteAddr: mr.iova + off, rkey: mr.stag, sendFlags: S })
  t.equal((await c.cq.next()).status, WcStatus.SUCCESS, 'the NIC does not know: the WRITE succeeds')

  const r = (await req('mem.stats', null)).oracle
  t.equal(r.corruptBytes, data.length, 'every byte is counted')
  t.equal(r.fileBytes, data.length, '... as landing in another file')
  const victim = r.victims.find((v) => v.victim === 'B.dat')
  t.ok(victim, 'B is named as the victim')
  t.equal(victim?.bytes, data.length)
  t.equal(r.victims.length, 1, 'and no one else')

  // B's bytes really were overwritten (LIFO: A's page 1 block became B's page 0).
  const bNow = await req('fs.read', { name: 'B.dat', offset: 0, length: 2 * PAGE })
  let changed = 0
  for (let i = 0; i < bNow.length; i++) if (bNow[i] !== 0xbb) changed++
  t.ok(changed > 0 && changed <= data.length, `B's contents changed (${changed} bytes differ)`)

  await req('verbs.mr.dereg', { stag: mr.stag })
  const end = (await req('mem.stats', null)).pins
  t.equal(end.nr_foll_pin_acquired, end.nr_foll_pin_released, 'pins acquired == released')
})
