import { existsSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import t from 'tap'
import { BENCH_PORT } from '../src/bench/run-bench.ts'
import { attachCluster, readClusterFile } from '../src/launcher/attach-cluster.ts'
import { RemoteVerbs } from '../src/verbs/remote-verbs.ts'
import { isAlive, pidsMatching, runCli, startUp, tempDir, waitGone, writeConfig } from './cluster-helpers.ts'

// `bench --attach`: a real `rdma-emu up` runs in the background; two benches
// in a row join it as client hosts (through its cluster.json), run, and
// leave it running and clean: no MR, QP or CM listener of theirs stays on
// any node. Then SIGTERM stops `up` and no process is left. A cluster.json
// whose nodes do not answer, or whose processes are gone, exits 1 naming the node.
const CONFIG = {
  name: 'bench-attach-test',
  logLevel: 'warn',
  nodes: [
    { id: 'server0', role: 'server', host: '127.0.0.1', port: 0, server: { workers: 1 } },
    { id: 'client0', role: 'client', host: '127.0.0.1', port: 0 },
  ],
}

interface BwDoc {
  results: { MsgSize: number; n_iterations: number; BW_peak: number; BW_average: number; MsgRate: number }
  rdma_emu: { test: string; attached: string; dataCheck: { ok: boolean; problems: string[] } }
}

t.test('bench - two attached runs on a running up, which stays up and clean', async (t) => {
  const up = await startUp(t, ['-c', writeConfig(tempDir(t), CONFIG)])
  const clusterFile = join(up.runDir, 'cluster.json')
  t.ok(existsSync(clusterFile), 'up wrote cluster.json')
  const nodePids = up.nodes.map((n) => n.pid)

  // A probe on the same control plane (the src attach, as bench uses it) to look at the nodes between runs.
  const probe = await attachCluster(readClusterFile(up.runDir), { name: 'probe' })
  t.teardown(() => probe.close())
  const look = async () => {
    const [serverCounters, serverQps, clientQps, mem] = await Promise.all([
      probe.control.request('server0', 'verbs.counters'),
      probe.control.request('server0', 'verbs.qps'),
      probe.control.request('client0', 'verbs.qps'),
      probe.control.request('server0', 'mem.stats'),
    ])
    return { serverMrs: serverCounters.mrs, serverQps: serverQps.length, clientQps: clientQps.length, pinsHeld: mem.pins.nr_foll_pin_acquired - mem.pins.nr_foll_pin_released, acquired: mem.pins.nr_foll_pin_acquired }
  }
  const before = await look()
  t.same({ ...before, acquired: 0 }, { serverMrs: 0, serverQps: 0, clientQps: 0, pinsHeld: 0, acquired: 0 }, 'a fresh cluster: nothing registered')

  for (const [i, target] of [up.runDir, clusterFile].entries()) {
    // The first run names the run directory, the second the cluster.json itself.
    const r = await runCli(['bench', 'write_bw', '-n', '200', '--attach', target, '--json'], { timeoutMs: 60000 })
    t.equal(r.code, 0, `run ${i + 1}: exit 0 ${r.stderr}`)
    const doc = JSON.parse(r.stdout) as BwDoc
    t.equal(doc.rdma_emu.test, 'write_bw')
    t.equal(doc.rdma_emu.attached, clusterFile, `run ${i + 1}: reports the cluster it attached to`)
    t.equal(doc.results.MsgSize, 65536)
    t.equal(doc.results.n_iterations, 200)
    t.ok(doc.results.BW_average > 0 && doc.results.BW_peak >= doc.results.BW_average, `run ${i + 1}: BW peak ${doc.results.BW_peak} >= average ${doc.results.BW_average} > 0`)
    t.same(doc.rdma_emu.dataCheck, { ok: true, problems: [] }, `run ${i + 1}: data check passes`)
    // Straight after the run (before any node could notice the bench is gone and clean up for it).
    const after = await look()
    t.same({ ...after, acquired: 0 }, { serverMrs: 0, serverQps: 0, clientQps: 0, pinsHeld: 0, acquired: 0 }, `run ${i + 1}: MRs deregistered, QPs destroyed, pins dropped on both nodes`)
    t.ok(after.acquired > before.acquired, `run ${i + 1}: the run did register (pinned) server memory`)
    t.ok(nodePids.every(isAlive), `run ${i + 1}: every node process still runs`)
  }
  // The CM port is free again: the bench removed its listener.
  const server = new RemoteVerbs(probe.control, 'server0')
  const pd = await server.allocPd()
  await server.listen({ port: BENCH_PORT, pd })
  await server.unlisten(BENCH_PORT)
  await server.deallocPd(pd)
  t.pass(`port ${BENCH_PORT} could be listened on again`)
  await probe.close()

  up.child.kill('SIGTERM')
  const exit = await up.exited
  t.equal(exit.code, 0, 'up exits 0 after SIGTERM')
  t.same(await waitGone([...nodePids, up.child.pid!], 10000), [], 'no node process remains (by PID)')
  t.same(pidsMatching(up.runDir), [], 'no process of the run remains')

  // The run directory is still there, but its cluster is gone.
  const stale = await runCli(['bench', 'write_bw', '-n', '10', '--attach', up.runDir])
  t.equal(stale.code, 1, 'attaching to a stopped cluster exits 1')
  t.match(stale.stderr, /--attach: node server0 \(pid \d+\) listed in .*cluster\.json is not running/, 'the message names the node and the file')
})

t.test('bench - attaching to nodes that do not answer exits 1 naming the node', async (t) => {
  // A port nobody listens on.
  const port = await new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port
      s.close(() => resolve(p))
    })
  })
  const dir = tempDir(t)
  // pid: a live process (this one), so only the silence can tell.
  writeConfig(dir, { nodes: [{ id: 'server0', role: 'server', pid: process.pid, endpoint: `tcp://127.0.0.1:${port}` }, { id: 'client0', role: 'client', pid: process.pid, endpoint: `tcp://127.0.0.1:${port}` }] }, 'cluster.json')
  const t0 = Date.now()
  const r = await runCli(['bench', 'write_bw', '-n', '10', '--attach', dir])
  t.equal(r.code, 1, 'exit 1')
  t.match(r.stderr, new RegExp(`--attach: node (server0|client0) at tcp://127\\.0\\.0\\.1:${port} \\(listed in .*cluster\\.json\\) did not answer within 5000 ms`), 'the message names the node, its endpoint and the file')
  t.ok(Date.now() - t0 >= 5000, 'after the attach timeout')
  t.equal(r.stdout, '', 'no table printed')
})
