import t from 'tap'
import { RuleLink, type DelaySpec, type FaultRule } from '../fabric/fault-rules.ts'
import { DISTRIBUTIONS } from '../fabric/netem-random.ts'

// Delays drawn by a rule: netem's mu + sigma * X, with X from the
// distribution (spread per unit sigma: uniform 1/sqrt(3), normal 1, pareto
// sqrt(3)/2 before the table's clamp at +4 sigma, about 0.65 after it;
// paretonormal mixes a quarter normal with three quarters pareto).
const N = 40_000
const spreadPerSigma: Record<string, [number, number]> = { uniform: [0.56, 0.6], normal: [0.97, 1.03], pareto: [0.58, 0.72], paretonormal: [0.64, 0.78] }

function delays(delay: DelaySpec, n = N, seed = 7): number[] {
  const link = new RuleLink({ id: 'd', seed, delay } satisfies FaultRule, 'a', 'b')
  return Array.from({ length: n }, () => link.fate(1000).delayMs)
}

function stats(xs: number[]): { mean: number; sd: number; min: number; max: number } {
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length
  const sd = Math.sqrt(xs.reduce((s, x) => s + (x - mean) ** 2, 0) / xs.length)
  return { mean, sd, min: Math.min(...xs), max: Math.max(...xs) }
}

function lag1(xs: number[]): number {
  const { mean, sd } = stats(xs)
  let s = 0
  for (let i = 1; i < xs.length; i++) s += (xs[i - 1]! - mean) * (xs[i]! - mean)
  return s / (xs.length - 1) / (sd * sd)
}

t.test('netem - delay distributions: mean and spread of 40,000 draws', async (t) => {
  for (const distribution of DISTRIBUTIONS) {
    const s = stats(delays({ ms: 10, jitterMs: 2, distribution }))
    const [lo, hi] = spreadPerSigma[distribution]!
    t.ok(Math.abs(s.mean - 10) < 0.1, `${distribution}: mean ${s.mean.toFixed(3)} ms is 10 ms`)
    t.ok(s.sd >= 2 * lo && s.sd <= 2 * hi, `${distribution}: spread ${s.sd.toFixed(3)} ms in [${2 * lo}, ${2 * hi}]`)
    t.ok(s.min >= 0 && s.max <= 10 + 2 * 4, `${distribution}: within a netem table's range (${s.min.toFixed(2)}..${s.max.toFixed(2)})`)
  }
  const u = stats(delays({ ms: 1, jitterMs: 0.5, distribution: 'uniform' }))
  t.ok(u.min >= 0.5 && u.max < 1.5, `uniform 1 ms ± 0.5 ms stays in [0.5, 1.5) (${u.min.toFixed(3)}..${u.max.toFixed(3)})`)
  t.same(new Set(delays({ ms: 3 }, 100)), new Set([3]), 'no jitter: every packet gets exactly the delay')
  const skew = delays({ ms: 10, jitterMs: 2, distribution: 'pareto' })
  const above = skew.filter((d) => d > 14).length
  const below = skew.filter((d) => d < 6).length
  t.ok(above > 5 * below, `pareto has the long right tail (${above} above +2 sigma, ${below} below -2 sigma)`)
})

t.test('netem - delay correlation makes successive delays alike', async (t) => {
  const free = lag1(delays({ ms: 10, jitterMs: 2, distribution: 'normal' }))
  const correlated = lag1(delays({ ms: 10, jitterMs: 2, distribution: 'normal', correlation: 0.9 }))
  t.ok(Math.abs(free) < 0.03, `no correlation: lag-1 autocorrelation ${free.toFixed(3)} is about 0`)
  t.ok(correlated > 0.8, `correlation 0.9: lag-1 autocorrelation ${correlated.toFixed(3)}`)
})
