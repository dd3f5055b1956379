/**
 * perftest's output for one run: the banner (perftest-banner.ts), the result
 * table (perftest-rows.ts), then, after perftest's closing line, our own
 * lines (data check, margins, baseline, ...). And the JSON document:
 * perftest's test_info and results (perftest-json.ts), with our figures
 * under one more key, rdma_emu.
 */
import { baselineRatio, ratioMetric, type BaselineOutcome } from './baseline.ts'
import { addressLines, bannerInfo, RESULT_LINE, testInfoLines } from './perftest-banner.ts'
import { perftestJsonText, type PerftestFigures } from './perftest-json.ts'
import { perftestBannerLines } from './perftest-options.ts'
import { figuresRow, tableHeaderLine, tableKind } from './perftest-rows.ts'
import type { BenchOutcome } from './run-bench.ts'

export { RESULT_LINE } from './perftest-banner.ts'
export { bwDecimals } from './perftest-rows.ts'

/** The GIDs the address lines print: the client node's (local) and the server node's (remote). */
export interface ReportGids {
  local: Uint8Array
  remote: Uint8Array
}

/**
 * The client's CPU utilisation perftest prints with --cpu_util (its
 * CPU_Util[%] column and CPU_util key): measured in duration mode only, as
 * perftest does; undefined otherwise.
 */
export function cpuUtilOf(o: Pick<BenchOutcome, 'options'> & { effects?: BenchOutcome['effects'] }): number | undefined {
  const cpu = o.effects?.cpu
  return cpu && o.options.duration !== undefined ? cpu.CPU_util : undefined
}

/** The header row of the result table (with perftest's CPU_Util[%] column when cpuUtilOf() has a figure). */
export function tableHeader(o: Pick<BenchOutcome, 'options'> & { bw?: unknown; latDuration?: unknown; effects?: BenchOutcome['effects'] }): string {
  return tableHeaderLine(o.options.kind === 'bw' ? 'bw' : tableKind(o), o.options.reportGbits, cpuUtilOf(o) !== undefined)
}

/** The figures row, exactly as perftest prints it; `gbits`: the figures are in Gb/sec (--report_gbits); `cpuUtil`: perftest's last column. */
export function tableRow(o: Pick<BenchOutcome, 'bw' | 'lat' | 'latDuration'>, gbits = false, cpuUtil?: number): string {
  return figuresRow(o, gbits, cpuUtil)
}

/** perftest's lines before the table: its warnings, the test information, the QPs' addresses. */
export function perftestBanner(o: BenchOutcome, gids: ReportGids): string[] {
  const opt = o.options
  return [
    ...(opt.peakOffReason !== undefined ? [" WARNING: BW peak won't be measured in this run."] : []),
    ...testInfoLines(opt, bannerInfo(opt, o.mtu)),
    ...addressLines(opt.verb, o.addresses, gids),
  ]
}

/** Our lines, printed after perftest's block: what perftest does not say. */
export function extraLines(o: BenchOutcome, where: { server: string; client: string }): string[] {
  const opt = o.options
  // The perftest options that are only reported (-d, -x, -i, -F, ...) and what the others set.
  const lines = [...perftestBannerLines(opt.perftest), ` nodes           : client ${where.client}${o.clients.length > 1 ? ` (${o.clients.length} clients: ${o.clients.join(', ')}; ${opt.qps} QP${opt.qps === 1 ? '' : 's'} each)` : ''}, server ${where.server}`]
  if (opt.outs !== undefined) lines.push(` QP depths       : max_rd_atomic ${o.qpDepths.client.maxRdAtomic}, server max_dest_rd_atomic ${o.qpDepths.server.maxDestRdAtomic}`)
  if (opt.odp) lines.push(' ODP             : server MRs registered with IBV_ACCESS_ON_DEMAND')
  if (opt.duration !== undefined) {
    lines.push(` Duration        : ${opt.duration} s per QP (at most ${opt.iters} iterations)`)
    lines.push(` Completed       : ${o.completedPerQp.join(', ')} operation(s) per QP in ${(o.elapsedMs / 1000).toFixed(2)} s`)
    lines.push(` Margin          : ${opt.margin} s dropped at each end; #iterations counts, over every QP, the operations completed between them`)
  }
  if (o.halfRoundTrip) lines.push(' Latency         : half the round trip (perftest ping-pong convention)')
  else if (opt.kind === 'lat') lines.push(' Latency         : full round trip, post to completion (perftest convention for read/atomic)')
  lines.push(o.problems.length === 0 ? ' data check      : OK (server memory matches what the run wrote)' : ` data check      : FAILED (${o.problems.length} problem${o.problems.length === 1 ? '' : 's'})`)
  return lines
}

