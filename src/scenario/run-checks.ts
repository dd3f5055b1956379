/**
 * The end of a run, the Jepsen way: read the final memory of every MR a
 * checked stream touched, run the checkers (src/check/) over the history
 * and the final state, and write what a person or a script looks at into
 * the run directory: history.jsonl, faults.json, checks.json, and the
 * report (timeline.svg, report.html, series.json).
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { checkAlive, checkAtomics, checkExactlyOnce, checkLeftovers, checkLostWrites, checkOracle, checkRegisters, indexWords, resultsToJSON, WR_FLUSH_ERR, type CheckResult, type ErrorAllowance, type FinalMemory, type History, type NodeLiveness, type ServerLeftovers } from '../check/index.ts'
import type { Policy } from '../config/defaults.ts'
import type { FaultBand, RunEvent as ReportEvent } from '../report/run-report-types.ts'
import { writeRunReport } from '../report/run-report.ts'
import { readMr } from './checked-traffic.ts'
import { reproducibleLog, type NodeFaultReport } from './fault-steps.ts'
import { victimsOf, type Metrics, type NodeReadings } from './metrics.ts'
import type { RunContext } from './run-context.ts'
import type { Scenario } from './types.ts'

export type { CheckResult } from '../check/index.ts'

/** MR name -> its bytes at the end, and before the run wrote to it. */
export type FinalMemories = Map<string, { server: string; initial: Uint8Array; bytes: Uint8Array; layoutChanged: boolean }>

/** Read the final memory of every MR a checked stream touched (before clean-up deregisters them). */
export async function readFinalMemories(ctx: RunContext): Promise<FinalMemories> {
  const out: FinalMemories = new Map()
  const touched = new Set(ctx.history.map((op) => op.mr))
  const changedFiles = new Set(ctx.measures.layoutOps.map((l) => l.file))
  for (const name of touched) {
    const m = ctx.mrs.get(name)
    if (!m?.initial) continue
    if (ctx.faults.down.has(m.server)) {
      ctx.notes.push(`final memory of MR ${name} not read: its server ${m.server} is down`)
      continue
    }
    const bytes = await readMr(ctx, m)
    if (!bytes) {
      ctx.notes.push(`final memory of MR ${name} not read: it was anonymous memory on a server that was killed`)
      continue
    }
    out.set(name, { server: m.server, initial: m.initial, bytes, layoutChanged: m.file !== undefined && changedFiles.has(m.file.name) })
  }
  return out
}

/** Statuses the run's faults explain, for the exactly-once checker. */
function allowedErrors(sc: Scenario, ctx: RunContext, metrics: Metrics): ErrorAllowance[] {
  const kinds = new Set(ctx.faults.log.map((e) => e.kind))
  const out: ErrorAllowance[] = [...sc.checks.allowErrors]
  // A partition, a death, a pause or a restart fails QPs through their retries (or their peer's end).
  if (['partition', 'kill', 'pause', 'restart', 'stopNode'].some((k) => kinds.has(k))) out.push('RETRY_EXC_ERR', 'RNR_RETRY_EXC_ERR', WR_FLUSH_ERR)
  // A revocation, or an ODP MR invalidated by a layout change, refuses what follows.
  const layout = ctx.timeline.filter((e) => e.do === 'truncate' || e.do === 'punch' || e.do === 'unlink').map((e) => e.atMs)
  if (layout.length > 0 || Number(metrics.leaseRevocations ?? 0) > 0) out.push({ status: 'REM_ACCESS_ERR', fromUs: Math.min(...layout, Infinity) === Infinity ? 0 : Math.min(...layout) * 1000 }, WR_FLUSH_ERR)
  // A FLUSH that the storage fails.
  if (kinds.has('storage')) out.push('REM_OP_ERR', WR_FLUSH_ERR)
  return out
}

/** Ask every node the run did not take down whether it is alive. */
export async function probeNodes(ctx: RunContext): Promise<NodeLiveness[]> {
  const out: NodeLiveness[] = []
  for (const id of ctx.nodes) {
    const takenDown = ctx.faults.down.has(id) || ctx.faults.killed.has(id)
    let alive = false
    if (!ctx.faults.down.has(id)) {
      try {
        await ctx.control.request(id, 'ping', null, 3000)
        alive = true
      } catch {
        alive = false
      }
    }
    out.push({ id, killed: takenDown, alive })
  }
  return out
}

/** The checkers over one policy run. */
export function checkRun(ctx: RunContext, sc: Scenario, policy: Policy, finals: FinalMemories, readings: NodeReadings, metrics: Metrics, liveness: NodeLiveness[], faultTotals?: { corrupted: number; icrcErrors: number }): CheckResult[] {
  const history: History = { ops: ctx.history, flushes: ctx.flushes, restarts: ctx.faults.restarts }
  // A file whose layout the run changed (truncate, punch, unlink) lost its words legitimately: not checked for lost writes.
  const memory: FinalMemory[] = [...finals].filter(([, f]) => !f.layoutChanged).map(([mr, f]) => ({ mr, server: f.server, bytes: f.bytes, initial: wordsOf(f.initial) }))
  const initials = [...finals].map(([mr, f]) => ({ mr, server: f.server, initial: wordsOf(f.initial) }))
  const leftovers: ServerLeftovers[] = readings.servers.map((s, k) => ({
    server: readings.serverQps[k]?.server ?? `server${k}`,
    pins: { held: s.pins.nr_foll_pin_acquired - s.pins.nr_foll_pin_released },
    mrs: s.mrs.file + s.mrs.anon,
    leases: s.policy.leases.active,
    qps: readings.serverQps[k]?.qps ?? 0,
  }))
  const results: CheckResult[] = []
  if (ctx.history.length > 0) {
    const index = indexWords(history)
    results.push(checkLostWrites(history, memory, index))
    results.push(checkRegisters(history, initials, index))
    results.push(checkAtomics(history, [...finals].map(([mr, f]) => ({ mr, server: f.server, bytes: f.bytes, initial: wordsOf(f.initial) })), index))
    results.push(checkExactlyOnce(history, allowedErrors(sc, ctx, metrics)))
  }
  results.push(checkLeftovers(leftovers), checkAlive(liveness))
  results.push(checkOracle([{ policy, corruptBytes: Number(metrics.corruptBytes ?? 0), corruptEvents: Number(metrics.corruptEvents ?? 0), victims: victimsOf(readings) }], sc.checks.permitCorruption))
  if (faultTotals && (faultTotals.corrupted > 0 || faultTotals.icrcErrors > 0)) results.push(checkIcrc(faultTotals))
  return results
}

