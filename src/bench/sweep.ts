/**
 * A bench sweep: -a (message sizes 2 .. 2^23, or up to --max-size),
 * --clients (client nodes to one server) and --workers (server worker
 * threads, 0 = inline), in any combination. Each point is one emulated run
 * (and, with --baseline, one raw ZeroMQ run) on the same running cluster; the
 * results go into the run directory as CSV, JSON and an SVG chart
 * (bandwidth or latency percentiles vs size, or vs clients / workers).
 *
 * Large sizes are kept practical: each QP's window holds at most
 * SWEEP_WINDOW_BYTES (the client buffers every outstanding operation), and
 * unless -n or -D was given a size runs at most SWEEP_SIZE_BYTES / size iterations.
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { ControlPlane } from '../../fabric/control-plane.ts'
import { formatTable } from '../report/table.ts'
import type { BenchOptions } from './bench-options.ts'
import { baselineOptions, baselineRatio, runBaseline, warmUp, type BaselineOutcome } from './baseline.ts'
import { perftestBanner, perftestFigures, RESULT_LINE, tableHeader, tableRow, type ReportGids } from './perftest-format.ts'
import { perftestJsonText } from './perftest-json.ts'
import { bannerInfo } from './perftest-banner.ts'
import { bwDecimals } from './perftest-rows.ts'
import { BenchProgress, expectedServerPackets, watchRun } from './progress.ts'
import { runBench, type BenchOutcome } from './run-bench.ts'
import { formatBytes, renderSvg, type ChartSeries, type LineChart } from './svg-chart.ts'

/** Most bytes one QP's window may hold in a sweep. */
export const SWEEP_WINDOW_BYTES = 32 * 2 ** 20
/** Most bytes one QP moves per size in a sweep when -n is not given. */
export const SWEEP_SIZE_BYTES = 512 * 2 ** 20
/** Fewest iterations a size runs when SWEEP_SIZE_BYTES shrinks them. */
const SWEEP_MIN_ITERS = 16

export type SweepAxis = 'size' | 'clients' | 'workers'

export interface SweepPoint {
  size: number
  clients: number
  /** Server worker threads (0 = inline); undefined = the server's configured data path. */
  workers?: number
  /** The options of this point's runs (size, window and iterations adjusted). */
  options: BenchOptions
}

export interface SweepRow extends SweepPoint {
  emulator: BenchOutcome
  baseline?: BaselineOutcome
  /** Emulator ÷ baseline (BW_average for _bw, t_typical for _lat). */
  ratio?: number
}

export interface SweepFiles {
  csv: string
  json: string
  svg: string
}

export function sweepPoints(o: BenchOptions): SweepPoint[] {
  const points: SweepPoint[] = []
  for (const size of o.sizes ?? [o.size]) {
    const txDepth = o.sizes ? Math.min(o.txDepth, Math.max(1, Math.floor(SWEEP_WINDOW_BYTES / size))) : o.txDepth
    const iters = o.sizes && !o.itersGiven && o.duration === undefined ? Math.min(o.iters, Math.max(SWEEP_MIN_ITERS, Math.floor(SWEEP_SIZE_BYTES / size))) : o.iters
    for (const clients of o.clients ?? [1]) {
      for (const workers of o.workers ?? [undefined]) {
        points.push({ size, clients, workers, options: { ...o, size, txDepth, iters } })
      }
    }
  }
  return points
}

/** The x axis of the chart: the first dimension that varies (size, then clients, then workers). */
export function sweepAxis(o: BenchOptions): SweepAxis {
  const n = { size: o.sizes?.length ?? 0, clients: o.clients?.length ?? 0, workers: o.workers?.length ?? 0 }
  for (const axis of ['size', 'clients', 'workers'] as const) if (n[axis] > 1) return axis
  return o.sizes ? 'size' : o.clients ? 'clients' : 'workers'
}

