import t from 'tap'
import { runScenario } from './helpers/scenario-run.ts'

// The shipped fault-injection scenario: WRITEs and READs on two QPs over a
// fabric that drops, duplicates and reorders packets (seeded). The fabric
// really lost packets, the requesters really retransmitted, and still every
// operation completed without error and server memory holds what it should.
t.test('scenario - lossy fabric: every operation completes, no data error, retransmissions > 0', async (t) => {
  const r = await runScenario(t, 'lossy-fabric', ['--json'])
  t.equal(r.code, 0, `exit 0 ${r.stderr}`)
  const [run] = r.json.runs as Array<{ metrics: Record<string, number>; traffic: Array<{ id: string; completed: number; errors: number }>; expectations: Array<{ held: boolean }> }>
  const m = run!.metrics
  t.same(run!.traffic.map((x) => [x.id, x.completed, x.errors]).sort(), [['reads', 2000, 0], ['writes', 2000, 0]], '2000 READs and 2000 WRITEs, none failed')
  t.equal(m.mismatchBytes, 0, 'every WRITE landed; READs left their source alone')
  t.equal(m.corruptBytes, 0)
  t.ok(m.faultsDropped! > 0 && m.faultsDuplicated! > 0 && m.faultsReordered! > 0, `the fabric dropped ${m.faultsDropped}, duplicated ${m.faultsDuplicated}, reordered ${m.faultsReordered} packets`)
  t.ok(m.retransmissions! > 0, `${m.retransmissions} retransmissions`)
  t.ok(m.seqNaks! > 0, `${m.seqNaks} sequence-error NAKs`)
  t.ok(m.packets! > 16000, `${m.packets} data-plane packets (4000 operations of 4 packets at MTU 1024, plus responses and retries)`)
  t.ok(run!.expectations.length === 7 && run!.expectations.every((e) => e.held), 'all 7 expectations held')
})
