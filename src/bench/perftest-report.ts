/**
 * The report parts of the perftest options of issue 13 item 17 and of
 * --cpu_util, kept apart from perftest-format.ts: the banner lines of the
 * options that are only reported, perftest's -H / -U sample lines, the
 * CPU_Util[%] column, the -w verdict, and the JSON extras (one object, so
 * they can move under one key).
 */
import type { BenchOptions } from './bench-options.ts'
import { withCpuUtilColumn } from './cpu-util.ts'
import { perftestBannerLines } from './perftest-options.ts'
import type { BenchOutcome } from './run-bench.ts'

/** perftest's LAT_MEASURE_TAIL: the largest samples dropped after sorting. */
export const LAT_MEASURE_TAIL = 2

/**
 * Insert the banner lines of the reported options (-d, -i, -x, -F, -R, -m,
 * -I, -Q, -l, -e, --use-srq ...) into a formatted report, before its first
 * rule after the title block (the line before the table header).
 */
export function withPerftestBanner(report: string, header: string, o: BenchOptions): string {
  const extra = perftestBannerLines(o.perftest)
  if (extra.length === 0) return report
  const lines = report.split('\n')
  const at = lines.indexOf(header)
  // The rule just above the header closes the banner.
  if (at < 1) return report
  lines.splice(at - 1, 0, ...extra)
  return lines.join('\n')
}

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

/** The table with perftest's CPU_Util[%] column, when --cpu_util measured it on a -D run (perftest prints it in duration mode only). */
export function withCpuColumn(report: string, header: string, outcome: BenchOutcome): string {
  const cpu = outcome.effects.cpu
  if (!cpu || outcome.options.duration === undefined) return report
  return withCpuUtilColumn(report, header, cpu.CPU_util)
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

/** perftest's "CPU_util" key among the results (REPORT_EXT_CPU_UTIL_JSON), with -D and --cpu_util. */
export function cpuUtilResult(outcome: BenchOutcome): Record<string, number> {
  const cpu = outcome.effects.cpu
  return cpu && outcome.options.duration !== undefined ? { CPU_util: Math.round(cpu.CPU_util * 100) / 100 } : {}
}
