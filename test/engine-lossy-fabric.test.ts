import t from 'tap'
import { startEnginePair } from './helpers/engine-pair.ts'
import { runWorkload } from './helpers/engine-workload.ts'

// 10,000 mixed operations over a fabric that drops, duplicates and reorders
// data-plane packets in both directions (seeded): every operation completes
// exactly once, in order, and every byte ends up where it should. (Moved
// from the multi-process rc-lossy-fabric test: same workload and checks.)
const SEED = 20261123

t.test('engine - lossy fabric: 10,000 mixed operations complete exactly once, in order, with correct data', async (t) => {
  // The time scale of a cluster (1): timeout 10 is 4.2 ms, as in the multi-process run.
  const pair = await startEnginePair(t, {
    timeScale: 1,
    faults: { a: { drop: 0.01, duplicate: 0.01, reorder: 0.01, seed: SEED }, b: { drop: 0.01, duplicate: 0.01, reorder: 0.01, seed: SEED + 1 } },
  })
  const n = await runWorkload(t, pair, {
    ops: 10_000, seed: SEED, mtu: 1024, maxSize: 3000, window: 128, timeout: 10,
    mix: [['write', 0.4], ['read', 0.65], ['fadd', 0.85], ['send', 1]],
  })
  t.ok(n.send > 100, `${n.send} SENDs in the mix`)
  const requests = pair.a.device.faults!.counters
  const responses = pair.b.device.faults!.counters
  t.ok(requests.dropped > 0 && requests.duplicated > 0 && requests.reordered > 0, `faults hit requests: ${JSON.stringify(requests)}`)
  t.ok(responses.dropped > 0 && responses.duplicated > 0 && responses.reordered > 0, `faults hit responses: ${JSON.stringify(responses)}`)
})