export async function runSweep(control: ControlPlane, serverId: string, clientIds: readonly string[], o: BenchOptions, progress: BenchProgress): Promise<SweepRow[]> {
  const points = sweepPoints(o)
  const per = o.baseline ? 2 : 1
  const rows: SweepRow[] = []
  const warmProblems: string[] = []
  for (const [i, p] of points.entries()) {
    const label = pointLabel(p)
    const unitsBefore = i * per
    progress.update(unitsBefore, label)
    if (p.workers !== undefined) {
      await control.request(serverId, 'rdma.dataPath', p.workers === 0 ? { mode: 'inline' } : { mode: 'workers', workers: p.workers })
    }
    const clients = clientIds.slice(0, p.clients)
    // Once, before the first comparison: neither side is measured cold.
    if (o.baseline && i === 0) {
      progress.update(0, 'warm-up')
      warmProblems.push(...(await warmUp(control, serverId, clients, p.options)))
      progress.update(0, label)
    }
    const emulator = await watchRun(progress, control, serverId, expectedServerPackets(p.options, p.clients), (f) => progress.update(unitsBefore + f), () =>
      runBench(control, serverId, clients, p.options),
    )
    let baseline: BaselineOutcome | undefined
    if (o.baseline) {
      progress.update(unitsBefore + 1, `${label}, raw ZeroMQ`)
      baseline = await runBaseline(control, serverId, clients, baselineOptions(p.options, emulator), progress.enabled ? (f) => progress.update(unitsBefore + 1 + f) : undefined)
    }
    if (i === 0) emulator.problems.unshift(...warmProblems)
    rows.push({ ...p, emulator, baseline, ratio: baseline ? baselineRatio(emulator, baseline) : undefined })
  }
  progress.update(points.length * per)
  return rows
}

function pointLabel(p: Pick<SweepPoint, 'size' | 'clients' | 'workers'>): string {
  return [`${formatBytes(p.size)} B`, `${p.clients} client${p.clients === 1 ? '' : 's'}`, ...(p.workers === undefined ? [] : [p.workers === 0 ? 'inline' : `${p.workers} workers`])].join(', ')
}

const BW_KEYS = ['BW_peak', 'BW_average', 'MsgRate'] as const
const LAT_KEYS = ['t_min', 't_max', 't_typical', 't_avg', 't_stdev', 'percentile_99', 'percentile_99.9'] as const

function figureKeys(o: BenchOptions): readonly string[] {
  return o.kind === 'bw' ? BW_KEYS : LAT_KEYS
}

function figures(r: { bw?: object; lat?: object } | undefined): Record<string, number> {
  return (r?.bw ?? r?.lat ?? {}) as Record<string, number>
}

/** n_iterations of a point's emulated run (-n, or for -D what completed). */
function iterationsOf(r: SweepRow): number {
  return (r.emulator.bw ?? r.emulator.lat)?.n_iterations ?? r.options.iters
}

function problemsOf(r: SweepRow): string[] {
  return [...r.emulator.problems, ...(r.baseline?.problems ?? [])]
}

export function sweepCsv(o: BenchOptions, rows: readonly SweepRow[]): string {
  const keys = figureKeys(o)
  const header = ['test', 'MsgSize', 'clients', 'workers', 'qps', 'tx_depth', 'n_iterations', ...keys, ...(o.baseline ? [...keys.map((k) => `baseline_${k}`), 'ratio'] : []), 'data_check']
  const num = (v: number | undefined) => (v === undefined ? '' : String(+v.toPrecision(6)))
  const lines = rows.map((r) => {
    const e = figures(r.emulator)
    const b = figures(r.baseline)
    return [
      o.test, r.size, r.clients, r.workers ?? '', r.options.qps, r.options.txDepth, iterationsOf(r),
      ...keys.map((k) => num(e[k])),
      ...(o.baseline ? [...keys.map((k) => num(b[k])), num(r.ratio)] : []),
      problemsOf(r).length === 0 ? 'ok' : 'FAILED',
    ].join(',')
  })
  return [header.join(','), ...lines].join('\n') + '\n'
}

/**
 * Our figures of a sweep (the rdma_emu key of its JSON document): the
 * options, the axis and every point, each with its clients, workers,
 * window, figures, data check and (with --baseline) the raw ZeroMQ figures
 * and the ratio.
 */
export function sweepExtras(o: BenchOptions, rows: readonly SweepRow[], files?: SweepFiles): Record<string, unknown> {
  const unit = o.reportGbits ? 'Gb/sec' : 'MiB/sec'
  return {
    test: o.test,
    options: { qps: o.qps, txDepth: o.txDepth, iters: o.iters, ...(o.duration !== undefined ? { duration: o.duration } : {}), ...(o.outs !== undefined ? { outs: o.outs } : {}), odp: o.odp, reportGbits: o.reportGbits, baseline: o.baseline, sizes: o.sizes, clients: o.clients, workers: o.workers },
    ...(o.kind === 'bw' ? { units: { BW: unit, MsgRate: 'Mpps' } } : { units: { latency: 'usec' }, halfRoundTrip: rows[0]?.emulator.halfRoundTrip ?? false }),
    axis: sweepAxis(o),
    points: rows.map((r) => ({
      MsgSize: r.size,
      clients: r.clients,
      workers: r.workers ?? null,
      txDepth: r.options.txDepth,
      results: r.emulator.bw ?? r.emulator.latDuration ?? r.emulator.lat,
      ...(r.emulator.latDuration ? { latency: r.emulator.lat } : {}),
      elapsedMs: r.emulator.elapsedMs,
      dataCheck: { ok: r.emulator.problems.length === 0, problems: r.emulator.problems },
      ...(r.baseline
        ? { baseline: r.baseline.bw ?? r.baseline.lat, baselineCheck: { ok: r.baseline.problems.length === 0, problems: r.baseline.problems }, ratio: r.ratio }
        : {}),
    })),
    ...(files ? { files } : {}),
  }
}

