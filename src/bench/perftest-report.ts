/**
 * The report parts of the perftest options of issue 13 item 17, kept apart
 * from perftest-format.ts: perftest's -H / -U sample lines, the -w verdict,
 * and their JSON extras (one object, under rdma_emu).
 */
import type { BenchOptions } from './bench-options.ts'
import { LAT_MEASURE_TAIL } from './latency-stats.ts'
import type { BenchOutcome } from './run-bench.ts'

/**
 * perftest's -U and -H lines (print_report_lat): "#, usec" and "i, value" per
 * sample: -U in completion order (every sample), -H sorted without the
 * LAT_MEASURE_TAIL largest. %g as C prints it (six significant digits).
 */
export function sampleLines(o: BenchOptions, samplesUs: readonly number[]): string {
  const out: string[] = []
  const put = (list: readonly number[]) => {
    out.push('#, usec')
    list.forEach((v, i) => out.push(`${i + 1}, ${cG(v)}`))
  }
  if (o.perftest.unsorted) put(samplesUs)
  else if (o.perftest.histogram) put([...samplesUs].sort((a, b) => a - b).slice(0, Math.max(0, samplesUs.length - LAT_MEASURE_TAIL)))
  return out.length ? out.join('\n') + '\n' : ''
}

/** printf's %g: six significant digits, no trailing zeros. */
export function cG(v: number): string {
  if (v === 0) return '0'
  const exp = Math.floor(Math.log10(Math.abs(v)))
  if (exp < -4 || exp >= 6) {
    const [m, e] = v.toExponential(5).split('e')
    const mant = m!.includes('.') ? m!.replace(/\.?0+$/, '') : m!
    const n = Number(e)
    return `${mant}e${n < 0 ? '-' : '+'}${String(Math.abs(n)).padStart(2, '0')}`
  }
  const s = v.toFixed(Math.max(0, 5 - exp))
  return s.includes('.') ? s.replace(/\.?0+$/, '') : s
}

/** -w: perftest's verifier limit; the message perftest prints when BW average is below it, else undefined. */
export function limitBwFailure(outcome: BenchOutcome): string | undefined {
  const limit = outcome.options.perftest.limitBw
  if (limit === undefined || !outcome.bw) return undefined
  return outcome.bw.BW_average < limit ? `Error: BW result is below bw limit (${outcome.bw.BW_average.toFixed(2)} < ${limit} ${outcome.bwUnit})` : undefined
}

/**
 * What the perftest options of the run did, for the JSON (one object: the
 * settings, what -Q/-l/-e and --use-srq measured, and --cpu_util's CPU time).
 */
export function perftestExtrasJson(outcome: BenchOutcome): Record<string, unknown> {
  const { samplesUs: _samples, ...effects } = outcome.effects
  return { perftestOptions: outcome.options.perftest, ...effects }
}

