import { join } from 'node:path'
import t from 'tap'
import { runScenario } from './helpers/scenario-run.ts'
import { readJson, TWO_CLIENT_CONFIG, type CheckJson } from './helpers/fault-run.ts'

// 100,000 mixed operations (WRITE, READ, FETCH_ADD, CMP_SWAP) on eight QPs
// over 2% loss, 1% duplication, 5% reordering, 0.1% corruption and
// 1 ms +- 0.5 ms delay: no checker finds a violation, the requesters really
// retransmitted, and the receivers' ICRC drops equal the corrupted packets.
t.test('lossy-corrupt-fabric: 100,000 operations, 0 violations, retransmissions > 0, ICRC drops == corrupted', async (t) => {
  const r = await runScenario(t, 'lossy-corrupt-fabric', ['--json'], { config: TWO_CLIENT_CONFIG, timeoutMs: 150_000 })
  t.equal(r.code, 0, `exit 0 ${r.stderr}`)
  const run = r.json.runs[0]
  const m = run.metrics
  t.equal(m.rdmaOps, 100_000, '100,000 operations completed')
  t.equal(m.rdmaErrors, 0, 'none in error')
  t.equal(m.historyOps, 100_000, 'every one in the history')
  const checks = readJson(join(r.runDir, 'deny', 'checks.json')) as CheckJson[]
  t.same(checks.filter((c) => !c.ok).map((c) => c.name), [], '0 checker violations')
  t.ok(checks.find((c) => c.name === 'exactly-once')!.summary.startsWith('100,000 WRs'), 'exactly-once saw every WR')
  t.ok(m.retransmissions > 0, `${m.retransmissions} retransmissions`)
  t.ok(m.faultsLost > 0 && m.faultsCorrupted > 0 && m.faultsDelayed > 0, `${m.faultsLost} lost, ${m.faultsCorrupted} corrupted, ${m.faultsDelayed} delayed`)
  t.equal(m.icrcDrops, m.faultsCorrupted, `ICRC drops (${m.icrcDrops}) equal the corrupted packets`)
  t.ok(checks.some((c) => c.name === 'icrc' && c.ok), 'and the icrc checker agrees')
})
