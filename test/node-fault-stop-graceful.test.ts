import t from 'tap'
import { startRdmaCluster } from './helpers/rdma-cluster.ts'
import { Access } from '../src/verbs/constants.ts'
import { serverReq } from './helpers/odp.ts'
import { stopLeavesNothing, trackPids } from './helpers/node-faults.ts'
import { isAlive } from './cluster-helpers.ts'
import { RemoteVerbs } from '../src/verbs/remote-verbs.ts'
import { ErrorCodes } from '../src/errors.ts'
import type { FaultExit } from '../src/launcher/node-faults.ts'

// stopNode: the shutdown message, the node exits 0 by itself; its exit is the
// fault's ('stop'), the server is told at once and releases what it owned. The
// node can be restarted afterwards; faults on an unknown node are refused.
t.test('node fault - stopNode is graceful and the stopped node can come back', async (t) => {
  const rc = await startRdmaCluster(t, { clients: 1 })
  const pids = trackPids(rc)
  const req = serverReq(rc)
  const client = new RemoteVerbs(rc.cluster.control, 'client0')
  const pd = await rc.server.allocPd()
  await req('fs.create', { name: 'x.dat' })
  await req('fs.fallocate', { name: 'x.dat', mode: 0, offset: 0, length: 4096 })
  await client.regServerFile(rc.serverId, { pd, file: 'x.dat', offset: 0, length: 4096, access: Access.REMOTE_READ })
  t.equal((await req('mem.stats')).mrs.file, 1, 'the client holds a file MR on the server')

  const faults: FaultExit[] = []
  const failed: unknown[] = []
  rc.cluster.on('faultExit', (e) => faults.push(e))
  rc.cluster.on('failed', (e) => failed.push(e))
  const pid = rc.cluster.node('client0').pid
  const t0 = performance.now()
  const exit = await rc.cluster.stopNode('client0')
  const tookMs = performance.now() - t0
  t.comment(`graceful stop took ${tookMs.toFixed(0)} ms`)
  t.equal(exit.code, 0, 'the node exits 0 by itself')
  t.equal(exit.signal, null, 'no signal was needed')
  t.ok(tookMs < 2000, 'within the first grace period')
  t.notOk(isAlive(pid), 'gone')
  t.match(faults, [{ id: 'client0', fault: 'stop', code: 0 }], "'faultExit' with fault 'stop'")
  t.same(failed, [], "no 'failed' event")
  t.equal((await req('mem.stats')).mrs.file, 0, 'the server released its MR on peer.gone')
  t.same(await rc.cluster.stopNode('client0'), exit, 'stopNode of a stopped node answers its exit')
  t.same(await rc.cluster.killNode('client0'), exit, 'killNode of a stopped node too')
  t.throws(() => rc.cluster.pauseNode('client0'), { code: ErrorCodes.EINVAL }, 'a stopped node cannot be paused')
  t.throws(() => rc.cluster.pauseNode('nobody'), { code: ErrorCodes.BAD_ARGUMENT }, 'an unknown node is refused')

  const back = await rc.cluster.restartNode('client0')
  t.not(back.pid, pid, 'restartNode brings a stopped node back')
  t.same(faults.length, 1, 'restarting a node that is not running kills nothing')
  t.equal((await rc.cluster.control.request('client0', 'ping', null)), null, 'and it answers')
  const again = await rc.cluster.restartNode('client0')
  t.not(again.pid, back.pid, 'restartNode of a running node kills it (-9) and starts it again')
  t.match(faults.at(-1), { id: 'client0', fault: 'restart', signal: 'SIGKILL', pid: back.pid }, 'that kill is a restart fault')
  await t.rejects(Promise.all([rc.cluster.restartNode('client0'), rc.cluster.restartNode('client0')]), { code: ErrorCodes.EBUSY }, 'one restart at a time')
  t.same(failed, [], "still no 'failed' event")

  // A paused node can be killed (SIGKILL ends a stopped process) and stopped (SIGCONT first).
  await rc.cluster.whenRestarted('client0')
  rc.cluster.pauseNode('client0')
  const killed = await rc.cluster.killNode('client0')
  t.equal(killed.signal, 'SIGKILL', 'a paused node dies of kill -9')
  t.notOk(rc.cluster.isPaused('client0'), 'and is no longer paused')
  await rc.cluster.restartNode('client0')
  rc.cluster.pauseNode('client0')
  const stopped = await rc.cluster.stopNode('client0')
  t.equal(stopped.code, 0, 'a paused node stopped gracefully is resumed first and exits 0')
  t.same(failed, [], "no 'failed' event at all")

  await stopLeavesNothing(t, rc, pids)
})
