import t, { type Test } from 'tap'
import { FaultRuleSet, type FaultRule } from '../fabric/fault-rules.ts'
import { fabricIcrc } from '../fabric/icrc.ts'
import { NetemPipeline, REORDER_HOLD_MS, type WirePacket } from '../fabric/netem.ts'
import { ROCE_V2_OVERHEAD } from '../fabric/pcap.ts'

/** A packet whose first two bytes number it. */
function pkt(i: number, len = 64): Uint8Array {
  const p = new Uint8Array(len)
  p[0] = i >>> 8
  p[1] = i
  p[2] = 0xa5
  return p
}
const idOf = (p: WirePacket): number => (p.bytes[0]! << 8) | p.bytes[1]!

interface Sent { peer: string; at: number; packets: WirePacket[] }

function pipeline(t: Test, ...rules: FaultRule[]): { rules: FaultRuleSet; netem: NetemPipeline; sent: Sent[]; ids: () => number[] } {
  const set = new FaultRuleSet('a')
  for (const r of rules) set.add(r)
  const sent: Sent[] = []
  const netem = new NetemPipeline(set, (peer, packets) => sent.push({ peer, at: performance.now(), packets }))
  t.teardown(() => netem.close())
  return { rules: set, netem, sent, ids: () => sent.flatMap((s) => s.packets.map(idOf)) }
}


const settle = (ms: number) => new Promise((r) => setTimeout(r, ms))

t.test('netem - duplicate, reorder and corrupt hit their share of packets', async (t) => {
  const { rules, netem, sent } = pipeline(t, { id: 'x', seed: 3, duplicate: { probability: 0.1 }, corrupt: { probability: 0.05 }, reorder: { probability: 0.2 } })
  const N = 20_000
  for (let i = 0; i < N; i++) netem.submit('b', [pkt(i)])
  await settle(REORDER_HOLD_MS + 5)
  const c = rules.report().rules[0]!.links[0]!.counters
  t.ok(Math.abs(c.duplicated / N - 0.1) < 0.01, `duplicated ${c.duplicated}`)
  t.ok(Math.abs(c.corrupted / N - 0.05) < 0.006, `corrupted ${c.corrupted}`)
  t.ok(Math.abs(c.reordered / N - 0.2) < 0.012, `reordered ${c.reordered}`)
  const out = sent.flatMap((s) => s.packets)
  t.equal(out.length, N + c.duplicated, 'every packet and every duplicate went out')
  const bad = out.filter((p) => p.original)
  t.equal(bad.length, c.corrupted, 'corrupted packets carry their original')
  t.ok(bad.every((p) => {
    let bits = 0
    for (let i = 0; i < p.bytes.length; i++) for (let x = p.bytes[i]! ^ p.original![i]!; x; x &= x - 1) bits++
    return bits === 1 && p.bytes[4] === p.original![4]
  }), 'each differs from its original in exactly one bit, never in BTH byte 4 (masked by the ICRC)')
  t.ok(out.every((p) => p.icrc === fabricIcrc(p.original ?? p.bytes)), 'a corrupting link sends every packet with the ICRC of its original bytes')
  t.ok(bad.every((p) => fabricIcrc(p.bytes) !== p.icrc), 'so the receiver catches every corrupted one')
})

t.test('netem - reorder: a held packet goes after the next `depth` packets, or alone after a short hold', async (t) => {
  // Probability 1: every packet is held, so no packet ever follows one.
  const { netem, ids } = pipeline(t, { id: 'r', seed: 1, reorder: { probability: 1, depth: 2 } })
  netem.submit('b', [pkt(0), pkt(1), pkt(2), pkt(3), pkt(4)])
  t.same(ids(), [], 'every packet held: nothing leaves yet')
  await settle(REORDER_HOLD_MS + 10)
  t.same(ids().sort((x, y) => x - y), [0, 1, 2, 3, 4], 'released by the hold timer when nothing follows')

  const p2 = pipeline(t, { id: 'r', seed: 9, reorder: { probability: 0.3, depth: 2 } })
  const N = 200
  for (let i = 0; i < N; i++) p2.netem.submit('b', [pkt(i)])
  await settle(REORDER_HOLD_MS + 10)
  const order = p2.ids()
  t.same([...order].sort((x, y) => x - y), [...Array(N).keys()], 'no packet lost or doubled')
  const log = p2.rules.report().rules[0]!.links[0]!.decisions
  const held = new Set(log.filter((d) => d.actions.includes('reorder')).map((d) => d.k))
  const k = [...held].find((k) => k >= 2 && ![k - 2, k - 1, k + 1, k + 2].some((j) => held.has(j)))!
  t.ok(k !== undefined, `an isolated reordered packet (${k})`)
  t.same(order.slice(order.indexOf(k + 1), order.indexOf(k + 1) + 3), [k + 1, k + 2, k], `packet ${k} goes right after the next two`)
  const late = order.map((id, pos) => pos - id).filter((d) => d > 0)
  t.ok(late.length > 0 && Math.max(...late) <= 2 * 8, `held packets go late, by a bounded number of places (max ${Math.max(...late)})`)
})

