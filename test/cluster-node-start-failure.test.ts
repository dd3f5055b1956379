import { createServer } from 'node:net'
import { join } from 'node:path'
import t from 'tap'
import { pidsMatching, reapAfter, runCli, tempDir, writeConfig } from './cluster-helpers.ts'

t.test('cluster - node that cannot bind its port fails up', async (t) => {
  // Hold a port so server0's fixed port is already in use.
  const blocker = createServer()
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r))
  t.teardown(() => new Promise<void>((r) => blocker.close(() => r())))
  const port = (blocker.address() as { port: number }).port

  const dir = tempDir(t)
  const runDir = join(dir, 'run')
  reapAfter(t, runDir)
  const config = writeConfig(dir, {
    nodes: [
      { id: 'server0', role: 'server', port },
      { id: 'client0', role: 'client' },
      { id: 'client1', role: 'client' },
    ],
  })
  const r = await runCli(['up', '-c', config, '--run-dir', runDir])
  t.equal(r.code, 1, 'up exits 1')
  t.match(r.stderr, /node server0 failed to start/, 'the message names the node')
  t.match(r.stderr, /in use/i, 'and says why')
  t.same(pidsMatching(runDir), [], 'no process of the run is left behind')
})