/**
 * The sweep's JSON document. perftest's -a rewrites its JSON file after every
 * size, so the file ends up holding the last one: `results` is the last
 * point, as there; every point is under rdma_emu.points. `more` joins rdma_emu.
 */
export function sweepJsonText(o: BenchOptions, rows: readonly SweepRow[], files?: SweepFiles, more: Record<string, unknown> = {}): string {
  const last = rows[rows.length - 1]!.emulator
  return perftestJsonText(o, bannerInfo(o, last.mtu), perftestFigures(last), { ...sweepExtras(o, rows, files), ...more })
}

const AXIS_TITLES: Record<SweepAxis, string> = {
  size: 'Message size (bytes, log2 scale)',
  clients: 'Client nodes (count)',
  workers: 'Server worker threads (count, 0 = inline)',
}

export function sweepChart(o: BenchOptions, rows: readonly SweepRow[]): LineChart {
  const axis = sweepAxis(o)
  const xOf = (r: SweepRow) => (axis === 'size' ? r.size : axis === 'clients' ? r.clients : r.workers ?? 0)
  // Series: one per combination of the dimensions that are not the x axis.
  const others = (['size', 'clients', 'workers'] as const).filter((d) => d !== axis && new Set(rows.map((r) => r[d])).size > 1)
  const groupName = (r: SweepRow) =>
    others.map((d) => (d === 'size' ? `${formatBytes(r.size)} B` : d === 'clients' ? `${r.clients} client${r.clients === 1 ? '' : 's'}` : r.workers === 0 ? 'inline' : `${r.workers} workers`)).join(', ')
  const groups = new Map<string, SweepRow[]>()
  for (const r of rows) groups.set(groupName(r), [...(groups.get(groupName(r)) ?? []), r])
  const series: ChartSeries[] = []
  const suffix = (g: string) => (g ? ` (${g})` : '')
  for (const [g, rs] of groups) {
    if (o.kind === 'bw') {
      series.push({ name: `emulator${suffix(g)}`, points: rs.map((r) => [xOf(r), r.emulator.bw!.BW_average]) })
      if (o.baseline) series.push({ name: `raw ZeroMQ${suffix(g)}`, dashed: true, points: rs.map((r) => [xOf(r), r.baseline!.bw!.BW_average]) })
    } else {
      series.push({ name: `emulator p50${suffix(g)}`, points: rs.map((r) => [xOf(r), r.emulator.lat!.t_typical]) })
      series.push({ name: `emulator p99${suffix(g)}`, points: rs.map((r) => [xOf(r), r.emulator.lat!.percentile_99]) })
      series.push({ name: `emulator p99.9${suffix(g)}`, points: rs.map((r) => [xOf(r), r.emulator.lat!['percentile_99.9']]) })
      if (o.baseline) series.push({ name: `raw ZeroMQ p50${suffix(g)}`, dashed: true, points: rs.map((r) => [xOf(r), r.baseline!.lat!.t_typical]) })
    }
  }
  const unit = o.reportGbits ? 'Gb/sec' : 'MiB/sec'
  const half = rows[0]?.emulator.halfRoundTrip ? ', half round trip' : ''
  const what = o.kind === 'bw' ? (axis === 'size' ? 'bandwidth' : 'aggregate bandwidth') : 'latency percentiles'
  const against = axis === 'size' ? 'message size' : axis === 'clients' ? 'client nodes' : 'server worker threads'
  return {
    title: `${o.test}: ${what} vs ${against}`,
    xTitle: AXIS_TITLES[axis],
    yTitle: o.kind === 'bw' ? `Bandwidth, BW average (${unit})` : `Latency (usec${half})`,
    xScale: axis === 'size' ? 'log2' : 'linear',
    series,
  }
}

