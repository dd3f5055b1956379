/**
 * bench --repeat N (beyond perftest): the same test N times on the same
 * cluster, and the median with min and max of each figure: the emulator's,
 * the raw ZeroMQ baseline's (--baseline), their ratio, and with --cpu_util
 * every node's CPU time per operation.
 */
import { baselineRatio, ratioMetric, type BaselineOutcome } from './baseline.ts'
import type { BenchOutcome } from './run-bench.ts'
import type { CpuFigures } from './cpu-util.ts'

/** One run of the N: the emulator, and the baseline beside it. */
export interface RepeatRun {
  outcome: BenchOutcome
  baseline?: BaselineOutcome
}

/** A figure over the runs. */
export interface Spread {
  median: number
  min: number
  max: number
  /** Every run's value, in run order. */
  values: number[]
}

export interface RepeatSummary {
  runs: number
  /** The figures of the emulator (BW_average, MsgRate for bw tests; t_typical, t_avg for lat tests). */
  emulator: Record<string, Spread>
  /** The same figures of the raw ZeroMQ baseline. */
  baseline?: Record<string, Spread>
  /** emulator ÷ baseline of ratioMetric. */
  ratio?: Spread
  ratioMetric: 'BW_average' | 't_typical'
  /** --cpu_util: each node's CPU µs per operation. */
  cpuUsPerOp?: Record<string, Spread>
  /** --cpu_util with --baseline: the same of the raw ZeroMQ runs, and emulator ÷ baseline per node. */
  baselineCpuUsPerOp?: Record<string, Spread>
  cpuRatio?: Record<string, Spread>
}

/** Median (the mean of the middle two for an even count), min and max. */
export function spread(values: readonly number[]): Spread {
  if (values.length === 0) throw new Error('spread of no values')
  const s = [...values].sort((a, b) => a - b)
  const mid = s.length >> 1
  const median = s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
  return { median, min: s[0]!, max: s[s.length - 1]!, values: [...values] }
}

function figuresOf(r: Pick<BenchOutcome, 'bw' | 'lat'>): Record<string, number> {
  return r.bw ? { BW_average: r.bw.BW_average, MsgRate: r.bw.MsgRate } : { t_typical: r.lat!.t_typical, t_avg: r.lat!.t_avg }
}

function spreads(rows: ReadonlyArray<Record<string, number>>): Record<string, Spread> {
  return Object.fromEntries(Object.keys(rows[0]!).map((k) => [k, spread(rows.map((r) => r[k]!))]))
}

export function repeatSummary(runs: readonly RepeatRun[]): RepeatSummary {
  const o = runs[0]!.outcome.options
  const summary: RepeatSummary = { runs: runs.length, emulator: spreads(runs.map((r) => figuresOf(r.outcome))), ratioMetric: ratioMetric(o) }
  const withBaseline = runs.filter((r) => r.baseline)
  if (withBaseline.length === runs.length) {
    summary.baseline = spreads(runs.map((r) => figuresOf(r.baseline!)))
    summary.ratio = spread(runs.map((r) => baselineRatio(r.outcome, r.baseline!)))
  }
  if (runs.every((r) => r.outcome.effects.cpu)) {
    const nodes = runs[0]!.outcome.effects.cpu!.nodes.map((n) => n.node)
    const perOp = (c: CpuFigures | undefined, node: string) => c?.nodes.find((n) => n.node === node)?.cpuUsPerOp ?? 0
    summary.cpuUsPerOp = Object.fromEntries(nodes.map((node) => [node, spread(runs.map((r) => perOp(r.outcome.effects.cpu, node)))]))
    if (runs.every((r) => r.baseline?.cpu)) {
      const raw = runs[0]!.baseline!.cpu!.nodes.map((n) => n.node)
      summary.baselineCpuUsPerOp = Object.fromEntries(raw.map((node) => [node, spread(runs.map((r) => perOp(r.baseline!.cpu, node)))]))
      summary.cpuRatio = Object.fromEntries(raw.map((node) => [node, spread(runs.map((r) => perOp(r.outcome.effects.cpu, node) / (perOp(r.baseline!.cpu, node) || Infinity)))]))
    }
  }
  return summary
}

const UNITS: Record<string, string> = { MsgRate: 'Mpps', t_typical: 'usec', t_avg: 'usec' }

/** The summary table: one line per figure, median, min and max. */
export function formatRepeat(s: RepeatSummary, bwUnit: string): string {
  const digits = (name: string) => (name === 'MsgRate' ? 6 : name === 'ratio' ? 3 : 2)
  const row = (label: string, sp: Spread, name: string) =>
    ` ${label.padEnd(34)} ${sp.median.toFixed(digits(name)).padStart(14)} ${sp.min.toFixed(digits(name)).padStart(14)} ${sp.max.toFixed(digits(name)).padStart(14)}`
  const unit = (name: string) => UNITS[name] ?? bwUnit
  const lines = [
    ` repeat          : ${s.runs} runs on the same cluster`,
    ` ${'figure'.padEnd(34)} ${'median'.padStart(14)} ${'min'.padStart(14)} ${'max'.padStart(14)}`,
  ]
  for (const [name, sp] of Object.entries(s.emulator)) lines.push(row(`${name}[${unit(name)}]`, sp, name))
  for (const [name, sp] of Object.entries(s.baseline ?? {})) lines.push(row(`baseline ${name}[${unit(name)}]`, sp, name))
  if (s.ratio) lines.push(row(`ratio (${s.ratioMetric})`, s.ratio, 'ratio'))
  for (const [node, sp] of Object.entries(s.cpuUsPerOp ?? {})) lines.push(row(`CPU per op ${node}[usec]`, sp, 'cpu'))
  for (const [node, sp] of Object.entries(s.baselineCpuUsPerOp ?? {})) lines.push(row(`baseline CPU per op ${node}[usec]`, sp, 'cpu'))
  for (const [node, sp] of Object.entries(s.cpuRatio ?? {})) lines.push(row(`CPU ratio ${node} (emulator / raw)`, sp, 'ratio'))
  return lines.join('\n') + '\n'
}
