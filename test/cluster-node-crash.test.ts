import t from 'tap'
import { pidsMatching, startUp, waitGone } from './cluster-helpers.ts'

t.test('cluster - a node crash tears the cluster down', async (t) => {
  const up = await startUp(t)
  const victim = up.nodes.find((n) => n.id === 'client1')!
  process.kill(victim.pid, 'SIGKILL')
  const exit = await up.exited
  t.equal(exit.code, 1, 'up exits 1')
  t.match(up.stderr(), /node client1 failed/, 'the message names the node')
  t.same(await waitGone(up.nodes.map((n) => n.pid), 5000), [], 'the other nodes are stopped')
  t.same(pidsMatching(up.runDir), [], 'no process of the run remains')
})
