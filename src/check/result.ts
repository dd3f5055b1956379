/**
 * What every checker returns: a verdict, a one-line summary, and the
 * anomalies it found, each naming what went wrong and showing the evidence
 * (the operations involved, their times and their values).
 */

import type { HistoryOp } from './history.ts'

/** One thing a checker found wrong (or, in `CheckResult.notes`, worth showing). */
export interface Anomaly {
  /** What kind: 'lost-write', 'stale-read', 'completed-twice' ... */
  kind: string
  /** One human sentence with the facts. */
  message: string
  /** The operations involved (the evidence), at most MAX_OPS_PER_ANOMALY. */
  ops: HistoryOp[]
  /** The 8-byte word (byte offset in the MR / 8) and the MR, when the anomaly is about one word. */
  word?: number
  mr?: string
  /** Named values of the evidence: { final: ..., initial: ... }. */
  values?: Record<string, bigint>
}

export interface CheckResult {
  /** The checker: 'lost-write', 'register', 'atomics', 'exactly-once', 'leftovers', 'alive', 'oracle'. */
  name: string
  ok: boolean
  /** '12,000 words, 0 anomalies'. */
  summary: string
  /** The first MAX_ANOMALIES anomalies; `counts.anomalies` is the total. */
  anomalies: Anomaly[]
  /**
   * Findings that are not violations but are shown: e.g. writes acknowledged
   * after the last FLUSH before a restart ('unflushed'). First MAX_ANOMALIES;
   * the total is in `counts`.
   */
  notes?: Anomaly[]
  /** What was checked and found: words, reads, anomalies, unflushed ... */
  counts?: Record<string, number>
}

/** Anomalies (and notes) kept per checker; the rest are only counted. */
export const MAX_ANOMALIES = 20
/** Operations kept as the evidence of one anomaly. */
export const MAX_OPS_PER_ANOMALY = 10

/** Collects anomalies up to the cap and counts them all, per kind too. */
export class AnomalyList {
  readonly kept: Anomaly[] = []
  total = 0
  readonly byKind = new Map<string, number>()

  constructor(private readonly cap = MAX_ANOMALIES) {}

  add(a: Anomaly): void {
    this.total++
    this.byKind.set(a.kind, (this.byKind.get(a.kind) ?? 0) + 1)
    if (this.kept.length < this.cap) this.kept.push({ ...a, ops: a.ops.slice(0, MAX_OPS_PER_ANOMALY) })
  }

  /** The per-kind counts, e.g. { 'lost-write': 2 }. */
  kinds(): Record<string, number> {
    return Object.fromEntries(this.byKind)
  }
}

/** 12345 -> '12,345'. */
export function num(n: number): string {
  return n.toLocaleString('en-US')
}

/** '1 anomaly' / '3 anomalies' (with the per-kind counts when there are some). */
export function anomalySummary(list: AnomalyList): string {
  if (list.total === 0) return '0 anomalies'
  const kinds = [...list.byKind].map(([k, n]) => `${num(n)} ${k}`).join(', ')
  return `${num(list.total)} ${list.total === 1 ? 'anomaly' : 'anomalies'} (${kinds})`
}

/** Build a result from the collected anomalies: ok when there are none. */
export function makeResult(
  name: string,
  what: string,
  list: AnomalyList,
  counts: Record<string, number> = {},
  notes?: AnomalyList,
): CheckResult {
  const result: CheckResult = {
    name,
    ok: list.total === 0,
    summary: `${what}, ${anomalySummary(list)}`,
    anomalies: list.kept,
    counts: { ...counts, anomalies: list.total, ...list.kinds() },
  }
  if (notes && notes.total > 0) result.notes = notes.kept
  return result
}
