import t, { type Test } from 'tap'
import { runCli, tempDir, writeConfig } from './cluster-helpers.ts'
import { startBench } from './helpers/bench-run.ts'

// --clients N (client nodes 1..N against one server) and --workers N (server
// worker threads 0..N, 0 = inline) run as sweeps on one cluster; counts the
// configuration cannot serve, or that are not counts, exit 2 naming the option
// before any node starts.
const CONFIG = {
  name: 'bench-clients-workers-test',
  logLevel: 'warn',
  // ACK timers x10, as bench-run.ts's ONE_CLIENT_CONFIG: several clusters at once on two cores.
  timeScale: 10,
  nodes: [
    { id: 'server0', role: 'server', host: '127.0.0.1', port: 0 },
    { id: 'client0', role: 'client', host: '127.0.0.1', port: 0 },
    { id: 'client1', role: 'client', host: '127.0.0.1', port: 0 },
  ],
}

const bench = (t: Test, args: string[], config = CONFIG) => startBench(t, [...args, '--json'], config)

const clients = bench(t, ['write_bw', '-s', '4096', '-n', '100', '-t', '16', '--clients', '2'])
// One client node is enough here: one process fewer to start on a loaded machine.
const workers = bench(t, ['atomic_bw', '-n', '100', '-t', '16', '--workers', '1'], { ...CONFIG, nodes: CONFIG.nodes.slice(0, 2) })

t.test('bench - clients 2 runs one and two client nodes', async (t) => {
  const r = await clients(t)
  t.equal(r.code, 0, r.stderr)
  const doc = JSON.parse(r.stdout)
  t.equal(doc.rdma_emu.axis, 'clients')
  t.same(doc.rdma_emu.points.map((p: { clients: number }) => p.clients), [1, 2])
  for (const p of doc.rdma_emu.points) t.ok(p.results.BW_average > 0 && p.dataCheck.ok, `${p.clients} client(s): bandwidth and data check`)
  t.ok(doc.rdma_emu.files.svg.endsWith('bench-write_bw.svg'), 'chart written')
})

t.test('bench - workers 1 runs inline and one worker thread', async (t) => {
  const r = await workers(t)
  t.equal(r.code, 0, r.stderr)
  const doc = JSON.parse(r.stdout)
  t.equal(doc.rdma_emu.axis, 'workers')
  t.same(doc.rdma_emu.points.map((p: { workers: number }) => p.workers), [0, 1])
  for (const p of doc.rdma_emu.points) t.ok(p.results.MsgRate > 0 && p.dataCheck.ok, `workers ${p.workers}: operations and data check`)
})

t.test('bench - bad client and worker counts exit 2', async (t) => {
  const dir = tempDir(t)
  const config = writeConfig(dir, CONFIG)
  const cases: Array<[string[], RegExp]> = [
    [['--clients', '3'], /--clients: 3 client nodes asked for, but .* has 2 \(client0, client1\)/],
    [['--clients', '0'], /--clients: expected an integer 1-64, got "0"/],
    [['--workers', '-1'], /--workers: expected an integer 0-64, got "-1"/],
    [['--workers', '1', '--datapath', 'inline'], /--workers: sets the server data path itself/],
  ]
  const results = await Promise.all(cases.map(([args]) => runCli(['bench', 'write_bw', ...args, '-c', config])))
  cases.forEach(([args, message], i) => {
    t.equal(results[i]!.code, 2, `${args.join(' ')}: exit 2`)
    t.match(results[i]!.stderr, message, `${args.join(' ')}: message names the problem`)
  })
})
