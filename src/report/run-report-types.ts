/**
 * What the report of a fault-injection run is made from: the operations of
 * the history, the retransmission counters the clients sampled, the faults and
 * events of the timeline, and the checkers' verdicts. These shapes are this
 * module's own interface; the producers (src/check, the fault scheduler, the
 * workloads) hand over values that are structurally compatible.
 *
 * Every time is in microseconds since the run's start, on the clock of
 * src/check/history.ts, so operations, samples, faults and events compare.
 */
import type { HistoryOp } from '../check/history.ts'

/**
 * The fields of a history operation the series reads (a full `HistoryOp`
 * fits). `status` is 'SUCCESS', an error status name, or 'PENDING'.
 */
export type SeriesOp = Pick<HistoryOp, 'stream' | 'op' | 'length' | 'postedUs' | 'completedUs' | 'status'>

/** One reading of a stream's cumulative retransmission counter. */
export interface RetransmissionSample {
  /** When it was read (µs since the run's start). */
  tUs: number
  /** The counter's value then: cumulative since the counter was created. */
  retransmissions: number
}

/**
 * The readings of one stream's retransmission counter, about every 50 ms.
 * A stream may have several entries (one per QP or client); each is
 * differenced on its own and the deltas add up. A value lower than the one
 * before means the counter started again (a new QP): it counts from 0.
 */
export interface RetransmissionSamples {
  stream: string
  samples: RetransmissionSample[]
}

/** The kinds of fault the scheduler places on the timeline (others are drawn alike). */
export type FaultKind = 'partition' | 'delay' | 'loss' | 'kill' | 'pause' | 'storage' | (string & {})

/** A fault over an interval of the run: a shaded band on the chart and a row of the fault log. */
export interface FaultBand {
  /** Unique within the run (the scenario's fault id). */
  id: string
  kind: FaultKind
  /** What a person reads: "partition server0 | client0". */
  label: string
  startUs: number
  /** When it healed or stopped; absent when it lasted to the end of the run. */
  endUs?: number
}

/** The kinds of instant event on the timeline (others are drawn alike). */
export type RunEventKind = 'lease-break' | 'layout-change' | 'restart' | 'revocation' | 'step' | (string & {})

/** Something that happened at one instant: a vertical mark on the chart. */
export interface RunEvent {
  atUs: number
  kind: RunEventKind
  label: string
}

/** One anomaly a checker found, with its evidence in words (operations, times, values). */
export interface CheckerAnomaly {
  kind: string
  message: string
}

/** A checker's verdict over the history and the final memory. */
export interface CheckerResult {
  name: string
  ok: boolean
  /** One line: what was checked and the outcome ("812 writes, 0 lost"). */
  summary: string
  anomalies: CheckerAnomaly[]
}

/** Everything `writeRunReport` needs. */
export interface RunReportInput {
  /** Heading of the report and the chart ("partition-heal"). */
  title: string
  /** The scenario's name or file. */
  scenario: string
  /** The server policy or policies (`--policy`). */
  policy: string
  /** The seed the faults were drawn with (`--seed`). */
  seed: number | string
  /** The history's operations (`History.ops`). */
  ops: readonly SeriesOp[]
  samples: readonly RetransmissionSamples[]
  faults: readonly FaultBand[]
  events: readonly RunEvent[]
  checkers: readonly CheckerResult[]
  /** Interval of the series (ms); default 50. */
  intervalMs?: number
  /** Start and end of the series (µs since the run's start); default 0 and the last time seen. */
  startUs?: number
  endUs?: number
}
