import t from 'tap'
import { runScenario } from './helpers/scenario-run.ts'
import { ONE_CLIENT_CONFIG } from './helpers/bench-run.ts'
import { parseConfig } from '../src/config/load-config.ts'
import { parseScenario } from '../src/scenario/load-scenario.ts'
import { ErrorCodes } from '../src/errors.ts'

// The registerFile step's `mapping`, under policy upstream, as mm/gup.c
// check_vma_flags() judges a writable long-term pin: of a page-cached file
// (createFile dax: false), the default shared mapping (MAP_SHARED) needs dirty
// tracking (mm/mmap.c vma_needs_dirty_tracking) and is refused EFAULT;
// `mapping: "private"` (MAP_PRIVATE) is pinned, over copy-on-write copies: the
// traffic's WRITEs all succeed and the file keeps its bytes.
const PAGES = 4
const mappingScenario = {
  name: 'file-mr-mapping',
  policies: ['upstream'],
  steps: [
    { do: 'createFile', file: 'P.dat', bytes: PAGES * 4096, fill: 34, dax: false, note: 'page-cached' },
    { do: 'registerFile', as: 'S', file: 'P.dat', note: 'writable, the default shared mapping: EFAULT' },
    { do: 'registerFile', as: 'P', file: 'P.dat', mapping: 'private', note: 'writable MAP_PRIVATE: pinned COW copies' },
    { do: 'traffic', id: 'w', mr: 'P', op: 'write', size: 4096, window: 4, count: 64 },
    { do: 'verify', file: 'P.dat', fill: 34, note: 'the WRITEs went to the copies, not the file' },
  ],
  expect: [
    { policy: 'upstream', metric: 'registration', op: '==', value: 'refused EFAULT', why: 'a writable shared mapping of a page-cached file needs dirty tracking' },
    { policy: 'upstream', metric: 'pinRefusals', op: '==', value: 1, why: 'the private registration is not refused' },
    { policy: 'upstream', metric: 'longtermPins', op: '>=', value: PAGES, why: 'the copies are pinned long-term' },
    { policy: 'upstream', metric: 'rdmaErrors', op: '==', value: 0 },
    { policy: 'upstream', metric: 'mismatchBytes', op: '==', value: 0, why: 'the file never sees the NIC writes' },
    { policy: 'upstream', metric: 'corruptBytes', op: '==', value: 0 },
  ],
}

t.test('scenario registerFile mapping: loaded with its default (shared), a bad value refused', async (t) => {
  const config = parseConfig(ONE_CLIENT_CONFIG)
  const sc = parseScenario(mappingScenario, config)
  const regs = sc.steps.filter((s) => s.do === 'registerFile')
  t.same(regs.map((s) => s.mapping), ['shared', 'private'], 'default shared, private as given')
  const bad = { ...mappingScenario, steps: [mappingScenario.steps[0], { do: 'registerFile', as: 'X', file: 'P.dat', mapping: 'cow' }] }
  t.throws(() => parseScenario(bad, config), { code: ErrorCodes.SCENARIO_INVALID, message: /steps\[1\]\.mapping: expected one of shared, private, got "cow"/ }, 'an unknown mapping is a schema problem')
})

t.test('scenario registerFile mapping under upstream: the shared page-cache MR is refused EFAULT, the private one pinned and written', async (t) => {
  const r = await runScenario(t, mappingScenario, ['--json'])
  t.equal(r.code, 0, `exit 0 ${r.stderr}`)
  const run = r.json.runs[0]
  t.equal(run.policy, 'upstream')
  const outcomes = run.timeline.filter((e: { do: string }) => e.do === 'registerFile').map((e: { outcome: string }) => e.outcome)
  t.same(outcomes, ['refused EFAULT', 'pinned'], 'shared: refused EFAULT; private: pinned')
  t.match(run.metrics, { registration: 'refused EFAULT', pinRefusals: 1, rdmaErrors: 0, mismatchBytes: 0, corruptBytes: 0, pinsHeld: 0 })
  t.ok(run.metrics.rdmaOps >= 64, `the WRITEs through the private MR completed (${run.metrics.rdmaOps})`)
  t.ok(run.expectations.every((e: { held: boolean }) => e.held), 'every expectation holds')
})
