/**
 * perftest's --out_json document, as its writers lay it out
 * (write_test_info_to_file, write_bw_report_to_file, write_report_lat_to_file,
 * write_report_lat_duration_to_file in perftest_parameters.c): one key per
 * line, `test_info` with perftest's names, then `results` with perftest's
 * decimals (2, or 6 for MsgRate and for the small bandwidths of
 * inc_accuracy). Our own figures follow under one more key, `rdma_emu`, so
 * the document stays a superset of perftest's.
 */
import { sprintf } from './c-format.ts'
import type { BenchOptions } from './bench-options.ts'
import { bwDecimals } from './perftest-rows.ts'
import { titleWords, type BannerInfo } from './perftest-banner.ts'
import type { BwFigures, LatDurationFigures, LatFigures } from './run-bench.ts'

export { DEFAULT_JSON_FILE_NAME } from './bench-options.ts'

/** The figures one result holds: a bandwidth row, a latency row, or a -D latency row. */
export type PerftestFigures = { bw: BwFigures } | { lat: LatFigures } | { latDuration: LatDurationFigures }

const str = (v: string) => JSON.stringify(v)

/** write_test_info_to_file's lines (between "test_info": { and }). */
export function testInfoJsonLines(o: Pick<BenchOptions, 'verb' | 'kind' | 'atomicType'>, b: BannerInfo): string[] {
  const lines = [
    `"test": ${str(titleWords(o).join('_'))},`,
    '"Dual_port": "OFF",',
    `"Device": ${str(b.device)},`,
    `"Number_of_qps": ${b.qps},`,
    '"Transport_type": "IB",',
    '"Connection_type": "RC",',
    `"Using_SRQ": "${b.useSrq ? 'ON' : 'OFF'}",`,
    ' "PCIe_relax_order": "Unsupported",',
    '"ibv_wr_API": "OFF",',
    `"TX_depth": ${b.txDepth},`,
  ]
  if (o.kind === 'bw') lines.push(`"CQ_Moderation": ${b.cqMod},`)
  lines.push(`"Mtu": ${b.mtu},`, '"Link_type": "Ethernet",', `"GID_index": ${b.gidIndex},`)
  lines.push(b.outReads === undefined ? `"Max_inline_data": ${b.inlineSize},` : `"Outstand_reads": ${b.outReads},`)
  lines.push(`"rdma_cm_QPs": "${b.rdmaCm ? 'ON' : 'OFF'}",`, '"Use_ROCm_memory": "OFF",', '"Use_MUSA_memory": "OFF",', `"Data_ex_method": "${b.rdmaCm ? 'rdma_cm' : 'Ethernet'}"`)
  return lines
}

/**
 * The results lines: REPORT_FMT_JSON / REPORT_FMT_EXT_JSON (bw; `gbits` picks
 * inc_accuracy), REPORT_FMT_LAT_JSON, REPORT_FMT_LAT_DUR_JSON; then
 * REPORT_EXT_CPU_UTIL_JSON when `cpuUtil` (percent, --cpu_util) is given.
 */
export function resultsJsonText(f: PerftestFigures, gbits: boolean, cpuUtil?: number): string {
  let text: string
  if ('bw' in f) {
    const b = f.bw
    const d = bwDecimals(b.BW_average, gbits)
    text = sprintf(`"MsgSize": %lu,\n"n_iterations": %lu,\n"BW_peak": %.${d}lf,\n"BW_average": %.${d}lf,\n"MsgRate": %.6lf`, b.MsgSize, b.n_iterations, b.BW_peak, b.BW_average, b.MsgRate)
  } else if ('lat' in f) {
    const l = f.lat
    text = sprintf(
      '"MsgSize": %lu,\n"n_iterations": %lu,\n"t_min": %.2f,\n"t_max": %.2f,\n"t_typical": %.2f,\n"t_avg": %.2f,\n"t_stdev": %.2f,\n"percentile_99": %.2f,\n"percentile_99.9": %.2f',
      l.MsgSize, l.n_iterations, l.t_min, l.t_max, l.t_typical, l.t_avg, l.t_stdev, l.percentile_99, l['percentile_99.9'],
    )
  } else {
    const l = f.latDuration
    text = sprintf('"MsgSize": %lu,\n"n_iterations": %lu,\n"t_avg": %.2f,\n"tps_average": %.2f', l.MsgSize, l.n_iterations, l.t_avg, l.tps_average)
  }
  return text + (cpuUtil === undefined ? '\n' : sprintf(',\n"CPU_util": %.2f\n', cpuUtil))
}

/**
 * The whole document: perftest's `test_info` and `results` as perftest
 * writes them, then `rdma_emu` (pretty-printed JSON) before the closing brace.
 */
export function perftestJsonText(o: Pick<BenchOptions, 'verb' | 'kind' | 'atomicType' | 'reportGbits'>, b: BannerInfo, f: PerftestFigures, rdmaEmu: Record<string, unknown>, cpuUtil?: number): string {
  return (
    '{\n"test_info": {\n' + testInfoJsonLines(o, b).join('\n') + '\n},\n' +
    '"results": {\n' + resultsJsonText(f, o.reportGbits, cpuUtil) + '},\n' +
    `"rdma_emu": ${JSON.stringify(rdmaEmu, null, 2)}\n}\n`
  )
}
