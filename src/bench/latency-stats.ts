/**
 * perftest's latency figures (print_report_lat, perftest_parameters.c), from
 * every measured sample, exactly:
 *
 * - perftest measures iters - 1 intervals (post i to post i + 1): the last
 *   operation of a QP gives no sample. `qpSamples` drops it the same way.
 * - The samples are sorted and the LAT_MEASURE_TAIL (2) largest dropped;
 *   m = samples - 2 are kept.
 * - t_min is the smallest, t_max the one at index m (the second largest of
 *   all), t_typical the median of the m kept (the mean of the two middle ones
 *   when m is even), t_avg their mean; 99% and 99.9% are the samples at index
 *   ceil(m x 0.99) and ceil(m x 0.999).
 * - t_stdev is perftest's: each deviation from t_avg is truncated to a whole
 *   usec (perftest keeps it in an int) before it is squared.
 *
 * Sorting is exact up to EXACT_MAX_SAMPLES samples (80 MB of doubles). Above
 * that (a -n of more than ten million, or a long -D run) t_typical and the
 * percentiles come from an HDR histogram (3 significant digits, nanosecond
 * unit: within 0.1 %); t_min, t_max, t_avg and t_stdev stay exact.
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

/** perftest's -D latency figures (print_report_lat_duration): mean latency and transactions per second. */
export interface LatencyDurationStats {
  t_avg: number
  tps_average: number
}

/** perftest's LAT_MEASURE_TAIL: the largest samples left out of every figure but t_max. */
export const LAT_MEASURE_TAIL = 2
/** Most samples sorted exactly; above, t_typical and the percentiles come from an HDR histogram. */
export const EXACT_MAX_SAMPLES = 10_000_000

const ZERO: LatencyStats = { t_min: 0, t_max: 0, t_typical: 0, t_avg: 0, t_stdev: 0, percentile_99: 0, 'percentile_99.9': 0 }

/** The samples perftest measures of QP runs: each QP's latencies but its last one (which perftest has no interval for). */
export function qpSamples(perQp: ReadonlyArray<readonly number[]>): Float64Array {
  const n = perQp.reduce((s, l) => s + Math.max(0, l.length - 1), 0)
  const out = new Float64Array(n)
  let k = 0
  for (const l of perQp) for (let i = 0; i < l.length - 1; i++) out[k++] = l[i]!
  return out
}

/** perftest's median of the first `m` sorted values (get_median). */
function median(sorted: ArrayLike<number>, m: number): number {
  return (m - 1) % 2 ? (sorted[m / 2]! + sorted[m / 2 - 1]!) / 2 : sorted[Math.floor(m / 2)]!
}

/**
 * perftest's statistics in microseconds of `samplesUs` (as qpSamples gives
 * them), each first multiplied by `factor` (0.5: half a round trip).
 * `exactMax` is the bound above which the HDR histogram is used.
 */
export function latencyStats(samplesUs: ArrayLike<number>, factor = 1, exactMax = EXACT_MAX_SAMPLES): LatencyStats {
  const total = samplesUs.length
  if (total === 0) return { ...ZERO }
  // Fewer than three samples: nothing to trim (perftest needs -n 5 or more).
  const tail = total > LAT_MEASURE_TAIL ? LAT_MEASURE_TAIL : 0
  const m = total - tail
  if (total > exactMax) return histogramStats(samplesUs, factor, m)
  const s = Float64Array.from(samplesUs, (v) => v * factor).sort()
  let sum = 0
  for (let i = 0; i < m; i++) sum += s[i]!
  const avg = sum / m
  return {
    t_min: s[0]!,
    t_max: s[Math.min(m, total - 1)]!,
    t_typical: median(s, m),
    t_avg: avg,
    t_stdev: perftestStdev(s, m, avg),
    percentile_99: s[Math.min(Math.ceil(m * 0.99), total - 1)]!,
    'percentile_99.9': s[Math.min(Math.ceil(m * 0.999), total - 1)]!,
  }
}

/** sqrt(mean of trunc(avg - v)^2) over the first `m` values: perftest's deviation, kept in an int. */
function perftestStdev(values: ArrayLike<number>, m: number, avg: number): number {
  let sq = 0
  for (let i = 0; i < m; i++) {
    const d = Math.trunc(avg - values[i]!)
    sq += d * d
  }
  return Math.sqrt(sq / m)
}

/**
 * The same figures without sorting: one pass keeps the minimum and the
 * LAT_MEASURE_TAIL largest values (exact t_min, t_max, t_avg and
 * t_stdev over all but the largest two); the median and percentiles are read
 * from an HDR histogram of the kept values.
 */
function histogramStats(samplesUs: ArrayLike<number>, factor: number, m: number): LatencyStats {
  const top = [-Infinity, -Infinity] // the two largest, top[0] >= top[1]
  let min = Infinity
  let sumAll = 0
  for (let i = 0; i < samplesUs.length; i++) {
    const v = samplesUs[i]! * factor
    sumAll += v
    if (v < min) min = v
    if (v > top[0]!) {
      top[1] = top[0]!
      top[0] = v
    } else if (v > top[1]!) top[1] = v
  }
  const dropped = top.slice(0, LAT_MEASURE_TAIL)
  const avg = (sumAll - dropped.reduce((a, b) => a + b, 0)) / m
  const hist = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000_000, numberOfSignificantValueDigits: 3 })
  // Leave out the dropped values once each (ties with them stay in).
  const skip = [...dropped]
  let sq = 0
  try {
    for (let i = 0; i < samplesUs.length; i++) {
      const v = samplesUs[i]! * factor
      const at = skip.indexOf(v)
      if (at >= 0) {
        skip.splice(at, 1)
        continue
      }
      const d = Math.trunc(avg - v)
      sq += d * d
      hist.recordValue(Math.max(1, Math.round(v * 1000)))
    }
    const at = (p: number) => hist.getValueAtPercentile(p) / 1000
    return { t_min: min, t_max: top[1]!, t_typical: at(50), t_avg: avg, t_stdev: Math.sqrt(sq / m), percentile_99: at(99), 'percentile_99.9': at(99.9) }
  } finally {
    hist.destroy()
  }
}

/**
 * perftest's -D latency (print_report_lat_duration): over the measured
 * window, t_avg = window / rtt factor / operations and tps = operations per
 * second. With several QPs, each QP's window counts (t_avg is per operation
 * of one QP) and tps sums them.
 */
export function latencyDurationStats(ops: number, windowMs: number, qps: number, factor = 1): LatencyDurationStats {
  if (ops <= 0 || windowMs <= 0) return { t_avg: 0, tps_average: 0 }
  return { t_avg: (windowMs * 1000 * qps * factor) / ops, tps_average: ops / (windowMs / 1000) }
}
