import t from 'tap'
import { RuleLink, type LossSpec } from '../fabric/fault-rules.ts'

const N = 100_000

function losses(loss: LossSpec, n = N, seed = 11): boolean[] {
  const link = new RuleLink({ id: 'l', seed, loss }, 'a', 'b')
  return Array.from({ length: n }, () => link.fate(500).lost)
}

const rate = (xs: boolean[]): number => xs.filter(Boolean).length / xs.length

/** Mean length of runs of consecutive losses. */
function meanBurst(xs: boolean[]): number {
  let runs = 0
  let lost = 0
  for (let i = 0; i < xs.length; i++) {
    if (!xs[i]) continue
    lost++
    if (i === 0 || !xs[i - 1]) runs++
  }
  return lost / runs
}

t.test('netem - independent loss: the configured rate, bursts of about one packet', async (t) => {
  const xs = losses({ probability: 0.02 })
  t.ok(Math.abs(rate(xs) - 0.02) < 0.002, `loss rate ${rate(xs)} is 2%`)
  t.ok(meanBurst(xs) < 1.05, `mean burst ${meanBurst(xs).toFixed(3)} packets`)
  t.equal(rate(losses({ probability: 0 })), 0, 'probability 0 loses nothing')
  t.equal(rate(losses({ probability: 1 }, 1000)), 1, 'probability 1 loses everything')
})

t.test('netem - loss correlation makes losses come in bursts', async (t) => {
  const free = losses({ probability: 0.3 })
  const correlated = losses({ probability: 0.3, correlation: 0.75 })
  const lossAfterLoss = (xs: boolean[]) => {
    let after = 0
    let both = 0
    for (let i = 1; i < xs.length; i++) if (xs[i - 1]) { after++; if (xs[i]) both++ }
    return both / after
  }
  t.ok(Math.abs(lossAfterLoss(free) - rate(free)) < 0.01, `independent: P(loss | loss) ${lossAfterLoss(free).toFixed(3)} = P(loss) ${rate(free).toFixed(3)}`)
  t.ok(lossAfterLoss(correlated) > rate(correlated) + 0.2, `correlated: P(loss | loss) ${lossAfterLoss(correlated).toFixed(3)} well above P(loss) ${rate(correlated).toFixed(3)}`)
  t.ok(meanBurst(correlated) > meanBurst(free), `bursts ${meanBurst(correlated).toFixed(2)} vs ${meanBurst(free).toFixed(2)} packets`)
  // netem's correlated uniform pulls draws towards their running mean, so fewer fall under P: the
  // loss rate drops well below P (a known property of netem's correlation, kept for fidelity).
  t.ok(rate(correlated) < rate(free), `and, as in netem, a lower rate (${rate(correlated).toFixed(3)} < ${rate(free).toFixed(3)})`)
})

t.test('netem - Gilbert-Elliott loss: the stationary rate and the Bad state dwell time', async (t) => {
  // p = P(Good -> Bad), r = P(Bad -> Good): the chain is Bad p / (p + r) of the time, for 1 / r packets at a stretch.
  const p = 0.01, r = 0.2
  const xs = losses({ gemodel: { p, r } })
  const expect = p / (p + r)
  t.ok(Math.abs(rate(xs) - expect) < 0.006, `loss rate ${rate(xs).toFixed(4)} is p / (p + r) = ${expect.toFixed(4)} (Bad loses all, Good none)`)
  t.ok(Math.abs(meanBurst(xs) - 1 / r) < 0.6, `mean burst ${meanBurst(xs).toFixed(2)} is 1 / r = ${1 / r} packets`)
  // 1 - h: loss in Bad; 1 - k: loss in Good.
  const partial = losses({ gemodel: { p, r, h: 0.5, k: 0.99 } })
  const want = (p / (p + r)) * 0.5 + (r / (p + r)) * 0.01
  t.ok(Math.abs(rate(partial) - want) < 0.005, `with h 0.5, k 0.99: loss ${rate(partial).toFixed(4)} is ${want.toFixed(4)}`)
  t.equal(rate(losses({ gemodel: { p: 0 } })), 0, 'p 0: never leaves the Good state')
})
