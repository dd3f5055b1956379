/**
 * The time series of a fault-injection run: per stream, per interval
 * (default 50 ms), the operations completed, their bytes, the errors and the
 * retransmissions, beside the run's faults and events. Plain JSON (numbers
 * and strings only), for the chart, the HTML report and scripts
 * (`series.json` in the run directory).
 */
import type { FaultBand, RetransmissionSamples, RunEvent, SeriesOp } from './run-report-types.ts'

/** The default interval of the series (ms). */
export const DEFAULT_INTERVAL_MS = 50

/** One interval of one stream. */
export interface SeriesPoint {
  /** Start of the interval, in ms since the run's start. */
  tMs: number
  /** Operations that completed with SUCCESS in the interval. */
  ops: number
  /** Bytes of those successful operations (their `length`). */
  bytes: number
  /** Operations that completed with an error status in the interval. */
  errors: number
  /** Retransmissions counted in the interval (the sampled counter's increase). */
  retransmissions: number
}

/** The points of one stream, one per interval, in time order. */
export interface StreamSeries {
  id: string
  points: SeriesPoint[]
  /** The sums over the points. */
  totals: Omit<SeriesPoint, 'tMs'>
}

/** The series of a run: every stream has the same intervals. */
export interface RunSeries {
  intervalMs: number
  /** The series covers [startUs, endUs): a whole number of intervals. */
  startUs: number
  endUs: number
  /** Sorted by id. */
  streams: StreamSeries[]
  /** As given, sorted by start. */
  faults: FaultBand[]
  /** As given, sorted by time. */
  events: RunEvent[]
}

/** What `buildSeries` reads. */
export interface SeriesInput {
  ops: readonly SeriesOp[]
  samples?: readonly RetransmissionSamples[]
  faults?: readonly FaultBand[]
  events?: readonly RunEvent[]
  /** Default `DEFAULT_INTERVAL_MS`. */
  intervalMs?: number
  /** Default 0 (the run's start). */
  startUs?: number
  /** Default the last time seen (completion, sample, fault or event), rounded up to an interval. */
  endUs?: number
}

const SUCCESS = 'SUCCESS'
const PENDING = 'PENDING'

/** True when the operation completed (with any status); PENDING ones never did. */
function completed(op: SeriesOp): op is SeriesOp & { completedUs: number } {
  return op.completedUs !== undefined && Number.isFinite(op.completedUs) && op.status !== PENDING
}

/** The last time anything in the input happened (µs), or `startUs`. */
function lastTime(input: SeriesInput, startUs: number): number {
  let last = startUs
  for (const op of input.ops) if (completed(op)) last = Math.max(last, op.completedUs)
  for (const s of input.samples ?? []) for (const p of s.samples) last = Math.max(last, p.tUs)
  for (const f of input.faults ?? []) last = Math.max(last, f.endUs ?? f.startUs)
  for (const e of input.events ?? []) last = Math.max(last, e.atUs)
  return last
}

/**
 * The series of a run. An operation counts in the interval its completion
 * falls in (operations that never completed are not counted); a
 * retransmission delta counts in the interval of the sample that saw it.
 * Anything outside [startUs, endUs) is left out.
 */
export function buildSeries(input: SeriesInput): RunSeries {
  const intervalMs = input.intervalMs ?? DEFAULT_INTERVAL_MS
  if (!(intervalMs > 0)) throw new RangeError(`intervalMs must be positive, got ${intervalMs}`)
  const step = intervalMs * 1000
  const startUs = input.startUs ?? 0
  const wanted = input.endUs ?? lastTime(input, startUs)
  // At least one interval; the last time seen falls inside the last one.
  const count = Math.max(1, input.endUs !== undefined ? Math.ceil((wanted - startUs) / step) : Math.floor((wanted - startUs) / step) + 1)
  const endUs = startUs + count * step

  const ids = new Set<string>()
  for (const op of input.ops) ids.add(op.stream)
  for (const s of input.samples ?? []) ids.add(s.stream)
  const byId = new Map<string, SeriesPoint[]>()
  for (const id of [...ids].sort()) {
    byId.set(
      id,
      Array.from({ length: count }, (_, i) => ({ tMs: (startUs + i * step) / 1000, ops: 0, bytes: 0, errors: 0, retransmissions: 0 })),
    )
  }
  const slot = (stream: string, tUs: number): SeriesPoint | undefined => {
    if (!(tUs >= startUs && tUs < endUs)) return undefined
    return byId.get(stream)![Math.floor((tUs - startUs) / step)]
  }

  for (const op of input.ops) {
    if (!completed(op)) continue
    const p = slot(op.stream, op.completedUs)
    if (!p) continue
    if (op.status === SUCCESS) {
      p.ops++
      p.bytes += op.length
    } else {
      p.errors++
    }
  }

  for (const s of input.samples ?? []) {
    let prev = 0
    for (const sample of [...s.samples].sort((a, b) => a.tUs - b.tUs)) {
      const v = sample.retransmissions
      // A counter lower than before started again from 0.
      const delta = v >= prev ? v - prev : v
      prev = v
      const p = slot(s.stream, sample.tUs)
      if (p) p.retransmissions += delta
    }
  }

  const streams: StreamSeries[] = [...byId].map(([id, points]) => ({
    id,
    points,
    totals: points.reduce(
      (t, p) => ({ ops: t.ops + p.ops, bytes: t.bytes + p.bytes, errors: t.errors + p.errors, retransmissions: t.retransmissions + p.retransmissions }),
      { ops: 0, bytes: 0, errors: 0, retransmissions: 0 },
    ),
  }))
  return {
    intervalMs,
    startUs,
    endUs,
    streams,
    faults: [...(input.faults ?? [])].map((f) => ({ ...f })).sort((a, b) => a.startUs - b.startUs),
    events: [...(input.events ?? [])].map((e) => ({ ...e })).sort((a, b) => a.atUs - b.atUs),
  }
}

/** What a throughput chart plots per interval. */
export type ThroughputUnit = 'ops' | 'MiB'

/** The y value of one point: successful operations per second, or MiB per second. */
export function throughput(p: SeriesPoint, intervalMs: number, unit: ThroughputUnit): number {
  const perSecond = 1000 / intervalMs
  return unit === 'ops' ? p.ops * perSecond : (p.bytes / 2 ** 20) * perSecond
}

/** The y axis title of a throughput chart, naming quantity and unit. */
export function throughputTitle(unit: ThroughputUnit): string {
  return unit === 'ops' ? 'Throughput (successful operations/s)' : 'Throughput (MiB/s)'
}
