import { existsSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { runScenario } from './helpers/scenario-run.ts'
import { readJson, TWO_CLIENT_CONFIG } from './helpers/fault-run.ts'

// The same seed gives the same fault log: the faults in order with their
// seeds, targets and specs, and the first decisions of every (rule, link)
// (each packet's fate depends only on the rule's seed, the link and the
// packet's index). Another seed gives another log.
const scenario = {
  name: 'seeded-faults',
  policies: ['deny'],
  steps: [
    { do: 'registerMemory', as: 'm', bytes: 16384, access: ['localWrite', 'remoteWrite', 'remoteRead', 'remoteAtomic'] },
    { do: 'netem', id: 'noisy', loss: 0.05, duplicate: 0.02, reorder: { probability: 0.05, depth: 2 }, corrupt: 0.01, delay: { ms: 0.2, jitterMs: 0.1 } },
    { do: 'dropMessages', id: 'quiet', messages: ['lease.break'], probability: 0.5 },
    { do: 'traffic', id: 'a', client: 'client0', mr: 'm', op: 'mixed', mix: { write: 1, read: 1, fetchAdd: 1 }, size: 64, window: 8, count: 1500, span: 8192, atomicOffset: 8192, qp: { timeout: 14 } },
    { do: 'heal' },
  ],
}

t.test('same seed, same fault log; another seed, another', async (t) => {
  const reportDir = join(t.testdir({}), 'report')
  const [a, b, c] = await Promise.all([
    runScenario(t, scenario, ['--seed', '7'], { config: TWO_CLIENT_CONFIG }),
    runScenario(t, scenario, ['--seed', '7'], { config: TWO_CLIENT_CONFIG }),
    runScenario(t, scenario, ['--seed', '8', '--report', reportDir], { config: TWO_CLIENT_CONFIG }),
  ])
  for (const r of [a, b, c]) t.equal(r.code, 0, `exit 0 ${r.stderr}`)
  const log = (dir: string) => readJson(join(dir, 'deny', 'faults.json')).reproducible
  const [la, lb, lc] = [log(a.runDir), log(b.runDir), log(reportDir)]
  for (const f of ['faults.json', 'checks.json', 'history.jsonl', 'timeline.svg', 'report.html', 'series.json']) t.ok(existsSync(join(reportDir, 'deny', f)), `--report: ${f} in DIR/POLICY/`)
  t.equal(la.seed, 7)
  t.ok(la.links.length >= 2, `decision logs of ${la.links.length} links (both directions of the client's link)`)
  t.ok(la.links.some((l: { decisions: Array<{ actions: string[] }> }) => l.decisions.some((d) => d.actions.length > 0)), 'the decisions include real faults')
  t.same(la, lb, 'the same seed: identical fault logs')
  t.not(JSON.stringify(la), JSON.stringify(lc), 'another seed: a different log')
  t.notSame(la.schedule.map((e: { seed?: number }) => e.seed), lc.schedule.map((e: { seed?: number }) => e.seed), 'the faults got other seeds')
})
