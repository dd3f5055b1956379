import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { runScenario } from './helpers/scenario-run.ts'

// The headline experiment, shipped as scenarios/truncate-race.json, under two
// of its policies: a client writes through a file MR while the server
// truncates the file and a new file takes the freed blocks. unsafe-gup lets
// the NIC write into the new file (the oracle names it and counts the bytes,
// and the file's contents really changed); truncate-extend keeps the pinned
// blocks with the truncated file, so nothing is corrupted; exclusive-lease
// (seed 002) refuses the truncate with ETXTBSY while the lease is held and
// never breaks it. Each run is its own cluster with that policy, written to
// its own directory.
t.test('scenario - truncate race: unsafe-gup corrupts the file that reuses the blocks, truncate-extend corrupts nothing, exclusive-lease refuses the truncate (ETXTBSY)', async (t) => {
  const r = await runScenario(t, 'truncate-race', ['--policy', 'unsafe-gup,truncate-extend,exclusive-lease', '--traffic-ms', '1500', '--json'])
  t.equal(r.code, 0, `exit 0: every expectation of the three policies held ${r.stderr}`)
  const runs = r.json.runs as Array<{ policy: string; runDir: string; metrics: Record<string, number | string>; victims: Array<{ file: string; bytes: number }>; expectations: Array<{ held: boolean }> }>
  t.same(runs.map((x) => x.policy), ['unsafe-gup', 'truncate-extend', 'exclusive-lease'], 'one run per policy, in order')

  const [gup, extend, excl] = runs as [typeof runs[0], typeof runs[0], typeof runs[0]]
  t.equal(gup.metrics.registration, 'pinned', 'unsafe-gup: the file MR is long-term pinned')
  t.equal(gup.metrics.truncateResult, 'ok', 'unsafe-gup: the truncate goes through')
  t.ok((gup.metrics.corruptBytes as number) > 0, `unsafe-gup: the oracle counted ${gup.metrics.corruptBytes} corrupt bytes`)
  t.equal(gup.victims[0]?.file, 'B.dat', 'unsafe-gup: the victim is the file that got the freed blocks')
  t.ok(gup.victims[0]!.bytes > 0 && gup.victims[0]!.bytes <= (gup.metrics.corruptBytes as number), `${gup.victims[0]!.bytes} of those bytes in B.dat`)
  t.ok((gup.metrics.mismatchBytes as number) > 0, `unsafe-gup: B.dat really changed (${gup.metrics.mismatchBytes} bytes differ)`)
  t.equal(gup.metrics.rdmaErrors, 0, 'unsafe-gup: the NIC never noticed')

  t.equal(extend.metrics.truncateResult, 'ok', 'truncate-extend: the truncate goes through')
  t.equal(extend.metrics.corruptBytes, 0, 'truncate-extend: the oracle counted no corrupt byte')
  t.same(extend.victims, [], 'truncate-extend: no victim')
  t.equal(extend.metrics.mismatchBytes, 0, 'truncate-extend: B.dat intact')
  t.equal(extend.metrics.blocksKept, 15, 'truncate-extend: the 15 pinned blocks stayed with A.dat')
  t.ok((extend.metrics.rdmaOps as number) > 0 && extend.metrics.rdmaErrors === 0, `truncate-extend: ${extend.metrics.rdmaOps} WRITEs, none failed`)

  t.equal(excl.metrics.registration, 'pinned', 'exclusive-lease: pinned under the lease')
  t.equal(excl.metrics.truncateResult, 'ETXTBSY', 'exclusive-lease: the truncate fails while the lease is held')
  t.same([excl.metrics.leaseBreaks, excl.metrics.leaseRevocations], [0, 0], 'exclusive-lease: nothing broke the lease')
  t.same([excl.metrics.corruptBytes, excl.metrics.mismatchBytes, excl.metrics.rdmaErrors], [0, 0, 0], 'exclusive-lease: no corruption, RDMA undisturbed')

  for (const run of runs) {
    t.equal(run.metrics.pinsAcquired, 16, `${run.policy}: 16 pins taken (one per page of the MR)`)
    t.equal(run.metrics.pinsReleased, run.metrics.pinsAcquired, `${run.policy}: all released at the end`)
    t.ok(run.expectations.length > 5 && run.expectations.every((e) => e.held), `${run.policy}: ${run.expectations.length} expectations held`)
    const cfg = JSON.parse(readFileSync(join(run.runDir, 'cluster.config.json'), 'utf8'))
    t.same(cfg.nodes.map((n: { id: string }) => n.id), ['server0', 'client0'], `${run.policy}: its own cluster`)
    t.equal(cfg.nodes[0].server.policy, run.policy, `${run.policy}: the policy in the run's configuration`)
    t.equal(cfg.nodes[0].server.leaseBreakTimeMs, 5000, `${run.policy}: with the scenario's overrides`)
  }
  t.same(JSON.parse(readFileSync(join(r.runDir, 'results.json'), 'utf8')), r.json, 'results.json holds what --json printed')
})
