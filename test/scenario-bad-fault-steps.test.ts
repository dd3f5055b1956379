import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { tempDir } from './cluster-helpers.ts'
import { nothingStarted, runScenario, type ScenarioRun } from './helpers/scenario-run.ts'

// Bad fault steps exit 2 naming the JSON path, before any cluster starts:
// one scenario per kind of mistake, so each is shown to be caught alone.
const base = (steps: object[]): object => ({ name: 'bad-faults', policies: ['deny'], steps: [{ do: 'registerMemory', as: 'm', bytes: 4096 }, ...steps] })

const cases: Array<{ what: string; scenario: object; lines: RegExp[] }> = [
  { what: 'an unknown fault kind', scenario: base([{ do: 'meteor', node: 'server0' }]), lines: [/^steps\[1\]\.do: expected one of createFile, .*, got "meteor"$/m] },
  { what: 'a time out of range', scenario: base([{ do: 'kill', node: 'client0', at: 9_000_000 }]), lines: [/^steps\[1\]\.at: expected integer 0-600000, got 9000000$/m] },
  { what: 'a duration out of range', scenario: base([{ do: 'partition', isolate: 'client0', durationMs: 0 }]), lines: [/^steps\[1\]\.durationMs: expected integer 1-600000, got 0$/m] },
  { what: 'an unknown node', scenario: base([{ do: 'pause', node: 'client9' }]), lines: [/^steps\[1\]\.node: unknown node id "client9", expected a node of the configuration \(server0, client0\)$/m] },
  { what: 'an unknown node in a partition', scenario: base([{ do: 'partition', between: [['server0'], ['clientX']] }]), lines: [/^steps\[1\]\.between\[1\]\[0\]: unknown node id "clientX"/m] },
  { what: 'a partition naming no nodes', scenario: base([{ do: 'partition', between: [[], ['client0']] }]), lines: [/^steps\[1\]\.between\[0\]: expected array of at least 1 item\(s\), got an empty array$/m] },
  { what: 'a partition with a node on both sides', scenario: base([{ do: 'partition', between: [['server0', 'client0'], ['client0']] }]), lines: [/^steps\[1\]\.between: client0 is on both sides, expected two disjoint sets of nodes$/m] },
  { what: 'a probability above 1', scenario: base([{ do: 'netem', loss: 1.5 }]), lines: [/^steps\[1\]\.loss: /m] },
  { what: 'a netem step with no impairment', scenario: base([{ do: 'netem', from: ['client0'] }]), lines: [/^steps\[1\]: /m] },
  { what: 'an unknown control message type', scenario: base([{ do: 'dropMessages', messages: ['lease.brake'] }]), lines: [/^steps\[1\]\.messages\[0\]: unknown message type "lease\.brake"/m] },
  { what: 'a heal of an unknown fault', scenario: base([{ do: 'heal', fault: 'cut' }]), lines: [/^steps\[1\]\.fault: no earlier fault step has the id "cut"$/m] },
  { what: 'two faults with one id', scenario: base([{ do: 'netem', id: 'f', loss: 0.1 }, { do: 'pause', id: 'f', node: 'client0' }]), lines: [/^steps\[2\]\.id: "f" is already the id of the fault of steps\[1\]$/m] },
  { what: 'a storage fault on a client', scenario: base([{ do: 'storageFault', server: 'client0', fsync: 'EIO' }]), lines: [/^steps\[1\]\.server: node "client0" is a client node, expected a server node \(server0\)$/m] },
]

const check = (t: Test, r: ScenarioRun, lines: RegExp[]): void => {
  t.equal(r.code, 2, `exit 2 ${r.stderr}`)
  for (const m of lines) t.match(r.stderr, m)
  t.equal(r.stdout, '', 'no table')
  t.ok(nothingStarted(r), 'no run directory: nothing was started')
}

t.test('scenario - bad fault steps exit 2 naming the path, nothing started', async (t) => {
  const raw = join(tempDir(t), 'broken.json')
  writeFileSync(raw, '{ "name": "x", "steps": [ { "do": "partition", "isolate": "server0" } }')
  const results = await Promise.all([...cases.map((c) => runScenario(t, c.scenario)), runScenario(t, raw)])
  for (const [k, c] of cases.entries()) t.test(c.what, async (t) => check(t, results[k]!, c.lines))
  t.test('invalid JSON', async (t) => check(t, results[cases.length]!, [/broken\.json: invalid JSON at line 1 column \d+/]))
})
