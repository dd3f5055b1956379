/**
 * What a scenario run measures, and the expectations checked against it.
 * Every metric is read from the nodes at the end of a run (the server's
 * `mem.stats`: oracle, pins, pin policy, leases, ODP; every node's
 * `verbs.counters` and `rdma.faultCounters`; each client's `verbs.lease.status`)
 * or timed by the steps themselves (truncate latency, traffic results).
 * METRICS is the one list: the schema's `expect[].metric` enum must match it
 * (test/scenario-metric-names.test.ts).
 */
import type { MemStatsReply } from '../../fabric/node-message-types.ts'
import type { FaultCounters } from '../../fabric/faults.ts'
import type { LeaseNoticeRecord, LeaseRevocationRecord } from '../../fabric/node-message-types.ts'
import type { CompareOp, Expectation } from './types.ts'

export interface MetricDef {
  type: 'number' | 'string'
  what: string
  /** Only measured when the scenario has a step of this kind. */
  needs?: 'truncate' | 'punch' | 'unlink' | 'traffic' | 'registerFile' | 'verify' | 'faults'
}

export const METRICS = {
  corruptBytes: { type: 'number', what: "bytes RDMA wrote into blocks the MR's file no longer owned (the server's oracle)" },
  corruptEvents: { type: 'number', what: 'DMA operations that wrote such bytes' },
  victimFiles: { type: 'number', what: 'files the oracle named as victims (blocks reused by another file and written by RDMA)' },
  victimFileBytes: { type: 'number', what: 'corrupt bytes that landed in those files (the rest hit free or orphaned blocks)' },
  leakBytes: { type: 'number', what: 'bytes RDMA read from blocks the MR no longer owned' },
  mismatchBytes: { type: 'number', what: 'bytes the verify steps found different from what they expected', needs: 'verify' },
  registration: { type: 'string', what: 'first file MR registration: pinned, odp, odp-by-policy, "refused ERRNO", or "refused ERRNO, odp" (fallback)', needs: 'registerFile' },
  pinRefusals: { type: 'number', what: 'long-term pins the policy refused at registration' },
  odpForced: { type: 'number', what: 'file MRs the policy registered as ODP MRs' },
  truncateResult: { type: 'string', what: 'first truncate: ok, an errno name (ETXTBSY ...), EINTR (its timeoutMs interrupted the wait), or TIMEOUT (no answer in time)', needs: 'truncate' },
  truncateMs: { type: 'number', what: 'first truncate: time until it returned (ms)', needs: 'truncate' },
  punchResult: { type: 'string', what: 'first punch: ok, an errno name, or TIMEOUT', needs: 'punch' },
  punchMs: { type: 'number', what: 'first punch: time until it returned (ms)', needs: 'punch' },
  unlinkResult: { type: 'string', what: 'first unlink: ok, an errno name, or TIMEOUT', needs: 'unlink' },
  unlinkMs: { type: 'number', what: 'first unlink: time until it returned (ms)', needs: 'unlink' },
  layoutWaited: { type: 'number', what: 'truncates / punches / unlinks that waited (for pins, or a lease break)' },
  layoutWaitMs: { type: 'number', what: 'total time they waited (ms)' },
  layoutFailed: { type: 'number', what: 'layout changes refused with ETXTBSY (deny)' },
  blocksKept: { type: 'number', what: 'pinned blocks a layout change left with the file until unpinned (truncate-extend)' },
  rdmaOps: { type: 'number', what: 'RDMA operations completed by every traffic step (successful or not)', needs: 'traffic' },
  rdmaErrors: { type: 'number', what: 'completions in error', needs: 'traffic' },
  rdmaFirstError: { type: 'string', what: 'status of the first completion in error (REM_ACCESS_ERR ...), or none', needs: 'traffic' },
  rdmaStopped: { type: 'number', what: 'traffic streams stopped early (a stop step, or a lease break the holder complied with)', needs: 'traffic' },
  bandwidthMiBs: { type: 'number', what: 'bytes moved per second by the traffic steps, summed over streams (MiB/s)', needs: 'traffic' },
  streamsFailed: { type: 'number', what: 'traffic streams that had a completion in error', needs: 'traffic' },
  reconnects: { type: 'number', what: 'new QPs reconnecting streams took after their QP failed', needs: 'traffic' },
  historyOps: { type: 'number', what: 'operations the checked streams recorded in the history', needs: 'traffic' },
  leaseBreaks: { type: 'number', what: 'layout-lease breaks (lease-break notices sent)' },
  leaseBreaksReleased: { type: 'number', what: 'breaks the holder answered in time' },
  leaseRevocations: { type: 'number', what: 'leases revoked after leaseBreakTimeMs' },
  leaseNotices: { type: 'number', what: 'lease-break notices the client hosts received' },
  pinsAcquired: { type: 'number', what: 'page pins taken (nr_foll_pin_acquired)' },
  pinsReleased: { type: 'number', what: 'page pins dropped (nr_foll_pin_released)' },
  pinsHeld: { type: 'number', what: 'pins still held at the end, after the run deregistered its MRs (must be 0)' },
  longtermPins: { type: 'number', what: 'FOLL_LONGTERM pins taken' },
  odpFaults: { type: 'number', what: 'ODP page faults' },
  odpPagesInvalidated: { type: 'number', what: 'ODP pages invalidated (truncate, punch ... through the MMU notifier)' },
  odpFaultErrors: { type: 'number', what: 'ODP faults that failed (past EOF: REM_ACCESS_ERR)' },
  packets: { type: 'number', what: 'data-plane packets sent by every node' },
  dataBytes: { type: 'number', what: 'data-plane bytes sent by every node' },
  retransmissions: { type: 'number', what: 'requester go-back-N restarts, by retransmit timer and by NAK, over every node' },
  seqNaks: { type: 'number', what: 'PSN sequence-error NAKs sent by responders' },
  duplicates: { type: 'number', what: 'duplicate requests responders saw (re-ACKed or replayed)' },
  faultsDropped: { type: 'number', what: 'packets the fault injector dropped', needs: 'faults' },
  faultsDuplicated: { type: 'number', what: 'packets the fault injector duplicated', needs: 'faults' },
  faultsReordered: { type: 'number', what: 'packets the fault injector reordered', needs: 'faults' },
  faultsLost: { type: 'number', what: 'data packets netem rules lost (loss, not partitions)' },
  faultsPartitioned: { type: 'number', what: 'data packets partitions dropped' },
  faultsCorrupted: { type: 'number', what: 'data packets netem rules corrupted (a bit flipped)' },
  faultsDelayed: { type: 'number', what: 'data packets netem rules delayed' },
  icrcDrops: { type: 'number', what: "packets the receivers' ICRC check dropped (must equal faultsCorrupted)" },
  controlDropped: { type: 'number', what: 'node-to-node control messages fault rules dropped (dropMessages, partitions)' },
  elapsedMs: { type: 'number', what: 'time the steps took (ms)' },
} as const satisfies Record<string, MetricDef>

