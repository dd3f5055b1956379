import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { loadConfig } from '../src/config/load-config.ts'
import { SCENARIOS_DIR } from '../src/cli/cmd-run.ts'
import { loadScenario } from '../src/scenario/load-scenario.ts'
import { runConfig } from '../src/scenario/run-scenario.ts'
import { ROOT } from './cluster-helpers.ts'

// Every scenario in scenarios/ is valid against the default configuration,
// and each of its runs gets a valid configuration with its policy.
t.test('scenario - every shipped scenario is valid on the default cluster', async (t) => {
  const config = loadConfig(join(ROOT, 'cluster.config.json'))
  const files = readdirSync(SCENARIOS_DIR).filter((f) => f.endsWith('.json'))
  t.ok(files.includes('truncate-race.json') && files.includes('lossy-fabric.json'), `shipped: ${files.join(', ')}`)
  for (const f of files) {
    const sc = loadScenario(join(SCENARIOS_DIR, f), config)
    t.ok(sc.steps.length > 0 && sc.expect.length > 0, `${f}: ${sc.steps.length} steps, ${sc.expect.length} expectations`)
    for (const p of sc.policies) {
      const c = runConfig(config, sc, p)
      t.ok(c.nodes.every((n) => n.role !== 'server' || n.server.policy === p), `${f}: the ${p} run's servers have policy ${p}`)
    }
  }
  const race = loadScenario(join(SCENARIOS_DIR, 'truncate-race.json'), config)
  t.same(race.policies, ['upstream', 'unsafe-gup', 'deny', 'truncate-extend', 'layout-lease', 'exclusive-lease', 'odp'], 'the truncate race runs under all seven policies')
  t.same(race.nodes, ['server0', 'client0'], 'and starts only the nodes it uses')
})
