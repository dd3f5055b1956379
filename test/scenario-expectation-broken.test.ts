import t from 'tap'
import { runScenario } from './helpers/scenario-run.ts'

// An expectation that does not hold makes `run` exit 1 and say which one,
// with the value it measured; the ones that hold are not reported as broken.
const scenario = {
  name: 'wrong-promise',
  policies: ['truncate-extend'],
  steps: [
    { do: 'createFile', file: 'A.dat', bytes: 16384, fill: 1 },
    { do: 'registerFile', as: 'A', file: 'A.dat' },
    { do: 'traffic', id: 'w', mr: 'A', op: 'write', size: 4096, count: 100 },
    { do: 'truncate', file: 'A.dat', size: 4096 },
    { do: 'createFile', file: 'B.dat', bytes: 12288, fill: 2 },
    { do: 'traffic', id: 'w2', mr: 'A', op: 'write', size: 4096, count: 100 },
  ],
  expect: [
    { policy: 'truncate-extend', metric: 'truncateResult', op: '==', value: 'ok' },
    { policy: 'truncate-extend', metric: 'corruptBytes', op: '>', value: 0, why: 'a wrong claim' },
  ],
}

t.test('scenario - a broken expectation exits 1 naming it and the measured value', async (t) => {
  const r = await runScenario(t, scenario)
  t.equal(r.code, 1, 'exit 1')
  t.match(r.stderr, /^rdma-emu: run wrong-promise: expectation broke: truncate-extend: corruptBytes > 0 \(measured 0\) - a wrong claim$/m, 'stderr names the expectation and the measured value')
  t.notMatch(r.stderr, /truncateResult/, 'the expectation that held is not reported')
  t.match(r.stdout, /^truncate-extend\s+pinned\s+ok\s+[\d.]+\s+0\s+-\s+200\s+0\s+[\d.]+\s+4\/4\s+ok 3\/3\s+FAILED 1\/2$/m, "the table row: 200 WRITEs, no corruption, 4 pins taken and released, the 3 checkers passed, 1 of 2 expectations failed")
  t.match(r.stdout, /^BROKE {2}truncate-extend: corruptBytes > 0 \(measured 0\)/m)
  t.match(r.stdout, /^held {3}truncate-extend: truncateResult == "ok" \(measured "ok"\)$/m)
  t.match(r.stdout, /^1 of 2 expectations held$/m)
})
