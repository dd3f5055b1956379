import t from 'tap'
import { runScenario } from './helpers/scenario-run.ts'
import { shipped } from './helpers/fault-run.ts'

// A scenario built to break: the truncate race under unsafe-gup, with no
// policy permitted to corrupt. The run exits 1, and says which checker
// failed and why: the oracle's corrupt bytes and the victim file.
t.test('the truncate race under unsafe-gup, corruption not permitted: exit 1, the oracle checker names the evidence', async (t) => {
  const sc = { ...shipped('truncate-race'), name: 'truncate-race-strict', policies: ['unsafe-gup'], checks: { permitCorruption: [] } }
  sc.expect = sc.expect.filter((e: { policy: string }) => e.policy === '*' || e.policy === 'unsafe-gup')
  sc.steps = sc.steps.map((s: { do: string; durationMs?: number }) => (s.do === 'traffic' ? { ...s, durationMs: 600 } : s))
  const r = await runScenario(t, sc, [])
  t.equal(r.code, 1, 'exit 1')
  t.match(r.stdout, /FAIL oracle: 1 policies, 1 with corruption/, 'the checker is named in the findings')
  t.match(r.stdout, /forbidden-corruption: the oracle found [\d,]+ corrupt bytes under policy unsafe-gup, which does not permit corruption \(permitted: none\); [\d,]+ RDMA writes landed in blocks their MR's file no longer owned; victims: B\.dat \([\d,]+ bytes\)/, 'with its evidence')
  t.match(r.stderr, /checker failed: unsafe-gup: oracle: /, 'and on stderr')
})
