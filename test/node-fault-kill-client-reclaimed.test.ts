import t from 'tap'
import { startRdmaCluster, ALL_ACCESS } from './helpers/rdma-cluster.ts'
import { serverReq } from './helpers/odp.ts'
import { isAlive } from './cluster-helpers.ts'
import { stopLeavesNothing, trackPids } from './helpers/node-faults.ts'
import { RemoteVerbs } from '../src/verbs/remote-verbs.ts'
import type { FaultExit } from '../src/launcher/node-faults.ts'

// kill -9 of a client node is a process that is gone: the launcher tells the
// server (peer.gone) at once, and the server reclaims the client's file MR,
// its pins, its layout lease and its QP well before the heartbeat timeout.
const PAGE = 4096
const FABRIC = { heartbeatIntervalMs: 250, heartbeatTimeoutMs: 2000 }

t.test('node fault - kill -9 of a client: the server reclaims its MRs, pins, leases and QPs at once', async (t) => {
  const rc = await startRdmaCluster(t, { clients: 1, fabric: FABRIC, server: { policy: 'layout-lease' } })
  const pids = trackPids(rc)
  const req = serverReq(rc)
  const client = new RemoteVerbs(rc.cluster.control, 'client0')
  const name = 'held.dat'
  await req('fs.create', { name, dax: true })
  await req('fs.fallocate', { name, mode: 0, offset: 0, length: 8 * PAGE })
  const pd = await rc.server.allocPd()
  await rc.server.listen({ port: 7101, pd })
  const lease = await client.leaseFile(rc.serverId, name)
  t.equal(lease.holder, 'client0', 'the client holds the layout lease')
  const mr = await client.regServerFile(rc.serverId, { pd, file: name, offset: 0, length: 8 * PAGE, access: ALL_ACCESS })
  t.ok(mr.stag > 0, 'a long-term pinned file MR of the client')
  await client.connect(rc.serverId, 7101)

  const before = await req('mem.stats')
  t.equal(before.mrs.file, 1, 'one file MR on the server')
  t.equal(before.pins.pinned_frames, 8, 'its 8 pages pinned')
  t.equal(before.policy.leases.active, 1, 'one lease')
  const qpsBefore = await req('verbs.qps')
  t.equal(qpsBefore.filter((q) => q.destNode === 'client0').length, 1, 'one server QP connected to the client')

  const failed: unknown[] = []
  const faults: FaultExit[] = []
  rc.cluster.on('failed', (e) => failed.push(e))
  rc.cluster.on('faultExit', (e) => faults.push(e))
  const pid = rc.cluster.node('client0').pid
  const t0 = performance.now()
  const exit = await rc.cluster.killNode('client0')
  t.equal(exit.signal, 'SIGKILL', 'killed by SIGKILL')
  t.notOk(isAlive(pid), 'the client process is gone')

  // Poll until everything of the client is gone from the server.
  let reclaimedMs = -1
  for (;;) {
    const [s, qps] = await Promise.all([req('mem.stats'), req('verbs.qps')])
    const left = s.mrs.file + s.pins.pinned_frames + s.policy.leases.active + qps.filter((q) => q.destNode === 'client0').length
    if (left === 0) {
      reclaimedMs = performance.now() - t0
      t.equal(s.pins.nr_foll_pin_acquired, s.pins.nr_foll_pin_released, 'pins acquired == released')
      t.ok(s.pins.owners_released >= 1, 'released as an owner gone')
      break
    }
    if (performance.now() - t0 > FABRIC.heartbeatTimeoutMs + 2000) break
    await new Promise((r) => setTimeout(r, 10))
  }
  t.comment(`server reclaimed the client's MR, pins, lease and QP ${reclaimedMs.toFixed(0)} ms after kill -9 (heartbeat timeout ${FABRIC.heartbeatTimeoutMs} ms)`)
  t.ok(reclaimedMs >= 0, 'everything reclaimed')
  t.ok(reclaimedMs < 1000, `reclaimed within 1 s, well before the heartbeat timeout (${reclaimedMs.toFixed(0)} ms)`)
  t.same(failed, [], "no 'failed' event: the exit was the fault's")
  t.match(faults, [{ id: 'client0', fault: 'kill', signal: 'SIGKILL', pid }], "'faultExit' names the fault")
  t.notOk(rc.cluster.isRunning('client0'), 'the cluster knows the node is gone')
  await stopLeavesNothing(t, rc, pids)
})
