import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { pidsMatching, reapAfter, runCli, tempDir, waitGone, writeConfig } from './cluster-helpers.ts'
import { freePort, startAlone } from './helpers/alone-nodes.ts'

// Three nodes started one by one with `rdma-emu node` on one machine, sharing
// a run directory: each reports ready only once its peers answer, and
// together they write the run file every tool attaches by. server0 has a
// fixed port; client0 has port 0 (its peers find it through its entry in the
// run directory); client1 advertises a hostname (localhost) while binding
// 127.0.0.1. stats, an attached bench with its data check and an attached
// scenario then use the cluster; a scenario with a node fault, or for another
// policy than the servers run, is refused before it runs; SIGTERM stops every node.
t.test('cluster - nodes started one by one share a run file that stats, bench and run attach to', async (t) => {
  const dir = tempDir(t)
  const runDir = join(dir, 'run')
  reapAfter(t, runDir)
  const [serverPort, client1Port] = [await freePort(), await freePort()]
  const cfg = writeConfig(dir, {
    name: 'node-by-node',
    logLevel: 'warn',
    nodes: [
      { id: 'server0', role: 'server', host: '127.0.0.1', port: serverPort, server: { workers: 1 } },
      { id: 'client0', role: 'client', port: 0 },
      { id: 'client1', role: 'client', bind: '127.0.0.1', advertise: 'localhost', port: client1Port },
    ],
  })
  const args = ['-c', cfg, '--run-dir', runDir]
  const server = startAlone(t, 'server0', args)
  // server0 waits for its peers, which are not started yet.
  await server.output(/waiting up to/)
  t.match(server.stdout(), /node server0 at tcp:\/\/127\.0\.0\.1:\d+: waiting up to 60000 ms for 2 peers \(client0, client1\)/, 'server0 says whom it waits for')
  t.notMatch(server.stdout(), / ready at /, 'and is not ready alone')
  const clients = [startAlone(t, 'client0', args), startAlone(t, 'client1', args)]
  const nodes = [server, ...clients]
  const lines = await Promise.all(nodes.map((n) => n.ready))
  for (const l of lines) t.comment(l)
  t.match(lines[2]!, new RegExp(`node client1 \\(client\\) ready at tcp://localhost:${client1Port} \\(bound tcp://127\\.0\\.0\\.1:${client1Port}\\)`), 'client1 is dialled at its hostname')

  const file = JSON.parse(readFileSync(join(runDir, 'cluster.json'), 'utf8')) as { nodes: Array<{ id: string; pid: number; endpoint: string; ready: boolean }> }
  t.same(file.nodes.map((n) => [n.id, n.pid, n.ready]), nodes.map((n) => [n.id, n.pid, true]), 'cluster.json lists every node with its pid, ready')
  t.equal(file.nodes[2]!.endpoint, `tcp://localhost:${client1Port}`, 'with the advertised endpoint')
  t.match(file.nodes[1]!.endpoint, /^tcp:\/\/127\.0\.0\.1:\d+$/, 'and the real port of the port-0 node')

  const stats = await runCli(['stats', '--run-dir', runDir, '--json'])
  t.equal(stats.code, 0, `stats: exit 0 ${stats.stderr}`)
  t.same((JSON.parse(stats.stdout) as Array<{ id: string; node: { pid: number } }>).map((s) => [s.id, s.node.pid]), nodes.map((n) => [n.id, n.pid]), 'stats reached every node')

  const bench = await runCli(['bench', 'write_bw', '-n', '200', '--attach', runDir, '--json'], { timeoutMs: 60000 })
  t.equal(bench.code, 0, `bench --attach: exit 0 ${bench.stderr}`)
  const doc = JSON.parse(bench.stdout) as { results: { BW_average: number }; rdma_emu: { dataCheck: { ok: boolean; problems: string[] } } }
  t.same(doc.rdma_emu.dataCheck, { ok: true, problems: [] }, 'the attached bench: data check passes')
  t.ok(doc.results.BW_average > 0, `BW_average ${doc.results.BW_average} > 0`)

  const run = await runCli(['run', 'lossy-fabric', '--attach', join(runDir, 'cluster.json'), '--run-dir', join(dir, 'scenario')], { timeoutMs: 120000 })
  t.comment(run.stdout)
  t.equal(run.code, 0, `run --attach: exit 0 ${run.stderr}`)
  t.match(run.stdout, /lossy-fabric .*1 policy \(upstream, the servers'\), the attached cluster /, 'under the servers\' policy, on the attached cluster')
  t.match(run.stdout, /7 of 7 expectations held/, 'the verdict: every expectation held')

  const refused = await runCli(['run', 'pause-resume', '--attach', runDir, '--run-dir', join(dir, 'refused')])
  t.equal(refused.code, 2, 'a scenario with a node fault: exit 2')
  t.match(refused.stderr, /--attach: scenario pause-resume: steps\[3\] \(pause server0\): node faults need the node's own process/, 'naming the step, before anything runs')

  const otherPolicy = await runCli(['run', 'partition-heal', '--attach', runDir, '--run-dir', join(dir, 'other-policy')])
  t.equal(otherPolicy.code, 2, 'a scenario for another policy than the servers run: exit 2')
  t.match(otherPolicy.stderr, /--attach: the attached servers run policy "upstream", which is not among the scenario's policies \(deny\)/, 'naming both')

  t.ok(nodes.every((n) => n.child.exitCode === null), 'every node still runs after the attached tools left')
  const exits = await Promise.all(nodes.map((n) => n.stop()))
  t.same(exits.map((e) => e.code), [0, 0, 0], 'SIGTERM: every node exits 0')
  t.same(await waitGone(nodes.map((n) => n.pid), 10000), [], 'no node process remains (by PID)')
  t.same(pidsMatching(runDir), [], 'no process of the run remains')
})
