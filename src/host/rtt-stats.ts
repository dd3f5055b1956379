import type { RttStats } from '../../fabric/node-message-types.ts'

export type { RttStats }

/** Nearest-rank percentile of an ascending array. */
function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0
  const rank = Math.ceil((p / 100) * sorted.length)
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!
}

export function rttStats(samplesUs: number[]): RttStats {
  const sorted = [...samplesUs].sort((a, b) => a - b)
  const round = (x: number) => Math.round(x * 10) / 10
  const sum = sorted.reduce((a, b) => a + b, 0)
  return {
    count: sorted.length,
    minUs: round(sorted[0] ?? 0),
    avgUs: round(sorted.length ? sum / sorted.length : 0),
    p50Us: round(percentile(sorted, 50)),
    p99Us: round(percentile(sorted, 99)),
    maxUs: round(sorted[sorted.length - 1] ?? 0),
  }
}