/** (h) The receivers' ICRC check dropped exactly the packets the fabric corrupted. */
function checkIcrc(t: { corrupted: number; icrcErrors: number }): CheckResult {
  const ok = t.corrupted === t.icrcErrors
  return {
    name: 'icrc', ok, summary: `${t.corrupted} packets corrupted, ${t.icrcErrors} dropped by the receivers' ICRC check`,
    anomalies: ok ? [] : [{ kind: 'icrc-mismatch', message: `the fabric corrupted ${t.corrupted} packets, but the receivers' ICRC check dropped ${t.icrcErrors}`, ops: [] }],
    counts: { ...t },
  }
}

/** Word index -> initial value, from the MR's bytes before the run wrote. */
function wordsOf(bytes: Uint8Array): (word: number) => bigint {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  return (word) => (word * 8 + 8 <= bytes.length ? view.getBigUint64(word * 8, true) : 0n)
}

const bigintJson = (_k: string, v: unknown): unknown => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v)

/** The run's files for people and scripts: history, fault log, checks, and the report (timeline.svg, report.html, series.json). */
export async function writeRunFiles(dir: string, sc: Scenario, policy: Policy, ctx: RunContext, checks: CheckResult[], reports: readonly NodeFaultReport[], readings?: NodeReadings): Promise<void> {
  mkdirSync(dir, { recursive: true })
  if (ctx.history.length > 0) writeFileSync(join(dir, 'history.jsonl'), ctx.history.map((op) => JSON.stringify(op, bigintJson)).join('\n') + '\n')
  writeFileSync(join(dir, 'faults.json'), JSON.stringify({ log: ctx.faults.log, reproducible: reproducibleLog(ctx, reports), nodes: reports }, bigintJson, 2) + '\n')
  writeFileSync(join(dir, 'checks.json'), JSON.stringify(resultsToJSON(checks), null, 2) + '\n')
  await writeRunReport(dir, {
    title: `${sc.name} under ${policy}`, scenario: sc.name, policy, seed: ctx.seed,
    ops: ctx.history, samples: ctx.samples, faults: faultBands(ctx), events: runEvents(ctx, readings), checkers: checks,
    intervalMs: sc.report.intervalMs, startUs: 0, endUs: Math.round(ctx.measures.elapsedMs * 1000),
  })
}

/** The fault log as bands: each fault from its start to its end (a kill until the node's restart, or the end of the run). */
export function faultBands(ctx: RunContext): FaultBand[] {
  const endUs = Math.round(ctx.measures.elapsedMs * 1000)
  const bands: FaultBand[] = []
  const log = ctx.faults.log
  for (const [k, e] of log.entries()) {
    if (e.action !== 'start' || e.kind === 'restart') continue
    const endOf = e.kind === 'kill' || e.kind === 'stopNode'
      ? log.slice(k + 1).find((x) => x.kind === 'restart' && x.targets[0] === e.targets[0])
      : log.slice(k + 1).find((x) => x.action === 'end' && x.fault === e.fault)
    bands.push({ id: e.fault, kind: e.kind, label: `${e.kind} ${e.targets.join(',')}`, startUs: e.atMs * 1000, endUs: endOf ? endOf.atMs * 1000 : endUs })
  }
  return bands
}

/** Marks for the report: layout changes, lease breaks and revocations the clients saw, and the run's own events (restarts, reconnects ...). */
function runEvents(ctx: RunContext, readings?: NodeReadings): ReportEvent[] {
  const layout = ctx.timeline.filter((e) => e.do === 'truncate' || e.do === 'punch' || e.do === 'unlink')
    .map((e) => ({ atUs: e.atMs * 1000, kind: 'layout-change', label: `${e.do}: ${e.outcome}` }))
  // The clients stamp what they receive with the wall clock (ms since the epoch).
  const us = (epochMs: number): number => Math.round((epochMs - ctx.t0EpochMs) * 1000)
  const leases = (readings?.leaseStatus ?? []).flatMap((l) => [
    ...l.notices.map((n) => ({ atUs: us(n.receivedAt), kind: 'lease-break', label: `lease break: ${n.file} (${n.state})` })),
    ...l.revocations.map((r) => ({ atUs: us(r.receivedAt), kind: 'revocation', label: `lease revoked: ${r.file}` })),
  ])
  const own = ctx.events.filter((e) => e.kind !== 'fault')
  return [...layout, ...leases, ...own].sort((a, b) => a.atUs - b.atUs)
}
