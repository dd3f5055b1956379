import { serverReq } from './helpers/odp.ts'
import t from 'tap'
import { startRdmaCluster, connect, pattern, ALL_ACCESS } from './helpers/rdma-cluster.ts'
import { SendFlags, WcStatus, WrOpcode } from '../src/verbs/constants.ts'

// A file-backed STag: RDMA lands in the file's blocks (DAX) or page-cache
// pages, and the filesystem API on the server sees the same bytes.
const PAGE = 4096
const S = SendFlags.SIGNALED

t.test('mr - file-backed STag and the filesystem see the same bytes', async (t) => {
  // Long-term pins on DAX and writable ones on page-cached files: a policy that
  // allows them (upstream refuses both); deny also keeps any truncate off them.
  const rc = await startRdmaCluster(t, { server: { policy: 'deny' } })
  const c = await connect(rc, { serverBytes: PAGE })
  const req = serverReq(rc)
  const dev = rc.local.device
  const local = dev.regMr(c.pd, 64 * 1024, ALL_ACCESS)
  const buf = local.memory.view(0, 64 * 1024)!

  for (const dax of [true, false]) {
    const kind = dax ? 'DAX' : 'page-cached'
    const name = `data-${kind}.dat`
    await req('fs.create', { name, dax })
    await req('fs.fallocate', { name, mode: 0, offset: 0, length: 4 * PAGE })
    // Starts mid-page and spans pages: copies split at page boundaries.
    const regOff = 1000
    const regLen = 3 * PAGE - 500
    const mr = await req('verbs.mr.regFile', { pd: c.serverPd, file: name, offset: regOff, length: regLen, access: ALL_ACCESS })
    t.equal(mr.length, regLen)

    await t.test(`mr - ${kind} file-backed write visible through the fs`, async (t) => {
      const data = pattern(10_000, 3)
      buf.set(data, 0)
      c.qp.postSend({ wrId: 1, opcode: WrOpcode.RDMA_WRITE, sgList: [{ addr: local.iova, length: data.length, lkey: local.stag }], remoteAddr: mr.iova + 7, rkey: mr.stag, sendFlags: S })
      t.equal((await c.cq.next()).status, WcStatus.SUCCESS)
      const got = await req('fs.read', { name, offset: regOff + 7, length: data.length })
      t.same(Buffer.from(got), Buffer.from(data), 'fs.read returns what the client wrote')
    })

    await t.test(`mr - ${kind} server fs.write is READ back by the client`, async (t) => {
      const data = pattern(5000, 4)
      await req('fs.write', { name, offset: regOff + 2000, data })
      buf.fill(0)
      c.qp.postSend({ wrId: 2, opcode: WrOpcode.RDMA_READ, sgList: [{ addr: local.iova, length: data.length, lkey: local.stag }], remoteAddr: mr.iova + 2000, rkey: mr.stag, sendFlags: S })
      t.equal((await c.cq.next()).status, WcStatus.SUCCESS)
      t.same(Buffer.from(buf.subarray(0, data.length)), Buffer.from(data))
    })

    await t.test(`mr - ${kind} FETCH_ADD lands in the file`, async (t) => {
      // Page-aligned word at file offset 2*PAGE (region offset 2*PAGE - regOff).
      const off = 2 * PAGE - regOff
      const le = new Uint8Array(8)
      new DataView(le.buffer).setBigUint64(0, 40n, true)
      await req('fs.write', { name, offset: 2 * PAGE, data: le })
      c.qp.postSend({ wrId: 3, opcode: WrOpcode.ATOMIC_FETCH_AND_ADD, sgList: [{ addr: local.iova, length: 8, lkey: local.stag }], remoteAddr: mr.iova + off, rkey: mr.stag, compareAdd: 2n, sendFlags: S })
      t.equal((await c.cq.next()).status, WcStatus.SUCCESS)
      t.equal(new DataView(buf.buffer, buf.byteOffset, 8).getBigUint64(0, true), 40n, 'returns the old value')
      const word = await req('fs.read', { name, offset: 2 * PAGE, length: 8 })
      t.equal(Buffer.from(word).readBigUInt64LE(0), 42n)
    })

    await req('verbs.mr.dereg', { stag: mr.stag })
  }

  const stats = await req('mem.stats', null)
  t.equal(stats.oracle.corruptEvents, 0, 'no stray DMA')
  t.ok(stats.oracle.checks > 0, 'the data path consulted the oracle')
  t.equal(stats.mrs.file, 0)
  await rc.server.deregMr(c.serverMr.stag)
  const end = await req('mem.stats', null)
  t.equal(end.pins.nr_foll_pin_acquired, end.pins.nr_foll_pin_released, 'pins acquired == released')
})
