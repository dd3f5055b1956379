/**
 * The dice of the netem-style impairments (fabric/netem.ts): seeds derived
 * per (rule, link), netem's correlated uniform, and the delay distributions.
 *
 * Netem (net/sched/sch_netem.c) draws every decision from `get_crandom`: a
 * uniform u mixed with the previous value, u' = (1 - rho) u + rho last, and
 * turns a jitter draw into a delay through a distribution table,
 * delay = mu + sigma * X, where X is the table entry the draw indexes
 * (iproute2 builds the tables normalised to mean about 0 and a scale of
 * 1 sigma, in units of NETEM_DIST_SCALE, 8192, stored as 16-bit values so
 * |X| < 4). With no table the kernel's tabledist is uniform on
 * [mu - sigma, mu + sigma). We compute X from the same one draw with the
 * distribution's quantile function instead of a table.
 */
import { seededRandom } from './faults.ts'

export { seededRandom }

/** Delay distributions, netem's names. */
export type Distribution = 'uniform' | 'normal' | 'pareto' | 'paretonormal'
export const DISTRIBUTIONS: readonly Distribution[] = ['uniform', 'normal', 'pareto', 'paretonormal']

/** The largest |X| a netem table can hold (int16 / NETEM_DIST_SCALE). */
const TABLE_LIMIT = 32767 / 8192

/**
 * A 32-bit seed from a rule's seed and the link it applies to (FNV-1a over
 * the three, then a murmur3 finaliser), so every (rule, link) pair, and its
 * control-plane dice (`salt`), rolls its own independent sequence.
 */
export function linkSeed(seed: number, from: string, to: string, salt = ''): number {
  let h = 0x811c9dc5
  const s = `${seed}\u0000${from}\u0000${to}\u0000${salt}`
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/** Netem's get_crandom: a uniform draw correlated with the previous one. */
export class Correlated {
  private last = 0
  constructor(private readonly rho: number) {}

  /** Mix the fresh uniform `u` with the previous value. */
  next(u: number): number {
    if (this.rho === 0) return u
    this.last = u * (1 - this.rho) + this.last * this.rho
    return this.last
  }
}

/**
 * Inverse of the standard normal CDF (P. J. Acklam's rational approximation,
 * relative error below 1.2e-9), for a uniform draw u in [0, 1).
 */
export function normalQuantile(u: number): number {
  const p = Math.min(Math.max(u, 1e-12), 1 - 1e-12)
  const a = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239]
  const b = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1]
  const c = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783]
  const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416]
  const low = 0.02425
  if (p < low) {
    const q = Math.sqrt(-2 * Math.log(p))
    return (((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) / ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1)
  }
  if (p > 1 - low) {
    const q = Math.sqrt(-2 * Math.log(1 - p))
    return -(((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) / ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1)
  }
  const q = p - 0.5
  const r = q * q
  return ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * q) / (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1)
}

/**
 * iproute2's pareto table: a Pareto variable of shape 3 and scale 1
 * (mean 1.5), shifted by its mean: X = (1 - u)^(-1/3) - 1.5. Its spread is
 * sqrt(3) / 2, about 0.87 sigma, with the long right tail netem is used for.
 */
export function paretoQuantile(u: number): number {
  return Math.pow(1 - Math.min(u, 1 - 1e-12), -1 / 3) - 1.5
}

/**
 * The table entry X for a uniform draw u (see the file comment), clamped to
 * what a netem table can hold. paretonormal is iproute2's mix of the two
 * tables: a quarter normal, three quarters pareto, taken at the same quantile.
 */
export function distributionValue(dist: Distribution, u: number): number {
  let x: number
  switch (dist) {
    case 'uniform':
      return 2 * u - 1
    case 'normal':
      x = normalQuantile(u)
      break
    case 'pareto':
      x = paretoQuantile(u)
      break
    case 'paretonormal':
      x = 0.25 * normalQuantile(u) + 0.75 * paretoQuantile(u)
      break
  }
  return Math.min(Math.max(x, -TABLE_LIMIT), TABLE_LIMIT)
}