/** The whole human-readable report: perftest's output, then our lines. */
export function formatReport(o: BenchOutcome, where: { server: string; client: string }, gids: ReportGids): string {
  const lines = [...perftestBanner(o, gids), RESULT_LINE, tableHeader(o), tableRow(o, o.options.reportGbits, cpuUtilOf(o)), RESULT_LINE, ...extraLines(o, where)]
  return lines.join('\n') + '\n'
}

/** The baseline block printed under the report: raw ZeroMQ figures in the same columns, and the ratio. */
export function formatBaseline(o: BenchOutcome, b: BaselineOutcome): string {
  const ratio = baselineRatio(o, b)
  const metric = ratioMetric(o.options)
  return [
    ` baseline        : raw zeromq.js DEALER to DEALER, same processes, size and window: ${b.shape}`,
    tableHeader(o),
    tableRow(b, o.options.reportGbits),
    RESULT_LINE,
    ` ratio           : ${ratio.toFixed(3)} (emulator / raw ZeroMQ, ${metric}: ${metricOf(o).toFixed(2)} / ${metricOf(b).toFixed(2)} ${o.options.kind === 'bw' ? o.bwUnit : 'usec'})`,
    b.problems.length === 0 ? ' baseline check  : OK (every message arrived with its size)' : ` baseline check  : FAILED (${b.problems.length} problem${b.problems.length === 1 ? '' : 's'})`,
  ].join('\n') + '\n'
}

function metricOf(r: Pick<BenchOutcome, 'bw' | 'lat'>): number {
  return r.bw ? r.bw.BW_average : r.lat!.t_typical
}

/** The figures perftest reports for a run: bw, lat, or (-D latency tests) latDuration. */
export function perftestFigures(r: Pick<BenchOutcome, 'bw' | 'lat' | 'latDuration'>): PerftestFigures {
  return r.bw ? { bw: r.bw } : r.latDuration ? { latDuration: r.latDuration } : { lat: r.lat! }
}

/**
 * Our figures of a run, the rdma_emu key of the JSON document: options,
 * units, the QPs' addresses, depths, the data check, and with --baseline the
 * raw ZeroMQ figures and the ratio. The emulator's own latency statistics of
 * a -D latency test are here too (latency), as perftest prints only t_avg and tps.
 */
export function benchExtras(o: BenchOutcome, baseline?: BaselineOutcome): Record<string, unknown> {
  const opt = o.options
  return {
    test: opt.test,
    options: {
      size: opt.size, iters: opt.iters, ...(opt.duration !== undefined ? { duration: opt.duration, margin: opt.margin } : {}), ...(opt.kind === 'bw' ? { noPeak: !opt.peak } : {}), txDepth: opt.txDepth, qps: opt.qps, clients: o.clients.length,
      ...(opt.verb === 'atomic' ? { atomicType: opt.atomicType } : {}), ...(opt.outs !== undefined ? { outs: opt.outs } : {}), odp: opt.odp, reportGbits: opt.reportGbits,
    },
    clients: o.clients,
    ...(opt.duration !== undefined ? { completedPerQp: o.completedPerQp } : {}),
    ...(o.latDuration ? { latency: o.lat } : {}),
    addresses: o.addresses,
    qpDepths: o.qpDepths,
    serverMrAccess: o.serverMrAccess,
    ...(opt.kind === 'bw' ? { units: { BW: o.bwUnit, MsgRate: 'Mpps' } } : { units: { latency: 'usec' }, halfRoundTrip: o.halfRoundTrip }),
    elapsedMs: o.elapsedMs,
    dataCheck: { ok: o.problems.length === 0, problems: o.problems },
    ...(baseline
      ? {
          baseline: baseline.bw ?? baseline.lat,
          baselineElapsedMs: baseline.elapsedMs,
          baselineShape: baseline.shape,
          baselineCheck: { ok: baseline.problems.length === 0, problems: baseline.problems },
          ...(baseline.cpu ? { baselineCpu: baseline.cpu } : {}),
          ratio: baselineRatio(o, baseline),
          ratioMetric: ratioMetric(opt),
        }
      : {}),
  }
}

/** The JSON document of a run (--json, --out_json): perftest's test_info and results, then `rdma_emu` (benchExtras and what the caller adds). */
export function benchJsonText(o: BenchOutcome, rdmaEmu: Record<string, unknown>): string {
  const cpu = cpuUtilOf(o)
  return perftestJsonText(o.options, bannerInfo(o.options, o.mtu), perftestFigures(o), rdmaEmu, cpu === undefined ? undefined : Math.round(cpu * 100) / 100)
}
