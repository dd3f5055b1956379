import t from 'tap'
import { allPassed, formatResults, resultsToJSON, runCheckers, uniformHistory } from '../src/check/index.ts'
import { history, memory, op, read, write, wv } from './check-helpers.ts'

const clean = {
  history: history([write(1, 0, 10, { n: 2 }), read(2, 20, 30, [wv(1, 0), wv(1, 1)]), op({ id: 3, op: 'fetchAdd', postedUs: 40, offset: 16, value: 2n, result: 0n })]),
  memory: [memory({ 0: wv(1, 0), 1: wv(1, 1), 2: 2n })],
  leftovers: [{ server: 's1', pins: { held: 0 }, mrs: 0, leases: 0, qps: 0 }],
  nodes: [{ id: 's1', killed: false, alive: true }],
  oracle: { runs: [{ policy: 'unsafe-gup', corruptBytes: 64 }] },
}

t.test('runCheckers runs every checker whose input is there, in order', async (t) => {
  const results = runCheckers(clean)
  t.same(results.map((r) => r.name), ['lost-write', 'register', 'atomics', 'exactly-once', 'leftovers', 'alive', 'oracle'])
  t.ok(allPassed(results))
  t.equal(formatResults(results), [
    'PASS lost-write: 2 words, 0 anomalies',
    'PASS register: 1 reads, 2 words, 0 anomalies',
    'PASS atomics: 1 words, 1 FETCH_ADD, 0 CMP_SWAP, 0 anomalies',
    'PASS exactly-once: 3 WRs on 1 QPs, 0 errors, 0 anomalies',
    'PASS leftovers: 1 servers, 0 resources left, 0 anomalies',
    'PASS alive: 1 nodes (0 killed), 0 anomalies',
    'PASS oracle: 1 policies, 1 with corruption, 0 anomalies',
  ].join('\n'))
  t.same(runCheckers({ history: clean.history }).map((r) => r.name), ['register', 'exactly-once'], 'without final memory')
  t.same(runCheckers({ nodes: clean.nodes }).map((r) => r.name), ['alive'])
  t.same(runCheckers({}), [])
})

t.test('a failing run: FAIL lines with the evidence, and JSON with hex values', async (t) => {
  const results = runCheckers({ ...clean, memory: [memory({ 1: wv(1, 1), 2: 3n })], oracle: { runs: [{ policy: 'upstream', corruptBytes: 8 }] } })
  t.notOk(allPassed(results))
  const text = formatResults(results)
  t.match(text, /^FAIL lost-write: 2 words, 1 anomaly \(1 lost-write\)\n {2}lost-write \(word 0 of mr0\): word 0 of mr0@s1 ends with the initial value/)
  t.match(text, /\n {4}values: final=0x0 initial=0x0 lost=0xe500000001000000\n {4}op 1 c1 qp 0x1 write mr0@s1\+0x0 \(16 B\) 0→10 µs SUCCESS wrote\[0\]=0xe500000001000000\n/)
  t.match(text, /\nFAIL atomics: .*\n {2}wrong-total \(word 2 of mr0\)/)
  t.match(text, /\n {4}op 3 c1 qp 0x1 fetchAdd mr0@s1\+0x10 \(8 B\) 40→50 µs SUCCESS add=0x2 result=0x0/)
  t.match(text, /\nFAIL oracle: 1 policies, 1 with corruption, 1 anomaly \(1 forbidden-corruption\)/)
  const json = resultsToJSON(results) as Array<{ name: string; anomalies: Array<{ values?: Record<string, string>; ops: Array<{ value?: string }> }> }>
  t.equal(json[0].anomalies[0].values?.lost, '0xe500000001000000')
  t.equal(json[2].anomalies[0].ops[0].value, '0x2')
  t.doesNotThrow(() => JSON.stringify(json))
})

t.test('uniformHistory keeps every field of every operation', async (t) => {
  const h = clean.history
  const u = uniformHistory(h)
  t.equal(u.ops.length, h.ops.length)
  for (let i = 0; i < h.ops.length; i++) {
    for (const [k, v] of Object.entries(h.ops[i])) t.equal((u.ops[i] as unknown as Record<string, unknown>)[k], v, `op ${i} ${k}`)
  }
  t.equal(new Set(u.ops.map((o) => Object.keys(o).join())).size, 1, 'one layout')
})