export type MetricName = keyof typeof METRICS
export type Metrics = Partial<Record<MetricName, number | string>>

/** What the steps measured themselves (steps.ts fills it). */
export interface StepMeasures {
  registration?: string
  layoutOps: Array<{ op: 'truncate' | 'punch' | 'unlink'; file: string; result: string; ms: number }>
  traffic: TrafficReport[]
  mismatchBytes: number
  verified: boolean
  faults: FaultCounters
  elapsedMs: number
  /** Reconnections of streams after a QP failure. */
  reconnects?: number
  /** Operations in the history. */
  historyOps?: number
}

export interface TrafficReport {
  id: string
  client: string
  op: string
  size: number
  completed: number
  posted: number
  errors: number
  firstError?: string
  stopped: boolean
  stopReason?: string
  elapsedMs: number
  bandwidthMiBs: number
}

/** What the nodes said at the end of a run. */
export interface NodeReadings {
  servers: MemStatsReply[]
  counters: Array<Record<string, number>>
  leaseStatus: Array<{ notices: LeaseNoticeRecord[]; revocations: LeaseRevocationRecord[] }>
  /** QPs left on each server (after the run's clean-up: must be none). */
  serverQps: Array<{ server: string; qps: number }>
}

const NON_FILES = new Set(['free', 'orphan', 'anon'])

/** Files the oracle charged, with bytes, over every server. */
export function victimsOf(r: NodeReadings): Array<{ file: string; bytes: number }> {
  const by = new Map<string, number>()
  for (const s of r.servers) for (const v of s.oracle.victims) if (!NON_FILES.has(v.victim)) by.set(v.victim, (by.get(v.victim) ?? 0) + v.bytes)
  return [...by].map(([file, bytes]) => ({ file, bytes })).sort((a, b) => b.bytes - a.bytes)
}

