import t from 'tap'
import type { FaultRule } from '../fabric/fault-rules.ts'
import { faultQueuesDrained, startEnginePair } from './helpers/engine-pair.ts'
import { runWorkload } from './helpers/engine-workload.ts'

// Issue 11, acceptance 2 at engine scale: 10,000 mixed operations over
// netem-style loss, duplication, reordering, corruption and delay in both
// directions. Every WR completes successfully, in order, once; data and
// atomics are exact; corrupted packets are exactly the receivers' ICRC drops.
const SEED = 20261201
const OPS = 10_000

const lossy = (id: string, seed: number): FaultRule => ({
  id, seed,
  loss: { probability: 0.02 },
  duplicate: { probability: 0.01 },
  reorder: { probability: 0.05 },
  corrupt: { probability: 0.001 },
  delay: { ms: 1, jitterMs: 0.5, distribution: 'uniform' },
})

t.test('engine - netem faults: 10,000 mixed operations over loss, duplication, reordering, corruption and delay', async (t) => {
  const pair = await startEnginePair(t, { timeScale: 1, rules: { a: [lossy('a-to-b', SEED)], b: [lossy('b-to-a', SEED + 1)] } })
  const n = await runWorkload(t, pair, {
    ops: OPS, seed: SEED, mtu: 1024, maxSize: 3000, window: 16, timeout: 12,
    mix: [['write', 0.35], ['read', 0.65], ['fadd', 0.85], ['cswap', 1]],
  })
  t.ok(n.cswap > OPS / 10 && n.fadd > OPS / 10, `${n.fadd} FETCH_ADDs and ${n.cswap} CMP_SWAPs in the mix`)
  await faultQueuesDrained(pair)
  const ab = pair.a.device.rules.report().rules[0]!.links[0]!
  const ba = pair.b.device.rules.report().rules[0]!.links[0]!
  t.equal(ab.to, 'b', 'rule a-to-b acted on the link a -> b')
  for (const [name, link] of [['requests', ab], ['responses', ba]] as const) {
    const c = link.counters
    t.ok(c.lost > 0 && c.duplicated > 0 && c.reordered > 0 && c.corrupted > 0 && c.delayed > 0, `every fault hit the ${name}: ${JSON.stringify(c)}`)
  }
  const retries = pair.a.device.counters.timeoutRetries + pair.a.device.counters.nakRetries
  t.ok(retries > 0, `retransmissions: ${retries}`)
  t.equal(pair.b.device.counters.icrcErrors, ab.counters.corrupted, `b dropped every corrupted request on its ICRC check (${ab.counters.corrupted})`)
  t.equal(pair.a.device.counters.icrcErrors, ba.counters.corrupted, `a dropped every corrupted response on its ICRC check (${ba.counters.corrupted})`)
  t.equal(pair.a.device.counters.badPackets + pair.b.device.counters.badPackets, 0, 'no corrupted packet got past the check to the decoder')
})
