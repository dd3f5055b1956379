import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { tempDir } from './cluster-helpers.ts'
import { nothingStarted, runScenario } from './helpers/scenario-run.ts'

// Bad scenarios exit 2 with one line per problem, naming its JSON path and
// what was expected, before any cluster starts. Schema problems come first
// (a file that fails the schema is not looked at further); then references
// the schema cannot check (node ids, files, MRs, policies, metric types).
const ok = { name: 'ok', policies: ['unsafe-gup'], steps: [{ do: 'createFile', file: 'A.dat', bytes: 4096 }] }

const schemaBad = {
  name: 'bad',
  policies: ['unsafe-gup', 'unsafe-gup'],
  cluster: { server: { leaseBreakTimeMs: -1 }, timeScale: 0 },
  steps: [
    { do: 'explode' },
    { do: 'createFile', file: 'A.dat', bytes: -5, fill: 256 },
    { do: 'traffic', id: 't', mr: 'm', op: 'write', size: '4k', count: 1 },
    { do: 'truncate', fil: 'A.dat', size: 0 },
  ],
  expect: [
    { policy: '*', metric: 'corruption', op: '>', value: 0 },
    { policy: 'sometimes', metric: 'corruptBytes', op: '==', value: 0 },
    { policy: '*', metric: 'corruptBytes', op: '=~', value: 0 },
  ],
}
const schemaLines = [
  /^policies: items 0 and 1 are the same \("unsafe-gup"\), expected each at most once$/m,
  /^cluster\.server\.leaseBreakTimeMs: expected integer 0-86400000, got -1$/m,
  /^cluster\.timeScale: expected number > 0 and <= 1000000, got 0$/m,
  /^steps\[0\]\.do: expected one of createFile, .*, verify, .*, got "explode"$/m,
  /^steps\[1\]\.bytes: expected integer 0-1073741824, got -5$/m,
  /^steps\[1\]\.fill: expected integer 0-255, got 256$/m,
  /^steps\[2\]\.size: expected integer 1-16777216, got "4k"$/m,
  /^steps\[3\]\.fil: unknown property, expected one of do, when, note, server, file, size, timeoutMs, at$/m,
  /^steps\[3\]\.file: missing, expected string matching/m,
  /^expect\[0\]\.metric: expected one of corruptBytes, .*, got "corruption"$/m,
  /^expect\[1\]\.policy: expected a policy, a list of policies, or "\*" for every run, got "sometimes"$/m,
  /^expect\[2\]\.op: expected one of ==, !=, >, >=, <, <=, got "=~"$/m,
]

const refsBad = {
  name: 'refs',
  policies: ['unsafe-gup'],
  cluster: { server: { policy: 'deny' } },
  steps: [
    { do: 'createFile', file: 'A.dat', bytes: 4096, server: 'server9' },
    { do: 'leaseMode', client: 'server0', mode: 'ignore' },
    { do: 'createFile', file: 'A.dat', bytes: 4096 },
    { do: 'unlink', file: 'A.dat' },
    { do: 'truncate', file: 'A.dat', size: 0 },
    { do: 'traffic', id: 't', mr: 'nope', op: 'read', size: 8 },
    { do: 'stop', traffic: 'x' },
    { do: 'registerMemory', as: 'm', bytes: 4096 },
    { do: 'traffic', id: 'u', mr: 'm', op: 'write', size: 4096, offset: 8, count: 1 },
    { do: 'createFile', file: 'L.dat', bytes: 4096 },
    { do: 'lease', file: 'L.dat' },
  ],
  expect: [
    { policy: ['deny', 'odp'], metric: 'corruptBytes', op: '>', value: 0 },
    { policy: '*', metric: 'truncateResult', op: '>', value: 'ok' },
    { policy: '*', metric: 'corruptBytes', op: '==', value: 'none' },
    { policy: '*', metric: 'punchMs', op: '>', value: 0 },
  ],
}
const refsLines = [
  /^cluster\.server\.policy: not allowed here, expected the policies to run under in "policies"$/m,
  /^steps\[0\]\.server: unknown node id "server9", expected a server node of the configuration \(server0\)$/m,
  /^steps\[1\]\.client: node "server0" is a server node, expected a client node \(client0\)$/m,
  /^steps\[4\]\.file: no earlier createFile step makes "A.dat" on server0$/m,
  /^steps\[5\]\.mr: no earlier registerFile \/ registerMemory step names an MR "nope"$/m,
  /^steps\[5\]: missing count or durationMs/m,
  /^steps\[6\]\.traffic: no earlier traffic step has the id "x"$/m,
  /^steps\[8\]: offset 8 \+ size 4096 is past the end of MR "m" \(4096 bytes\)$/m,
  /^steps\[10\]: lease needs policy layout-lease or exclusive-lease, but would also run under unsafe-gup: add "when": \["layout-lease", "exclusive-lease"\]$/m,
  /^expect\[0\]\.policy: deny, odp are not among the scenario's policies \(unsafe-gup\)$/m,
  /^expect\[1\]\.op: truncateResult is a string: expected == or !=, got ">"$/m,
  /^expect\[2\]\.value: corruptBytes is a number, got "none"$/m,
  /^expect\[3\]\.metric: punchMs is only measured by a punch step, and the scenario has none$/m,
]

t.test('scenario - bad input exits 2 naming the JSON path, before any cluster starts', async (t) => {
  const raw = join(tempDir(t), 'broken.json')
  writeFileSync(raw, '{ "name": "x", "steps": [ { "do": "sleep" "ms": 1 } ] }')
  const [schema, refs, overrides, json, missing, policy] = await Promise.all([
    runScenario(t, schemaBad),
    runScenario(t, refsBad),
    runScenario(t, { ...ok, cluster: { fabric: { heartbeatTimeoutMs: 100 } } }),
    runScenario(t, raw),
    runScenario(t, '/nonexistent/scenario.json'),
    runScenario(t, ok, ['--policy', 'deny']),
  ])
  const check = (t: Test, r: typeof schema, lines: RegExp[], header = true) => {
    t.equal(r.code, 2, `exit 2 ${r.stderr}`)
    if (header) t.match(r.stderr, /^rdma-emu: invalid scenario .*\(\d+ problems?\):$/m, 'a header line counting the problems')
    for (const m of lines) t.match(r.stderr, m)
    t.equal(r.stdout, '', 'no table')
    t.ok(nothingStarted(r), 'no run directory: nothing was started')
  }
  t.test('schema: step kinds, numbers, properties, expectations, overrides', async (t) => {
    check(t, schema, schemaLines)
    t.equal(schema.stderr.trim().split('\n').length, 1 + schemaLines.length, 'one line per problem')
  })
  t.test('references: node ids, files, MRs, traffic ids, lease steps, expectation policies and types', async (t) => {
    check(t, refs, refsLines)
    t.equal(refs.stderr.trim().split('\n').length, 1 + refsLines.length, 'one line per problem (a bad node id is not also a missing file)')
  })
  t.test('overrides that contradict the configuration', async (t) => check(t, overrides, [/^cluster: fabric\.heartbeatTimeoutMs: expected more than heartbeatIntervalMs \(250\), got 100$/m]))
  t.test('invalid JSON', async (t) => check(t, json, [/broken\.json: invalid JSON at line 1 column 43: expected "," or "}", got "\\""/]))
  t.test('a missing file', async (t) => check(t, missing, [/\/nonexistent\/scenario\.json: file not found/]))
  t.test('an unknown --policy', async (t) => check(t, policy, [/^rdma-emu: --policy: "deny" is not among the scenario's policies \(unsafe-gup\)$/m], false))
})