export function computeMetrics(m: StepMeasures, r: NodeReadings): Metrics {
  const sum = <T>(xs: readonly T[], f: (x: T) => number): number => xs.reduce((s, x) => s + f(x), 0)
  const S = r.servers
  const victims = victimsOf(r)
  const out: Metrics = {
    corruptBytes: sum(S, (s) => s.oracle.corruptBytes),
    corruptEvents: sum(S, (s) => s.oracle.corruptEvents),
    victimFiles: victims.length,
    victimFileBytes: sum(victims, (v) => v.bytes),
    leakBytes: sum(S, (s) => s.oracle.leakBytes),
    pinRefusals: sum(S, (s) => s.policy.pinRefusals),
    odpForced: sum(S, (s) => s.policy.odpForced),
    layoutWaited: sum(S, (s) => s.policy.layoutWaited),
    layoutWaitMs: sum(S, (s) => s.policy.layoutWaitMs),
    layoutFailed: sum(S, (s) => s.policy.layoutFailed),
    blocksKept: sum(S, (s) => s.policy.blocksKept),
    leaseBreaks: sum(S, (s) => s.policy.leases.breaks),
    leaseBreaksReleased: sum(S, (s) => s.policy.leases.breaksReleased),
    leaseRevocations: sum(S, (s) => s.policy.leases.revocations),
    leaseNotices: sum(r.leaseStatus, (l) => l.notices.length),
    pinsAcquired: sum(S, (s) => s.pins.nr_foll_pin_acquired),
    pinsReleased: sum(S, (s) => s.pins.nr_foll_pin_released),
    pinsHeld: sum(S, (s) => s.pins.nr_foll_pin_acquired - s.pins.nr_foll_pin_released),
    longtermPins: sum(S, (s) => s.pins.longterm_acquired),
    odpFaults: sum(S, (s) => s.odp.pageFaults),
    odpPagesInvalidated: sum(S, (s) => s.odp.pagesInvalidated),
    odpFaultErrors: sum(S, (s) => s.odp.faultErrors),
    packets: sum(r.counters, (c) => c.pktsSent ?? 0),
    dataBytes: sum(r.counters, (c) => c.bytesSent ?? 0),
    retransmissions: sum(r.counters, (c) => (c.timeoutRetries ?? 0) + (c.nakRetries ?? 0)),
    seqNaks: sum(r.counters, (c) => c.seqNaksSent ?? 0),
    duplicates: sum(r.counters, (c) => c.duplicateRequests ?? 0),
    elapsedMs: Math.round(m.elapsedMs),
  }
  if (m.verified) out.mismatchBytes = m.mismatchBytes
  if (m.registration !== undefined) out.registration = m.registration
  for (const op of ['truncate', 'punch', 'unlink'] as const) {
    const first = m.layoutOps.find((x) => x.op === op)
    if (!first) continue
    out[`${op}Result`] = first.result
    out[`${op}Ms`] = round1(first.ms)
  }
  if (m.traffic.length > 0) {
    out.rdmaOps = sum(m.traffic, (t) => t.completed)
    out.rdmaErrors = sum(m.traffic, (t) => t.errors)
    out.rdmaFirstError = m.traffic.find((t) => t.firstError)?.firstError ?? 'none'
    out.rdmaStopped = m.traffic.filter((t) => t.stopped).length
    out.bandwidthMiBs = round1(sum(m.traffic, (t) => t.bandwidthMiBs))
    out.streamsFailed = m.traffic.filter((t) => t.errors > 0).length
    out.reconnects = m.reconnects ?? 0
    out.historyOps = m.historyOps ?? 0
  }
  if (m.faults.seen > 0) {
    out.faultsDropped = m.faults.dropped
    out.faultsDuplicated = m.faults.duplicated
    out.faultsReordered = m.faults.reordered
  }
  return out
}

/** The fabric fault rules' totals as metrics. */
export function fabricMetrics(t: { lost: number; partitioned: number; corrupted: number; delayed: number; icrcErrors: number; controlDropped: number }): Metrics {
  return { faultsLost: t.lost, faultsPartitioned: t.partitioned, faultsCorrupted: t.corrupted, faultsDelayed: t.delayed, icrcDrops: t.icrcErrors, controlDropped: t.controlDropped }
}

export function round1(x: number): number {
  return Math.round(x * 10) / 10
}

export interface ExpectationResult {
  policy: string
  metric: string
  op: CompareOp
  value: number | string
  /** undefined when the run did not measure it (a step skipped, the run failed). */
  measured?: number | string
  held: boolean
  why?: string
}

export function compare(measured: number | string | undefined, op: CompareOp, value: number | string): boolean {
  if (measured === undefined) return false
  switch (op) {
    case '==':
      return measured === value
    case '!=':
      return measured !== value
    case '>':
      return measured > value
    case '>=':
      return measured >= value
    case '<':
      return measured < value
    case '<=':
      return measured <= value
  }
}

/** Every expectation that applies to the run of `policy`, checked against its metrics. */
export function checkExpectations(expect: readonly Expectation[], policy: string, metrics: Metrics): ExpectationResult[] {
  return expect
    .filter((e) => e.policies === '*' || e.policies.includes(policy as never))
    .map((e) => {
      const measured = metrics[e.metric as MetricName]
      return { policy, metric: e.metric, op: e.op, value: e.value, measured, held: compare(measured, e.op, e.value), ...(e.why ? { why: e.why } : {}) }
    })
}
