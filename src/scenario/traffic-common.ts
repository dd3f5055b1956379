/**
 * What the traffic steps share: their limits, and how a stream's result is
 * reported (the per-stream row, the timeline's outcome).
 */
import { EmuError } from '../errors.ts'
import { wcStatusName } from '../verbs/constants.ts'
import type { WorkloadResult } from '../verbs/workload-types.ts'
import { round1, type TrafficReport } from './metrics.ts'
import type { RunContext, TrafficRecord } from './run-context.ts'

/** A workload's control request may take this long beyond its duration. */
export const WORKLOAD_MARGIN_MS = 300_000
/** Operations of a duration-bound traffic step with no count (perftest -D's cap). */
export const DURATION_MAX_OPS = 10_000_000

/** ERR_ETXTBSY -> ETXTBSY (what a policy answered). */
export function errnoOf(err: unknown): string {
  if (err instanceof EmuError) return err.code.replace(/^ERR_/, '')
  return err instanceof Error ? err.message : String(err)
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

export async function packetsIn(ctx: RunContext, server: string): Promise<number> {
  return (await ctx.verbs(server).counters()).pktsReceived ?? 0
}

export function report(t: TrafficRecord, r: WorkloadResult): TrafficReport {
  const seconds = r.elapsedMs / 1000
  return {
    id: t.id, client: t.client, op: t.op, size: t.size, completed: r.completed, posted: r.posted, errors: r.errors,
    ...(r.firstError !== undefined ? { firstError: wcStatusName(r.firstError) } : {}),
    stopped: r.stopped, ...(r.stopReason ? { stopReason: r.stopReason } : {}),
    elapsedMs: round1(r.elapsedMs),
    bandwidthMiBs: seconds > 0 ? round1((r.completed - r.errors) * t.size / seconds / 2 ** 20) : 0,
  }
}

export function trafficOutcome(t: TrafficRecord): string {
  if (t.error) return `${t.id}: failed (${errnoOf(t.error)})`
  const r = t.result
  if (!r) return `${t.id}: running`
  const end = r.errors ? `, ${r.errors} in error (${wcStatusName(r.firstError ?? -1)})` : r.stopped ? `, stopped (${r.stopReason})` : ''
  return `${t.id}: ${r.completed} completed${end}`
}


/** How long a background traffic step waits for its first packets at the server. */
const START_WAIT_MS = 5000

/**
 * Follow a stream's workload in `rec` (its result or error, its report row)
 * and register it. In the foreground, wait for it (its error fails the step);
 * in the background, go on once the server sees its packets, so a following
 * sleep is time under load. Returns the step's outcome.
 */
export async function followTraffic(ctx: RunContext, rec: TrafficRecord, work: Promise<WorkloadResult>, o: { background: boolean; server: string; before: number; running: string }): Promise<string> {
  rec.done = work.then(
    (r) => {
      rec.result = r
      rec.settled = true
      ctx.measures.traffic.push(report(rec, r))
    },
    (err: unknown) => {
      rec.error = err
      rec.settled = true
    },
  )
  ctx.traffic.set(rec.id, rec)
  if (!o.background) {
    await rec.done
    if (rec.error) {
      rec.reported = true
      throw rec.error
    }
    return trafficOutcome(rec)
  }
  const deadline = Date.now() + START_WAIT_MS
  while (!rec.settled && Date.now() < deadline && (await packetsIn(ctx, o.server)) === o.before) await sleep(5)
  return o.running
}
