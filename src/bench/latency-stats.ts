/**
 * perftest's latency figures from per-operation latencies: t_min, t_max and
 * t_avg / t_stdev exactly; t_typical (the median) and the 99% / 99.9%
 * percentiles from an HDR histogram (3 significant digits, nanosecond unit).
 */
import * as hdr from 'hdr-histogram-js'

export interface LatencyStats {
  t_min: number
  t_max: number
  t_typical: number
  t_avg: number
  t_stdev: number
  percentile_99: number
  'percentile_99.9': number
}

/** Statistics in microseconds of `samplesUs`, each first multiplied by `factor` (0.5 for half a round trip). */
export function latencyStats(samplesUs: readonly number[], factor = 1): LatencyStats {
  if (samplesUs.length === 0) return { t_min: 0, t_max: 0, t_typical: 0, t_avg: 0, t_stdev: 0, percentile_99: 0, 'percentile_99.9': 0 }
  const hist = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000_000, numberOfSignificantValueDigits: 3 })
  let min = Infinity
  let max = -Infinity
  let sum = 0
  for (const raw of samplesUs) {
    const v = raw * factor
    if (v < min) min = v
    if (v > max) max = v
    sum += v
    hist.recordValue(Math.max(1, Math.round(v * 1000)))
  }
  const avg = sum / samplesUs.length
  let sq = 0
  for (const raw of samplesUs) sq += (raw * factor - avg) ** 2
  const at = (p: number) => hist.getValueAtPercentile(p) / 1000
  const stats = {
    t_min: min,
    t_max: max,
    t_typical: at(50),
    t_avg: avg,
    t_stdev: Math.sqrt(sq / samplesUs.length),
    percentile_99: at(99),
    'percentile_99.9': at(99.9),
  }
  hist.destroy()
  return stats
}