t.test('netem - jitter reorders packets as a time-ordered queue does; delay holds them back', async (t) => {
  const { netem, sent, ids } = pipeline(t, { id: 'j', seed: 4, delay: { ms: 20, jitterMs: 15 } })
  const t0 = performance.now()
  for (let i = 0; i < 50; i++) netem.submit('b', [pkt(i)])
  t.equal(sent.length, 0, 'nothing leaves before its delay')
  t.ok(netem.pending, 'packets wait in the queue')
  await settle(60)
  t.notOk(netem.pending, 'all gone after the largest delay')
  t.same([...ids()].sort((x, y) => x - y), [...Array(50).keys()], 'every packet arrives once')
  t.notSame(ids(), [...Array(50).keys()], 'but not in sending order')
  t.ok(sent[0]!.at - t0 >= 5, `first train after ${(sent[0]!.at - t0).toFixed(2)} ms`)
})

t.test('netem - partition drops everything of the link, and only that link', async (t) => {
  const { rules, netem, ids, sent } = pipeline(t, { id: 'p', seed: 1, to: ['b'], partition: true })
  for (let i = 0; i < 10; i++) netem.submit('b', [pkt(i)])
  t.notOk(netem.applies('c'), 'the link to c has no rule')
  t.notOk(netem.applies('@launcher'), 'the launcher is never matched')
  t.same(ids(), [], 'nothing reaches b')
  t.equal(rules.report().rules[0]!.links[0]!.counters.partitioned, 10, 'counted as partitioned')
  t.equal(rules.controlFate('b', 'lease.break'), 'drop', 'control messages to b are dropped')
  t.equal(rules.controlFate('b', undefined), 'drop', 'replies too')
  t.equal(rules.controlFate('c', 'lease.break'), 0, 'not to c')
  t.equal(sent.length, 0)
})

t.test('netem - rate: packets leave one serialisation time apart', async (t) => {
  // 1000-byte RoCEv2 frames at 100,000 B/s: one every 10 ms.
  const bytesPerSec = 100_000
  const { rules, netem, sent } = pipeline(t, { id: 'rate', seed: 1, rate: { bytesPerSec } })
  const t0 = performance.now()
  netem.submit('b', Array.from({ length: 12 }, (_, i) => pkt(i, 1000 - ROCE_V2_OVERHEAD)))
  await new Promise<void>((resolve) => {
    const poll = setInterval(() => {
      if (!netem.pending) {
        clearInterval(poll)
        resolve()
      }
    }, 5)
  })
  const times = sent.flatMap((s) => s.packets.map(() => s.at - t0))
  t.equal(times.length, 12, 'every packet sent')
  const spacing = (times[11]! - times[0]!) / 11
  t.ok(spacing > 8 && spacing < 12.5, `spacing ${spacing.toFixed(2)} ms = 1000 B / 100,000 B/s`)
  t.ok(times[11]! >= 119.5 && times[11]! < 160, `the last leaves after 12 serialisation times (${times[11]!.toFixed(1)} ms), never before`)
  t.ok(times[0]! >= 9, `the first waits its own serialisation time (${times[0]!.toFixed(1)} ms)`)
  t.equal(rules.report().rules[0]!.links[0]!.counters.rateQueued, 11, 'eleven waited behind an earlier packet')
})

t.test('netem - rules compose in order and match their links', async (t) => {
  const { rules, netem, ids } = pipeline(t,
    { id: 'first', seed: 1, loss: { probability: 0.5 } },
    { id: 'second', seed: 2, duplicate: { probability: 1 } },
    { id: 'not-from-a', seed: 3, from: ['x'], partition: true },
    { id: 'only-to-c', seed: 4, to: ['c'], partition: true },
  )
  for (let i = 0; i < 1000; i++) netem.submit('b', [pkt(i)])
  const report = rules.report().rules
  const first = report[0]!.links[0]!.counters
  const second = report[1]!.links[0]!.counters
  t.equal(first.seen, 1000, 'the first rule sees every packet')
  t.equal(second.seen, 1000 - first.lost, 'the second sees what the first let through')
  t.equal(ids().length, 2 * second.seen, 'and doubles each')
  t.same(report.slice(2).map((r) => r.links.length), [0, 0], 'rules for other senders or receivers never touch the link a -> b')
})

t.test('netem - close drops waiting packets and leaves no timer behind', async (t) => {
  const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length
  const before = timers()
  const set = new FaultRuleSet('a')
  set.add({ id: 'slow', seed: 1, delay: { ms: 10_000 }, reorder: { probability: 0.5 } })
  const sent: WirePacket[] = []
  const netem = new NetemPipeline(set, (_peer, packets) => sent.push(...packets))
  for (let i = 0; i < 20; i++) netem.submit(i % 2 ? 'b' : 'c', [pkt(i)])
  t.ok(netem.pending && timers() > before, 'packets wait, timers armed')
  netem.close()
  t.equal(timers(), before, 'no timer left')
  t.notOk(netem.pending, 'nothing waits')
  netem.submit('b', [pkt(99)])
  t.same(sent, [], 'nothing sent, before or after close')
})
