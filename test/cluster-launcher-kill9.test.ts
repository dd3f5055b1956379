import t from 'tap'
import { isAlive, pidsMatching, startUp, waitGone } from './cluster-helpers.ts'

t.test('cluster - nodes exit when the launcher is killed with SIGKILL', async (t) => {
  const up = await startUp(t)
  const pids = up.nodes.map((n) => n.pid)
  t.ok(pids.every(isAlive), 'nodes running')
  const killedAt = Date.now()
  up.child.kill('SIGKILL')
  await up.exited
  const left = await waitGone(pids, 5000)
  t.same(left, [], 'every node exited within 5 s')
  t.ok(Date.now() - killedAt <= 5000, `took ${Date.now() - killedAt} ms`)
  t.same(pidsMatching(up.runDir), [], 'no process of the run remains')
})
