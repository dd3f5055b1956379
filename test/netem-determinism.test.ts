import t from 'tap'
import { DECISION_LOG_SIZE, FaultRuleSet, type FaultRule } from '../fabric/fault-rules.ts'

const rule = (seed: number): FaultRule => ({
  id: 'mix', seed, delay: { ms: 1, jitterMs: 0.5, distribution: 'normal' }, loss: { probability: 0.05 },
  duplicate: { probability: 0.05 }, corrupt: { probability: 0.05 }, reorder: { probability: 0.1, depth: 2 },
})

/** The decision logs of `n` packets from node a to each of b and c, the same sizes every time. */
function run(seed: number, n = 500): ReturnType<FaultRuleSet['report']> {
  const rules = new FaultRuleSet('a')
  rules.add(rule(seed))
  for (let i = 0; i < n; i++) for (const to of ['b', 'c']) for (const l of rules.linksTo(to)) l.fate(100 + (i % 7) * 300)
  return rules.report()
}

t.test('netem - the same seed gives the same decision log; another seed, another log', async (t) => {
  const one = run(42)
  t.same(run(42), one, 'same seed: identical counters and decision logs')
  const links = one.rules[0]!.links
  t.equal(links.length, 2, 'one entry per link')
  t.equal(links[0]!.decisions.length, DECISION_LOG_SIZE, `the log keeps the first ${DECISION_LOG_SIZE} decisions`)
  t.same(links[0]!.decisions.map((d) => d.k), [...Array(DECISION_LOG_SIZE).keys()], 'numbered by packet index')
  t.equal(links[0]!.counters.seen, 500, 'counters cover every packet')
  t.ok(links[0]!.decisions.some((d) => d.actions.length > 0), 'something happened')
  t.notSame(links[0]!.decisions, links[1]!.decisions, 'each link of a rule rolls its own dice')
  t.notSame(run(43).rules[0]!.links[0]!.decisions, links[0]!.decisions, 'another seed: another log')
})

t.test('netem - a packet\'s fate depends only on the seed and its index', async (t) => {
  // Packet sizes differ between the runs: only the corrupt bit position may change with the size, never the fates.
  const a = new FaultRuleSet('a')
  const b = new FaultRuleSet('a')
  a.add(rule(5))
  b.add(rule(5))
  const fa = Array.from({ length: 300 }, () => a.linksTo('b')[0]!.fate(64))
  const fb = Array.from({ length: 300 }, (_, i) => b.linksTo('b')[0]!.fate(64 + i * 10))
  t.same(fa.map((f) => [f.lost, f.duplicate, f.corruptBit >= 0, f.reorderDepth, f.delayMs]), fb.map((f) => [f.lost, f.duplicate, f.corruptBit >= 0, f.reorderDepth, f.delayMs]), 'same fates, packet by packet')
  // Control messages roll separate dice: interleaving them does not move the data plane's sequence.
  const c = new FaultRuleSet('a')
  c.add({ ...rule(5), control: { messages: ['lease.break'], drop: 0.5 } })
  const fc = Array.from({ length: 300 }, () => {
    c.controlFate('b', 'lease.break')
    return c.linksTo('b')[0]!.fate(64)
  })
  t.same(fc.map((f) => f.delayMs), fa.map((f) => f.delayMs), 'control-plane decisions leave the data-plane sequence alone')
})
