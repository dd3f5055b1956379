/**
 * perftest's result table: the header lines (RESULT_FMT, RESULT_FMT_G,
 * RESULT_FMT_LAT, RESULT_FMT_LAT_DUR) and the rows, printed with perftest's
 * own printf formats (REPORT_FMT, REPORT_FMT_EXT, REPORT_FMT_LAT,
 * REPORT_FMT_LAT_DUR in perftest_parameters.h), tabs and trailing spaces
 * included. PRIu64 is "lu", as on 64-bit Linux.
 */
import { sprintf } from './c-format.ts'
import type { BwFigures, LatDurationFigures, LatFigures } from './run-bench.ts'

export const BW_HEADER_MIB = ' #bytes     #iterations    BW peak[MiB/sec]    BW average[MiB/sec]   MsgRate[Mpps]'
export const BW_HEADER_GBITS = ' #bytes     #iterations    BW peak[Gb/sec]    BW average[Gb/sec]   MsgRate[Mpps]'
export const LAT_HEADER = ' #bytes #iterations    t_min[usec]    t_max[usec]  t_typical[usec]    t_avg[usec]    t_stdev[usec]   99% percentile[usec]   99.9% percentile[usec] '
export const LAT_DURATION_HEADER = ' #bytes        #iterations       t_avg[usec]    tps average'
/** With --cpu_util perftest ends the header with this column (RESULT_EXT_CPU_UTIL) and each row with the figure. */
export const CPU_UTIL_HEADER = '    CPU_Util[%]'

const BW_ROW = ' %-7lu    %-10lu       %-7.2lf            %-7.2lf\t\t     %-7.6lf'
const BW_ROW_EXT = ' %-7lu    %lu           %-7.6lf            %-7.6lf            %-7.6lf'
const LAT_ROW = ' %-7lu %lu          %-7.2f        %-7.2f      %-7.2f  \t       %-7.2f     \t%-7.2f\t\t%-7.2f \t\t%-7.2f'
const LAT_DURATION_ROW = ' %-7lu       %lu            %-7.2f        %-7.2f'
const CPU_UTIL_ROW = '\t    %-3.2f'

/**
 * perftest's inc_accuracy (print_full_bw_report): in Gb/sec, a BW average
 * below 0.1 prints BW peak and BW average with six decimals (REPORT_FMT_EXT)
 * instead of two.
 */
export function bwDecimals(bwAverage: number, gbits: boolean): 2 | 6 {
  return gbits && bwAverage < 0.1 ? 6 : 2
}

/** What a table holds: bw, lat (-n), or latDuration (-D latency tests). */
export type TableKind = 'bw' | 'lat' | 'latDuration'

/** The header line; `gbits` picks RESULT_FMT_G; `cpuUtil` adds perftest's CPU column. */
export function tableHeaderLine(kind: TableKind, gbits = false, cpuUtil = false): string {
  const h = kind === 'bw' ? (gbits ? BW_HEADER_GBITS : BW_HEADER_MIB) : kind === 'lat' ? LAT_HEADER : LAT_DURATION_HEADER
  return h + (cpuUtil ? CPU_UTIL_HEADER : '')
}

export function bwRow(b: BwFigures, gbits = false, cpuUtil?: number): string {
  const fmt = bwDecimals(b.BW_average, gbits) === 6 ? BW_ROW_EXT : BW_ROW
  return sprintf(fmt, b.MsgSize, b.n_iterations, b.BW_peak, b.BW_average, b.MsgRate) + cpu(cpuUtil)
}

export function latRow(l: LatFigures, cpuUtil?: number): string {
  return sprintf(LAT_ROW, l.MsgSize, l.n_iterations, l.t_min, l.t_max, l.t_typical, l.t_avg, l.t_stdev, l.percentile_99, l['percentile_99.9']) + cpu(cpuUtil)
}

export function latDurationRow(l: LatDurationFigures, cpuUtil?: number): string {
  return sprintf(LAT_DURATION_ROW, l.MsgSize, l.n_iterations, l.t_avg, l.tps_average) + cpu(cpuUtil)
}

function cpu(cpuUtil: number | undefined): string {
  return cpuUtil === undefined ? '' : sprintf(CPU_UTIL_ROW, cpuUtil)
}

/** The row of whichever figures a run has (-D latency tests: latDuration). */
export function figuresRow(r: { bw?: BwFigures; lat?: LatFigures; latDuration?: LatDurationFigures }, gbits = false, cpuUtil?: number): string {
  if (r.bw) return bwRow(r.bw, gbits, cpuUtil)
  if (r.latDuration) return latDurationRow(r.latDuration, cpuUtil)
  return latRow(r.lat!, cpuUtil)
}

/** The kind of table a run's figures make. */
export function tableKind(r: { bw?: unknown; latDuration?: unknown }): TableKind {
  return r.bw ? 'bw' : r.latDuration ? 'latDuration' : 'lat'
}
