import t from 'tap'
import { startRdmaCluster, connect, pattern, ALL_ACCESS } from './helpers/rdma-cluster.ts'
import { serverReq } from './helpers/odp.ts'
import { SendFlags, WcStatus, WrOpcode } from '../src/verbs/constants.ts'

// Seed 001's hazard, with Linux's writeback (writebackMode 'upstream', the
// default; mm/page-writeback.c folio_clear_dirty_for_io -> folio_mkclean):
// fsync writes a pinned page-cache page and cleans it; an RDMA WRITE then
// lands in the clean page, nothing dirties it again, the next fsync writes
// nothing, and a server crash loses the data. The long-term writable pin of a
// shared page-cache mapping needs a policy that allows it (upstream refuses
// it with EFAULT since Linux 6.5 precisely for this): unsafe-gup, the GUP the
// seed was written against.
const PAGE = 4096

t.test('writeback upstream - an RDMA WRITE into a pinned page after writeback cleaned it (folio_mkclean) is lost at a server restart', async (t) => {
  const rc = await startRdmaCluster(t, { server: { policy: 'unsafe-gup', writebackMode: 'upstream' } })
  const req = serverReq(rc)
  const c = await connect(rc, { serverBytes: PAGE })
  const name = 'log.dat'
  await req('fs.create', { name, dax: false })
  await req('fs.write', { name, offset: 0, data: new Uint8Array(PAGE).fill(0x11) })
  await req('fs.fsync', { name })
  const mr = await req('verbs.mr.regFile', { pd: c.serverPd, file: name, offset: 0, length: PAGE, access: ALL_ACCESS })
  const local = rc.local.device.regMr(c.pd, PAGE, ALL_ACCESS)
  const buf = local.memory.view(0, PAGE)!
  const write = async (data: Uint8Array, wrId: number) => {
    buf.set(data, 0)
    c.qp.postSend({ wrId, opcode: WrOpcode.RDMA_WRITE, sgList: [{ addr: local.iova, length: data.length, lkey: local.stag }], remoteAddr: mr.iova, rkey: mr.stag, sendFlags: SendFlags.SIGNALED })
    t.equal((await c.cq.next()).status, WcStatus.SUCCESS, `WRITE ${wrId} acknowledged`)
  }

  await write(pattern(PAGE, 1), 1)
  t.same(await req('fs.fsync', { name }), { written: 1, bounced: 0, skippedPinned: 0 }, 'fsync writes the pinned page (dirty since the write pin) and cleans it')
  const second = pattern(PAGE, 2)
  await write(second, 2)
  t.same(Buffer.from(await req('fs.read', { name, offset: 0, length: PAGE })), Buffer.from(second), 'the page cache has the second WRITE')
  t.same(await req('fs.fsync', { name }), { written: 0, bounced: 0, skippedPinned: 0 }, 'fsync succeeds, writes nothing: the page is clean')
  const s = await req('mem.stats')
  t.equal(s.fs.mkcleanPinned, 1, 'cleaning a pinned page counted once')
  t.equal(s.fs.fsyncIncomplete, 0, 'fsync does not know it missed anything')

  await rc.cluster.restartNode('server0')
  const after = await req('fs.read', { name, offset: 0, length: PAGE })
  t.same(Buffer.from(after), Buffer.from(pattern(PAGE, 1)), 'after the restart the file holds the first WRITE: the second is lost')
})
