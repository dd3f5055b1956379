import t from 'tap'
import { ZmqTransport } from '../fabric/zmq-transport.ts'
import { ControlPlane } from '../fabric/control-plane.ts'
import { isAlive, pidsMatching, startUp, waitGone } from './cluster-helpers.ts'

t.test('cluster - up starts three processes that all talk', async (t) => {
  const up = await startUp(t)
  const { nodes } = up

  t.same(nodes.map((n) => [n.id, n.role]), [['server0', 'server'], ['client0', 'client'], ['client1', 'client']], 'default config: one server, two clients')
  const pids = nodes.map((n) => n.pid)
  t.equal(new Set([...pids, up.child.pid]).size, 4, 'three node PIDs, distinct from each other and the launcher')
  t.ok(pids.every(isAlive), 'every node process is running')
  for (const n of nodes) t.match(n.endpoint, /^tcp:\/\/127\.0\.0\.1:\d+$/, `${n.id} bound a real loopback port`)

  // A probe on the fabric asks each node to ping each other node over its own ZeroMQ connection.
  const probe = new ZmqTransport('test-probe', { bind: 'tcp://127.0.0.1:0' })
  await probe.start()
  t.teardown(() => probe.close())
  const control = new ControlPlane(probe)
  for (const n of nodes) probe.connect(n.id, n.endpoint)
  for (const a of nodes) {
    for (const b of nodes) {
      if (a === b) continue
      const r = await control.request(a.id, 'ping-peer', { peer: b.id, count: 3, warmup: 0 }, 10000)
      t.same([r.from, r.to, r.count], [a.id, b.id, 3], `${a.id} -> ${b.id}: messages exchanged`)
    }
  }
  const stats = await control.request('server0', 'stats')
  t.equal(stats.pid, nodes[0]!.pid, 'the node answering is the process up reported')
  t.ok(['client0', 'client1'].every((id) => stats.peers.some((p) => p.id === id && p.state === 'up')), 'server0 sees both clients up')

  up.child.kill('SIGINT')
  const exit = await up.exited
  t.equal(exit.code, 0, 'up exits 0 after SIGINT')
  t.same(await waitGone(pids, 10000), [], 'no node process remains (by PID)')
  t.same(pidsMatching(up.runDir), [], 'no process of the run remains')
})
