import { controlReq, serverReq } from './helpers/odp.ts'
import t from 'tap'
import { createHash } from 'node:crypto'
import { join } from 'node:path'
import { startRdmaCluster, connect, pattern, ALL_ACCESS, PMEM_ACCESS } from './helpers/rdma-cluster.ts'
import { launchCluster } from '../src/launcher/launch-cluster.ts'
import { SendFlags, WcStatus, WrOpcode } from '../src/verbs/constants.ts'

// Design section 7: a WRITE followed by an RDMA FLUSH is durable. The server
// process is killed with SIGKILL (no clean unmount) and a new server node is
// started on the same data directory: the flushed bytes are there, and bytes
// that were never flushed are not (they were only in the "CPU caches").
const PAGE = 4096
const S = SendFlags.SIGNALED
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')

t.test('mr - FLUSHed bytes survive kill -9 of the server and a restart on the same data dir', async (t) => {
  // A long-term pinned DAX MR: a policy that allows it (upstream refuses it).
  const rc = await startRdmaCluster(t, { server: { policy: 'deny' } })
  const dataDir = join(rc.cluster.runDir, 'data', rc.serverId)
  const req = serverReq(rc)
  const c = await connect(rc, { serverBytes: 0 })
  const name = 'journal.dat'
  await req('fs.create', { name, dax: true })
  await req('fs.fallocate', { name, mode: 0, offset: 0, length: 32 * PAGE })
  const mr = await req('verbs.mr.regFile', { pd: c.serverPd, file: name, offset: 0, length: 32 * PAGE, access: PMEM_ACCESS })
  const local = rc.local.device.regMr(c.pd, 32 * PAGE, ALL_ACCESS)
  const buf = local.memory.view(0, 32 * PAGE)!

  // Flushed: 20 pages + 123 bytes at offset 100.
  const flushed = pattern(20 * PAGE + 123, 11)
  buf.set(flushed, 0)
  c.qp.postSend({ wrId: 1, opcode: WrOpcode.RDMA_WRITE, sgList: [{ addr: local.iova, length: flushed.length, lkey: local.stag }], remoteAddr: mr.iova + 100, rkey: mr.stag, sendFlags: S })
  c.qp.postSend({ wrId: 2, opcode: WrOpcode.FLUSH, remoteAddr: mr.iova + 100, rkey: mr.stag, flush: { length: flushed.length }, sendFlags: S })
  t.equal((await c.cq.next()).status, WcStatus.SUCCESS, 'WRITE completes')
  t.equal((await c.cq.next()).status, WcStatus.SUCCESS, 'FLUSH completes')

  // Not flushed: two pages further on.
  const unflushed = pattern(2 * PAGE, 12)
  buf.set(unflushed, 0)
  const uOff = 28 * PAGE
  c.qp.postSend({ wrId: 3, opcode: WrOpcode.RDMA_WRITE, sgList: [{ addr: local.iova, length: unflushed.length, lkey: local.stag }], remoteAddr: mr.iova + uOff, rkey: mr.stag, sendFlags: S })
  t.equal((await c.cq.next()).status, WcStatus.SUCCESS)
  t.same(Buffer.from(await req('fs.read', { name, offset: uOff, length: unflushed.length })), Buffer.from(unflushed), 'visible before the crash')

  const pid = rc.cluster.node(rc.serverId).pid
  const gone = new Promise((resolve) => rc.cluster.once('exit', resolve))
  process.kill(pid, 'SIGKILL')
  await gone

  // A new server node on the same data directory (the launcher passes --data-dir).
  const second = await launchCluster({ config: rc.cluster.config, runDir: join(rc.cluster.runDir, 'restart'), nodeArgs: ['--data-dir', dataDir] })
  t.teardown(() => second.stop())
  const req2 = controlReq(second.control, rc.serverId)
  const st = await req2('fs.stat', { name })
  t.equal(st.size, 32 * PAGE, 'the file and its size are back')
  const back = await req2('fs.read', { name, offset: 100, length: flushed.length })
  t.equal(sha(back), sha(flushed), 'checksum of the flushed bytes matches')
  const lost = await req2('fs.read', { name, offset: uOff, length: unflushed.length })
  t.equal(sha(lost), sha(new Uint8Array(unflushed.length)), 'bytes never flushed are gone (zeros)')
})
