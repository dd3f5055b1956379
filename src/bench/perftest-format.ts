/**
 * perftest's output: the banner, the result table with perftest's column
 * headers, and the JSON document with perftest's keys (under "results", as
 * perftest's --out_json writes them).
 */
import { baselineRatio, ratioMetric, type BaselineOutcome } from './baseline.ts'
import type { BenchOutcome } from './run-bench.ts'

const RULE = '-'.repeat(87)
const VERB_TITLE = { write: 'RDMA_Write', read: 'RDMA_Read', send: 'Send', atomic: 'Atomic' } as const

const fix = (v: number, digits: number) => v.toFixed(digits)

/** The header row of the result table. */
export function tableHeader(o: BenchOutcome): string {
  if (o.options.kind === 'bw') {
    return ` #bytes     #iterations    BW peak[${o.bwUnit}]    BW average[${o.bwUnit}]   MsgRate[Mpps]`
  }
  return ' #bytes #iterations    t_min[usec]    t_max[usec]  t_typical[usec]    t_avg[usec]    t_stdev[usec]   99% percentile[usec]   99.9% percentile[usec]'
}

/**
 * perftest's inc_accuracy (perftest_parameters.c, print_report_bw): in Gb/sec,
 * a BW average below 0.1 prints BW peak and BW average with six decimals
 * (REPORT_FMT_EXT) instead of two.
 */
export function bwDecimals(bwAverage: number, gbits: boolean): 2 | 6 {
  return gbits && bwAverage < 0.1 ? 6 : 2
}

/** The figures row, aligned under tableHeader(); `gbits`: the figures are in Gb/sec (--report_gbits). */
export function tableRow(o: Pick<BenchOutcome, 'bw' | 'lat'>, gbits = false): string {
  if (o.bw) {
    const b = o.bw
    const d = bwDecimals(b.BW_average, gbits)
    return ` ${String(b.MsgSize).padEnd(10)} ${String(b.n_iterations).padEnd(14)} ${fix(b.BW_peak, d).padEnd(19)} ${fix(b.BW_average, d).padEnd(21)} ${fix(b.MsgRate, 6)}`
  }
  const l = o.lat!
  return (
    ` ${String(l.MsgSize).padEnd(6)} ${String(l.n_iterations).padEnd(11)} ${fix(l.t_min, 2).padStart(11)}    ${fix(l.t_max, 2).padStart(11)}  ${fix(l.t_typical, 2).padStart(15)}` +
    `    ${fix(l.t_avg, 2).padStart(11)}    ${fix(l.t_stdev, 2).padStart(13)}   ${fix(l.percentile_99, 2).padStart(20)}   ${fix(l['percentile_99.9'], 2).padStart(22)}`
  )
}

/** The whole human-readable report. */
export function formatReport(o: BenchOutcome, where: { server: string; client: string }): string {
  const opt = o.options
  const title = `${VERB_TITLE[opt.verb]} ${opt.kind === 'bw' ? 'BW' : 'Latency'} Test`
  const lines = [
    ...(opt.peakOffReason !== undefined ? [" WARNING: BW peak won't be measured in this run."] : []),
    RULE,
    `                    ${title}`,
    ` Connection type : RC           Using ${opt.qps} QP${opt.qps === 1 ? '' : 's'}${o.clients.length > 1 ? ` per client, ${o.clients.length} clients` : ''}`,
    opt.duration !== undefined
      ? ` TX depth        : ${opt.txDepth}            Duration   : ${opt.duration} s per QP (at most ${opt.iters} iterations)`
      : ` TX depth        : ${opt.txDepth}            Iterations : ${opt.iters} per QP`,
    ` Client          : ${where.client}      Server : ${where.server}`,
  ]
  if (opt.verb === 'atomic') lines.push(` Atomic type     : ${opt.atomicType}`)
  if (opt.outs !== undefined) lines.push(` Outstand reads  : ${opt.outs}            (QP max_rd_atomic ${o.qpDepths.client.maxRdAtomic}, server max_dest_rd_atomic ${o.qpDepths.server.maxDestRdAtomic})`)
  if (opt.odp) lines.push(' ODP             : server MRs registered with IBV_ACCESS_ON_DEMAND')
  if (opt.duration !== undefined) {
    lines.push(` Completed       : ${o.completedPerQp.join(', ')} operation(s) per QP in ${(o.elapsedMs / 1000).toFixed(2)} s`)
    lines.push(` Margin          : ${opt.margin} s dropped at each end; #iterations counts, over every QP, the operations completed between them`)
  }
  if (o.halfRoundTrip) lines.push(' Latency         : half the round trip (perftest ping-pong convention)')
  else if (opt.kind === 'lat') lines.push(' Latency         : full round trip, post to completion (perftest convention for read/atomic)')
  lines.push(RULE, tableHeader(o), tableRow(o, opt.reportGbits), RULE)
  lines.push(o.problems.length === 0 ? ' data check      : OK (server memory matches what the run wrote)' : ` data check      : FAILED (${o.problems.length} problem${o.problems.length === 1 ? '' : 's'})`)
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
    RULE,
    ` ratio           : ${ratio.toFixed(3)} (emulator / raw ZeroMQ, ${metric}: ${fix(metricOf(o), 2)} / ${fix(metricOf(b), 2)} ${o.options.kind === 'bw' ? o.bwUnit : 'usec'})`,
    b.problems.length === 0 ? ' baseline check  : OK (every message arrived with its size)' : ` baseline check  : FAILED (${b.problems.length} problem${b.problems.length === 1 ? '' : 's'})`,
  ].join('\n') + '\n'
}

function metricOf(r: Pick<BenchOutcome, 'bw' | 'lat'>): number {
  return r.bw ? r.bw.BW_average : r.lat!.t_typical
}

/** The JSON document (perftest keys under "results"; with --baseline, `baseline` in the same keys and `ratio`). */
export function benchJson(o: BenchOutcome, baseline?: BaselineOutcome): Record<string, unknown> {
  const opt = o.options
  return {
    test: opt.test,
    options: {
      size: opt.size, iters: opt.iters, ...(opt.duration !== undefined ? { duration: opt.duration, margin: opt.margin } : {}), ...(opt.kind === 'bw' ? { noPeak: !opt.peak } : {}), txDepth: opt.txDepth, qps: opt.qps, clients: o.clients.length,
      ...(opt.verb === 'atomic' ? { atomicType: opt.atomicType } : {}), ...(opt.outs !== undefined ? { outs: opt.outs } : {}), odp: opt.odp, reportGbits: opt.reportGbits,
    },
    ...(opt.duration !== undefined ? { completedPerQp: o.completedPerQp } : {}),
    qpDepths: o.qpDepths,
    serverMrAccess: o.serverMrAccess,
    ...(opt.kind === 'bw' ? { units: { BW: o.bwUnit, MsgRate: 'Mpps' } } : { units: { latency: 'usec' }, halfRoundTrip: o.halfRoundTrip }),
    results: o.bw ?? o.lat,
    elapsedMs: o.elapsedMs,
    dataCheck: { ok: o.problems.length === 0, problems: o.problems },
    ...(baseline
      ? {
          baseline: baseline.bw ?? baseline.lat,
          baselineElapsedMs: baseline.elapsedMs,
          baselineShape: baseline.shape,
          baselineCheck: { ok: baseline.problems.length === 0, problems: baseline.problems },
          ratio: baselineRatio(o, baseline),
          ratioMetric: ratioMetric(opt),
        }
      : {}),
  }
}
