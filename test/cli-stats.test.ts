import t from 'tap'
import { runCli, startUp } from './cluster-helpers.ts'

// `rdma-emu stats` finds a running `up` through its run directory and shows
// every node's counters: packets, MRs, pins (acquired == released when no MR
// holds any), oracle corruption and the server's data path.
t.test('cli - stats reports every node of a running cluster', async (t) => {
  const up = await startUp(t)
  const r = await runCli(['stats', '--run-dir', up.runDir, '--json'])
  t.equal(r.code, 0, r.stderr)
  const stats = JSON.parse(r.stdout) as Array<{ id: string; role: string; node: { pid: number }; rdma: { pktsSent: number }; memory?: { pins: { nr_foll_pin_acquired: number; nr_foll_pin_released: number }; oracle: { corruptBytes: number }; policy: { name: string } }; dataPath?: { mode: string; workers: number } }>
  t.same(stats.map((s) => s.id).sort(), up.nodes.map((n) => n.id).sort(), 'one entry per node')
  for (const s of stats) t.equal(s.node.pid, up.nodes.find((n) => n.id === s.id)!.pid, `${s.id}: answered by the process up started`)
  const server = stats.find((s) => s.role === 'server')!
  t.equal(server.memory!.pins.nr_foll_pin_acquired, server.memory!.pins.nr_foll_pin_released, 'no pins held')
  t.equal(server.memory!.oracle.corruptBytes, 0, 'no corruption')
  t.equal(server.memory!.policy.name, 'upstream', "the default configuration's pin policy")
  t.equal(server.dataPath!.mode, 'adaptive', 'the default data path: workers, offloading adaptively')
  t.ok(server.dataPath!.workers >= 1, 'with worker threads')
  const table = await runCli(['stats', '--run-dir', up.runDir])
  t.equal(table.code, 0)
  t.match(table.stdout, /pins acq\/rel/, 'table header')
  t.match(table.stdout, /server0/, 'server row')
  t.match(table.stdout, /lease brk\/rev/, 'pin policy columns')
  t.match(table.stdout, /upstream/, "the server's policy")
  const missing = await runCli(['stats', '--run-dir', '/nonexistent-run-dir'])
  t.equal(missing.code, 2, 'a run directory without cluster.json is bad input')
  t.match(missing.stderr, /--run-dir/, 'the error names the option')
  up.child.kill('SIGINT')
  await up.exited
})
