import t from 'tap'
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { startRdmaCluster, connect, pattern, ALL_ACCESS, PMEM_ACCESS } from './helpers/rdma-cluster.ts'
import { serverReq } from './helpers/odp.ts'
import { clientQp, clientWrite, stopLeavesNothing, trackPids } from './helpers/node-faults.ts'
import { isAlive } from './cluster-helpers.ts'
import { CLUSTER_FILE } from '../src/launcher/launch-cluster.ts'
import { QpState, SendFlags, WcStatus, WrOpcode } from '../src/verbs/constants.ts'

// restartNode of a server: kill -9, then the same configuration, run and data
// directory and endpoint. The DAX device comes back: an fsynced file and bytes
// RDMA-WRITten then RDMA-FLUSHed are there byte for byte; WRITEs after the
// FLUSH are lost. Clients see their QPs fail and connect again, as an
// application would, from the test process and from a client node.
const PAGE = 4096
const S = SendFlags.SIGNALED
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')

t.test('node fault - restart a server: flushed data intact, unflushed lost, clients reconnect', async (t) => {
  const rc = await startRdmaCluster(t, { clients: 1, server: { policy: 'deny' } })
  const pids = trackPids(rc)
  const req = serverReq(rc)
  const before = { ...rc.cluster.node('server0') }

  // An fsynced DAX file.
  const meta = pattern(3000, 5)
  await req('fs.create', { name: 'meta.dat', dax: true })
  await req('fs.write', { name: 'meta.dat', offset: 0, data: meta })
  await req('fs.fsync', { name: 'meta.dat' })

  // A file-backed MR: WRITE + FLUSH, then a WRITE that is never flushed.
  const c = await connect(rc, { serverBytes: 0 })
  const name = 'journal.dat'
  await req('fs.create', { name, dax: true })
  await req('fs.fallocate', { name, mode: 0, offset: 0, length: 16 * PAGE })
  await req('fs.fsync', { name })
  const mr = await req('verbs.mr.regFile', { pd: c.serverPd, file: name, offset: 0, length: 16 * PAGE, access: PMEM_ACCESS })
  const local = rc.local.device.regMr(c.pd, 16 * PAGE, ALL_ACCESS)
  const buf = local.memory.view(0, 16 * PAGE)!
  const flushed = pattern(5 * PAGE + 77, 11)
  buf.set(flushed, 0)
  c.qp.postSend({ wrId: 1, opcode: WrOpcode.RDMA_WRITE, sgList: [{ addr: local.iova, length: flushed.length, lkey: local.stag }], remoteAddr: mr.iova + 10, rkey: mr.stag, sendFlags: S })
  c.qp.postSend({ wrId: 2, opcode: WrOpcode.FLUSH, remoteAddr: mr.iova + 10, rkey: mr.stag, flush: { length: flushed.length }, sendFlags: S })
  t.equal((await c.cq.next()).status, WcStatus.SUCCESS, 'WRITE completes')
  t.equal((await c.cq.next()).status, WcStatus.SUCCESS, 'FLUSH completes')
  const unflushed = pattern(2 * PAGE, 12)
  buf.set(unflushed, 0)
  const uOff = 12 * PAGE
  c.qp.postSend({ wrId: 3, opcode: WrOpcode.RDMA_WRITE, sgList: [{ addr: local.iova, length: unflushed.length, lkey: local.stag }], remoteAddr: mr.iova + uOff, rkey: mr.stag, sendFlags: S })
  t.equal((await c.cq.next()).status, WcStatus.SUCCESS, 'a WRITE after the FLUSH is acknowledged')
  t.same(Buffer.from(await req('fs.read', { name, offset: uOff, length: unflushed.length })), Buffer.from(unflushed), 'and visible before the crash')

  // A client node's QP to the server, working.
  const spd = await rc.server.allocPd()
  const smr = await rc.server.regMr(spd, 1 << 16, ALL_ACCESS)
  const q = await clientQp(rc, 'client0', 7301, { pd: spd, mr: smr })
  t.equal((await clientWrite(q, 0, pattern(100, 3))).status, WcStatus.SUCCESS, 'client0 writes before the restart')

  const failed: unknown[] = []
  rc.cluster.on('failed', (e) => failed.push(e))
  const faults: string[] = []
  rc.cluster.on('faultExit', (e) => faults.push(`${e.id}:${e.fault}`))
  const t0 = performance.now()
  const back = await rc.cluster.restartNode('server0')
  t.comment(`server restarted (kill -9, spawn, ready) in ${(performance.now() - t0).toFixed(0)} ms`)
  t.same(faults, ['server0:restart'], "the kill is a 'faultExit' of fault 'restart'")
  t.same(failed, [], "no 'failed' event")
  t.notOk(isAlive(before.pid), 'the old server process is gone')
  t.not(back.pid, before.pid, 'a new process')
  t.equal(back.endpoint, before.endpoint, 'on the same endpoint (port pinned)')
  t.equal(rc.cluster.node('server0').pid, back.pid, 'cluster.nodes follows the new pid')
  const file = JSON.parse(readFileSync(join(rc.cluster.runDir, CLUSTER_FILE), 'utf8')) as { nodes: Array<{ id: string; pid: number }> }
  t.equal(file.nodes.find((n) => n.id === 'server0')?.pid, back.pid, 'cluster.json is rewritten')

  // The QPs that talked to the dead server are in ERR (peer.gone / peerLost): a WR on them is flushed.
  t.equal(c.qp.state, QpState.ERR, "the test process's QP to the old server is in ERR")
  const qps = await q.client.control.request('client0', 'verbs.qps')
  t.equal(qps.find((x) => x.qpn === q.qpn)?.state, QpState.ERR, "client0's QP to the old server is in ERR")

  // The DAX device came back.
  t.same(Buffer.from(await req('fs.read', { name: 'meta.dat', offset: 0, length: meta.length })), Buffer.from(meta), 'the fsynced file is there byte for byte')
  t.equal((await req('fs.stat', { name })).size, 16 * PAGE, 'the MR file and its size are back')
  t.equal(sha(await req('fs.read', { name, offset: 10, length: flushed.length })), sha(flushed), 'the FLUSHed bytes survive byte for byte')
  t.equal(sha(await req('fs.read', { name, offset: uOff, length: unflushed.length })), sha(new Uint8Array(unflushed.length)), 'the WRITE after the FLUSH is lost (zeros)')
  const s = await req('mem.stats')
  t.equal(s.mrs.file + s.mrs.anon, 0, 'the new server has none of the old MRs')

  // Clients connect again, as an application would, and move data.
  const c2 = await connect(rc, { serverBytes: 1 << 16 })
  const m2 = rc.local.device.regMr(c2.pd, PAGE, ALL_ACCESS)
  m2.memory.view(0, PAGE)!.set(pattern(PAGE, 21))
  c2.qp.postSend({ wrId: 10, opcode: WrOpcode.RDMA_WRITE, sgList: [{ addr: m2.iova, length: PAGE, lkey: m2.stag }], remoteAddr: c2.serverMr.iova, rkey: c2.serverMr.stag, sendFlags: S })
  t.equal((await c2.cq.next()).status, WcStatus.SUCCESS, 'the test process writes over a new connection')
  t.same(Buffer.from(await rc.server.read(c2.serverMr.stag, 0, PAGE)), Buffer.from(pattern(PAGE, 21)), 'and the bytes land')
  const spd2 = await rc.server.allocPd()
  const smr2 = await rc.server.regMr(spd2, 1 << 16, ALL_ACCESS)
  const q2 = await clientQp(rc, 'client0', 7302, { pd: spd2, mr: smr2 })
  const data = pattern(9000, 22)
  t.equal((await clientWrite(q2, 0, data)).status, WcStatus.SUCCESS, 'client0 writes over a new connection to the restarted server')
  t.same(Buffer.from(await rc.server.read(smr2.stag, 0, data.length)), Buffer.from(data), 'and the bytes land')

  await stopLeavesNothing(t, rc, pids)
})
