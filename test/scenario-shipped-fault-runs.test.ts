import { join } from 'node:path'
import t, { type Test } from 'tap'
import { runScenario } from './helpers/scenario-run.ts'
import { readHistory, readJson, TWO_CLIENT_CONFIG, type CheckJson } from './helpers/fault-run.ts'

// The shipped fault-injection scenarios exit 0 with every checker passing,
// and show what their descriptions promise.
const passing = async (t: Test, name: string) => {
  const r = await runScenario(t, name, ['--json'], { config: TWO_CLIENT_CONFIG })
  t.equal(r.code, 0, `exit 0 ${r.stderr}`)
  for (const run of r.json.runs) {
    const checks = readJson(join(r.runDir, run.policy, 'checks.json')) as CheckJson[]
    t.same(checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.summary}`), [], `${run.policy}: every checker passes`)
    t.ok(run.expectations.every((e: { held: boolean }) => e.held), `${run.policy}: every expectation holds`)
  }
  return r
}

t.test('client-kill-mid-stream: the server reclaims everything the dead client held', async (t) => {
  const r = await passing(t, 'client-kill-mid-stream')
  for (const run of r.json.runs) {
    const c = (readJson(join(r.runDir, run.policy, 'checks.json')) as CheckJson[]).find((x) => x.name === 'leftovers')!
    t.equal(c.counts!.left, 0, `${run.policy}: no pins, MRs, leases or QPs left on the server`)
    t.ok(run.faultLog.some((e: { kind: string; targets: string[] }) => e.kind === 'kill' && e.targets[0] === 'client0'), 'client0 was killed')
  }
})

t.test('pause-resume: the patient QP rides out the pause, the hasty one hits RETRY_EXC_ERR', async (t) => {
  const r = await passing(t, 'pause-resume')
  const ops = readHistory(join(r.runDir, 'deny'))
  const patient = ops.filter((o) => o.stream === 'patient')
  const hasty = ops.filter((o) => o.stream === 'hasty')
  t.ok(patient.length > 0 && patient.every((o) => o.status === 'SUCCESS'), `patient: ${patient.length} operations, all SUCCESS`)
  t.equal(hasty.find((o) => o.status !== 'SUCCESS')?.status, 'RETRY_EXC_ERR', 'hasty: its first error is RETRY_EXC_ERR')
  const pause = r.json.runs[0].faultLog.filter((e: { kind: string }) => e.kind === 'pause')
  t.same(pause.map((e: { action: string }) => e.action), ['start', 'end'], 'the pause began and ended')
})

t.test('lease-break-lost: the notice is dropped, the holder is revoked, nothing is corrupted', async (t) => {
  const r = await passing(t, 'lease-break-lost')
  const m = r.json.runs[0].metrics
  t.equal(m.controlDropped, 1, 'the one lease.break notice was dropped on the control plane')
  t.equal(m.leaseRevocations, 1, 'the server revoked the lease')
  t.equal(m.corruptBytes, 0)
})
