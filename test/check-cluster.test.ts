import t from 'tap'
import { checkAlive, checkLeftovers, checkOracle } from '../src/check/cluster.ts'
import { formatResults } from '../src/check/format.ts'

t.test('leftovers: clean servers pass, anything held is named', async (t) => {
  const clean = { server: 's1', pins: { held: 0 }, mrs: 0, leases: 0, qps: 0 }
  t.ok(checkLeftovers([clean]).ok)
  const r = checkLeftovers([clean, { server: 's2', pins: { held: 3 }, mrs: 1, leases: 0, qps: 2 }])
  t.notOk(r.ok)
  t.same(r.anomalies.map((a) => a.message), ['server s2 still holds 3 pins', 'server s2 still holds 1 MRs', 'server s2 still holds 2 QPs'])
  t.equal(r.counts?.left, 6)
  t.match(formatResults([r]), /^FAIL leftovers: 2 servers, 6 resources left, 3 anomalies \(3 leftover\)\n {2}leftover: server s2 still holds 3 pins/)
  t.equal(checkLeftovers([{ ...clean, leases: 1 }]).anomalies[0]?.message, 'server s1 still holds 1 leases')
})

t.test('alive: a node not killed but dead fails; a killed one need not be alive', async (t) => {
  t.ok(checkAlive([{ id: 'c1', killed: true, alive: false }, { id: 's1', killed: false, alive: true }]).ok)
  const r = checkAlive([{ id: 'c1', killed: false, alive: false }, { id: 's1', killed: true, alive: true }])
  t.notOk(r.ok)
  t.equal(r.anomalies.length, 1)
  t.equal(r.anomalies[0].kind, 'dead-node')
  t.match(r.anomalies[0].message, /node c1 was not killed/)
})

t.test('oracle: corruption only under policies that permit it', async (t) => {
  t.ok(checkOracle([{ policy: 'unsafe-gup', corruptBytes: 4096 }, { policy: 'layout-lease', corruptBytes: 0 }]).ok)
  const r = checkOracle([{ policy: 'unsafe-gup', corruptBytes: 4096 }, { policy: 'upstream', corruptBytes: 8 }])
  t.notOk(r.ok)
  t.equal(r.anomalies.length, 1)
  t.equal(r.anomalies[0].kind, 'forbidden-corruption')
  t.match(r.anomalies[0].message, /8 corrupt bytes under policy upstream/)
  t.notOk(checkOracle([{ policy: 'unsafe-gup', corruptBytes: 1 }], []).ok, 'nothing permitted')
  t.ok(checkOracle([{ policy: 'odp', corruptBytes: 1 }], ['odp']).ok)
})
