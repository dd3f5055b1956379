import t from 'tap'
import { readFileSync } from 'node:fs'
import { startRdmaCluster, ALL_ACCESS, pattern } from './helpers/rdma-cluster.ts'
import { serverReq } from './helpers/odp.ts'
import { clientQp, clientWrite, stopLeavesNothing, trackPids } from './helpers/node-faults.ts'
import { isAlive } from './cluster-helpers.ts'
import { QpState, WcStatus } from '../src/verbs/constants.ts'

// SIGSTOP for 500 ms is not a death: no peer.gone, the heartbeat timeout (2 s)
// is not reached, and the client's QP to the server works after SIGCONT.
// stop() while a node is paused still stops everything.
const FABRIC = { heartbeatIntervalMs: 250, heartbeatTimeoutMs: 2000 }

t.test('node fault - pause 500 ms and resume: no peer-gone, the QP still works; stop() after a pause leaves nothing', async (t) => {
  const rc = await startRdmaCluster(t, { clients: 1, fabric: FABRIC })
  const pids = trackPids(rc)
  const req = serverReq(rc)
  const pd = await rc.server.allocPd()
  const mr = await rc.server.regMr(pd, 1 << 16, ALL_ACCESS)
  const q = await clientQp(rc, 'client0', 7201, { pd, mr })
  t.equal((await clientWrite(q, 0, pattern(4096, 1))).status, WcStatus.SUCCESS, 'a WRITE before the pause')

  const events: string[] = []
  rc.cluster.on('failed', (e) => events.push(`failed ${e.id}`))
  rc.cluster.on('faultExit', (e) => events.push(`faultExit ${e.id}`))
  const pid = rc.cluster.node('client0').pid
  rc.cluster.pauseNode('client0')
  t.ok(rc.cluster.isPaused('client0'), 'paused')
  const state = () => procState(pid)
  t.equal(await settled(state, (x) => x === 'T'), 'T', 'the process is stopped (state T)')
  await new Promise((r) => setTimeout(r, 500))
  rc.cluster.resumeNode('client0')
  t.notOk(rc.cluster.isPaused('client0'), 'resumed')
  t.not(await settled(state, (x) => x !== 'T'), 'T', 'the process runs again')

  const data = pattern(8192, 2)
  t.equal((await clientWrite(q, 4096, data)).status, WcStatus.SUCCESS, 'the same QP moves data after the resume')
  t.same(Buffer.from(await rc.server.read(mr.stag, 4096, data.length)), Buffer.from(data), 'and the bytes are there')
  const peers = (await req('stats')).peers
  t.equal(peers.find((p) => p.id === 'client0')?.state, 'up', 'the server never took the client for gone')
  const qps = await req('verbs.qps')
  t.equal(qps.find((x) => x.destNode === 'client0')?.state, QpState.RTS, "the server's QP to it is still RTS")
  t.same(events, [], 'no exit, no failure')

  // Paused again, then the whole cluster is stopped: SIGCONT first, then the usual shutdown.
  rc.cluster.pauseNode('client0')
  t.equal(await settled(state, (x) => x === 'T'), 'T', 'paused again')
  await stopLeavesNothing(t, rc, pids)
  t.notOk(isAlive(pid), 'the paused node was stopped too')
})

/**
 * The process state once `want` accepts it, or what it is after 1 s: a signal
 * that stops or continues a multi-threaded process takes effect a little later.
 */
async function settled(state: () => string, want: (s: string) => boolean): Promise<string> {
  const deadline = Date.now() + 1000
  let s = state()
  while (!want(s) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 5))
    s = state()
  }
  return s
}

/** Field 3 of /proc/PID/stat: R, S, T (stopped) ... */
function procState(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  return stat.slice(stat.lastIndexOf(')') + 2)[0]!
}
