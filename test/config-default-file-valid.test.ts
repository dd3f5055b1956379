import { join } from 'node:path'
import t from 'tap'
import { loadConfig } from '../src/config/load-config.ts'
import { runCli, ROOT } from './cluster-helpers.ts'

t.test('config - default file is valid', async (t) => {
  const c = loadConfig(join(ROOT, 'cluster.config.json'))
  t.same(c.nodes.map((n) => [n.id, n.role]), [['server0', 'server'], ['client0', 'client'], ['client1', 'client']])
  const r = await runCli(['validate'])
  t.equal(r.code, 0, 'rdma-emu validate exits 0')
  t.match(r.stdout, /valid, 3 nodes/)
})