/** Write the CSV, JSON and SVG into `dir`; returns their paths. */
export function writeSweepFiles(dir: string, o: BenchOptions, rows: readonly SweepRow[]): SweepFiles {
  const base = join(dir, `bench-${o.test}`)
  const files: SweepFiles = { csv: `${base}.csv`, json: `${base}.json`, svg: `${base}.svg` }
  writeFileSync(files.csv, sweepCsv(o, rows))
  writeFileSync(files.json, sweepJsonText(o, rows, files))
  writeFileSync(files.svg, renderSvg(sweepChart(o, rows)))
  return files
}

/**
 * The sweep as perftest prints -a: its banner (the first point's QPs), one
 * header, one row per size, its closing line; with --baseline our table of
 * the raw ZeroMQ figures and ratios follows. A sweep over clients or workers
 * (several rows per size) or --extra-columns prints formatSweepTable instead.
 */
export function formatSweep(o: BenchOptions, rows: readonly SweepRow[], gids: ReportGids): string {
  if (o.extraColumns || o.clients !== undefined || o.workers !== undefined) return formatSweepTable(o, rows)
  const first = rows[0]!.emulator
  const lines = [...perftestBanner(first, gids), RESULT_LINE, tableHeader(first), ...rows.map((r) => tableRow(r.emulator, o.reportGbits)), RESULT_LINE]
  if (o.baseline) {
    const unit = o.reportGbits ? 'Gb/sec' : 'MiB/sec'
    const headers = ['#bytes', o.kind === 'bw' ? `raw ZeroMQ BW average[${unit}]` : 'raw ZeroMQ t_typical[usec]', 'ratio']
    const cells = rows.map((r) => [r.size, (figures(r.baseline)[o.kind === 'bw' ? 'BW_average' : 't_typical'] ?? 0).toFixed(2), r.ratio === undefined ? '' : r.ratio.toFixed(3)])
    lines.push(' baseline        : raw zeromq.js DEALER to DEALER beside each size (ratio = emulator / raw ZeroMQ)', formatTable(headers, cells, [0, 1, 2]))
  }
  const failed = rows.filter((r) => problemsOf(r).length > 0).map((r) => r.size)
  lines.push(failed.length === 0 ? ` data check      : OK at every size (${rows.length})` : ` data check      : FAILED at ${failed.join(', ')} bytes`)
  return lines.join('\n') + '\n'
}

/** The sweep as one table with our columns (clients, workers, check; raw ZeroMQ and ratio with --baseline). */
export function formatSweepTable(o: BenchOptions, rows: readonly SweepRow[]): string {
  const unit = o.reportGbits ? 'Gb/sec' : 'MiB/sec'
  const f = (v: number | undefined) => (v === undefined ? '' : v.toFixed(2))
  const headers =
    o.kind === 'bw'
      ? ['#bytes', 'clients', 'workers', '#iterations', `BW peak[${unit}]`, `BW average[${unit}]`, 'MsgRate[Mpps]']
      : ['#bytes', 'clients', 'workers', '#iterations', 't_min[usec]', 't_max[usec]', 't_typical[usec]', 't_avg[usec]', 't_stdev[usec]', '99%[usec]', '99.9%[usec]']
  if (o.baseline) headers.push(o.kind === 'bw' ? `raw ZeroMQ BW average[${unit}]` : 'raw ZeroMQ t_typical[usec]', 'ratio')
  headers.push('check')
  const table = rows.map((r) => {
    const e = figures(r.emulator)
    const cells: Array<string | number> = [r.size, r.clients, r.workers === undefined ? '-' : r.workers === 0 ? 'inline' : r.workers, iterationsOf(r)]
    if (o.kind === 'bw') {
      const d = bwDecimals(e.BW_average ?? 0, o.reportGbits)
      cells.push(e.BW_peak?.toFixed(d) ?? '', e.BW_average?.toFixed(d) ?? '', (e.MsgRate ?? 0).toFixed(6))
    }
    else cells.push(...LAT_KEYS.map((k) => f(e[k])))
    if (o.baseline) cells.push(f(figures(r.baseline)[o.kind === 'bw' ? 'BW_average' : 't_typical']), r.ratio === undefined ? '' : r.ratio.toFixed(3))
    cells.push(problemsOf(r).length === 0 ? 'OK' : 'FAILED')
    return cells
  })
  const right = headers.map((_, i) => i).filter((i) => i !== 2 && i !== headers.length - 1)
  return formatTable(headers, table, right) + '\n'
}

export function sweepProblems(rows: readonly SweepRow[]): string[] {
  return rows.flatMap((r) => problemsOf(r).map((p) => `${pointLabel(r)}: ${p}`))
}
