/**
 * perftest's bandwidth figures for one QP's closed-loop run. The workload
 * reports post-to-completion latencies in completion order (RC completes in
 * order, so entry k is operation k) and keeps `window` operations in flight:
 * operation j >= window is posted when operation j - window completes. That
 * rebuilds every post and completion time, from which the peak is found the
 * way perftest does: the shortest time per operation over any run of
 * consecutive operations, min over i <= j of (completed[j] - posted[i]) / (j - i + 1).
 * Two guards against the small errors of the rebuilt times (each post happens
 * a little after the completion that allowed it): times are made monotonic
 * (RC completes in order), and only runs of at least `window` operations count,
 * so a burst of completions reported together cannot look like an infinite rate.
 */

export interface QpRun {
  size: number
  window: number
  elapsedMs: number
  latenciesUs: readonly number[]
}

/** Post and completion times (µs from the start) of every operation. */
export function rebuildTimeline(latenciesUs: readonly number[], window: number): { posted: Float64Array; completed: Float64Array } {
  const n = latenciesUs.length
  const slots = Math.max(1, Math.min(window, n))
  const posted = new Float64Array(n)
  const completed = new Float64Array(n)
  for (let j = 0; j < n; j++) {
    posted[j] = j < slots ? 0 : Math.max(completed[j - slots]!, posted[j - 1]!)
    completed[j] = Math.max(posted[j]! + latenciesUs[j]!, j > 0 ? completed[j - 1]! : 0)
  }
  return { posted, completed }
}

/** Most (i, j) pairs examined; longer runs are sampled with a stride. */
const PEAK_PAIR_BUDGET = 4_000_000

/** Peak operations per second of one QP's run (perftest's BW peak, as a rate). */
export function peakOpsPerSec(latenciesUs: readonly number[], window: number): number {
  const n = latenciesUs.length
  if (n === 0) return 0
  const { posted, completed } = rebuildTimeline(latenciesUs, window)
  const stride = Math.max(1, Math.ceil(n / Math.sqrt(2 * PEAK_PAIR_BUDGET)))
  const minRun = Math.max(1, Math.min(window, n))
  let best = Infinity
  for (let i = 0; i < n; i += stride) {
    for (let j = i + minRun - 1; j < n; j += stride) {
      const t = (completed[j]! - posted[i]!) / (j - i + 1)
      if (t > 0 && t < best) best = t
    }
  }
  return best === Infinity ? 0 : 1e6 / best
}
