/**
 * Checked traffic streams: a client runs a mixed workload (WRITE, READ,
 * FETCH_ADD, CMP_SWAP, and RDMA FLUSH every `flushEvery` operations) in which
 * every WRITE carries values unique to the operation and the word, and every
 * operation is recorded in the run's history (src/check/history.ts) for the
 * checkers.
 *
 * With `reconnect`, a stream whose QP fails (a partition outlasting the
 * retry budget, its server killed or restarted) connects a new QP and goes
 * on, as an application would: it waits for the server to be back, takes a
 * new connection, registers its file MR again when the server lost it, and
 * posts the operations it had left, with fresh operation ids.
 */
import { EmuError, ErrorCodes } from '../errors.ts'
import { Access, wcStatusName, WcStatus, WrOpcode } from '../verbs/constants.ts'
import type { WorkloadMixEntry, WorkloadResult, WorkloadSpec } from '../verbs/workload-types.ts'
import { flushPltFor } from '../verbs/workload-plan.ts'
import type { MrRecord, RunContext, TrafficRecord } from './run-context.ts'
import { SCENARIO_PORT } from './run-context.ts'
import { deriveSeed } from './fault-book.ts'
import { DURATION_MAX_OPS, followTraffic, packetsIn, sleep, WORKLOAD_MARGIN_MS } from './traffic-common.ts'
import type { StepOf } from './types.ts'

/** Operation ids per stream: stream k uses [k * STREAM_IDS + 1, (k + 1) * STREAM_IDS). */
const STREAM_IDS = 2 ** 22
/** How long a reconnecting stream waits for its server to come back (ms). */
const RECONNECT_WAIT_MS = 20_000
/** Each reconnect attempt's CM exchange may take this long (ms). */
const RECONNECT_TRY_MS = 500
const CHUNK = 1 << 20

type TrafficStep = StepOf<'traffic'>

/** Read an MR's bytes as the run sees them at the end: the file range for a file MR (it survives a restart), else by STag. */
export async function readMr(ctx: RunContext, m: MrRecord): Promise<Uint8Array | undefined> {
  if (!m.mr) return undefined
  const length = m.mr.length
  const out = new Uint8Array(length)
  for (let off = 0; off < length; off += CHUNK) {
    const n = Math.min(CHUNK, length - off)
    const part = m.file
      ? new Uint8Array(await ctx.req(m.server, 'fs.read', { name: m.file.name, offset: m.file.offset + off, length: n }))
      : m.lost ? undefined : await ctx.verbs(m.server).read(m.mr.stag, off, n)
    if (!part) return undefined
    out.set(part.subarray(0, n), off)
  }
  return out
}

export async function startCheckedTraffic(ctx: RunContext, step: TrafficStep, i: number): Promise<string> {
  const m = ctx.mrs.get(step.mr)!
  if (!m.mr || m.deregistered) {
    const why = m.absent ?? 'deregistered'
    ctx.notes.push(`traffic ${step.id} skipped: MR ${step.mr} is not registered (${why})`)
    return `skipped (MR ${step.mr}: ${why})`
  }
  m.initial ??= await readMr(ctx, m)
  const firstOpId = ++ctx.streams * STREAM_IDS + 1
  const rec: TrafficRecord = { id: step.id, client: step.client, qpn: -1, op: step.op, size: step.size, done: Promise.resolve(), settled: false }
  const before = await packetsIn(ctx, m.server)
  return followTraffic(ctx, rec, runStream(ctx, step, i, m, rec, firstOpId), { background: step.background, server: m.server, before, running: `running (checked) on ${step.client}` })
}

/** The stream's operations by weight, in the workload's form. */
function mixOf(step: TrafficStep): WorkloadMixEntry[] {
  const weights: Record<string, number> = step.op === 'mixed' ? { ...step.mix } : { [step.op]: 1 }
  return Object.entries(weights).filter(([, w]) => w > 0).map(([op, weight]) => ({ op: op as WorkloadMixEntry['op'], weight }))
}

/** Where the atomics go: FETCH_ADD words first, CMP_SWAP words after them (so each word's total is checkable). */
export function atomicLayout(step: TrafficStep, span: number): { atomicOffset: number; atomicSpan: number; casOffset: number; casSpan: number } {
  const atomicOffset = step.atomicOffset ?? step.offset + span
  const both = step.op === 'mixed' && (step.mix?.fetchAdd ?? 0) > 0 && (step.mix?.cmpSwap ?? 0) > 0
  return { atomicOffset, atomicSpan: step.atomicWords, casOffset: both ? atomicOffset + step.atomicWords * 8 : atomicOffset, casSpan: step.atomicWords }
}

async function runStream(ctx: RunContext, step: TrafficStep, i: number, m: MrRecord, rec: TrafficRecord, firstOpId: number): Promise<WorkloadResult> {
  const client = ctx.verbs(step.client)
  const total: WorkloadResult = { completed: 0, posted: 0, stopped: false, errors: 0, elapsedMs: 0, latenciesUs: [] }
  const t0 = ctx.elapsed()
  const deadline = step.durationMs !== undefined ? t0 + step.durationMs : Infinity
  let remaining = step.count ?? DURATION_MAX_OPS
  let nextId = firstOpId
  const seed = step.seed ?? deriveSeed(ctx.seed, 1000 + i)
  for (let round = 0; remaining > 0; round++) {
    const qpn = await connect(ctx, step, m, deadline, round > 0)
    if (qpn === undefined) {
      ctx.notes.push(`traffic ${step.id}: could not connect again within ${RECONNECT_WAIT_MS} ms; ${remaining} operations not posted`)
      break
    }
    rec.qpn = qpn
    ctx.conns.push({ client: step.client, qpn })
    const span = step.span ?? m.mr!.length - step.offset
    const recv = (step.mix?.send ?? 0) > 0 ? await recvBuffer(ctx, step, m) : undefined
    const spec: WorkloadSpec = {
      opcode: WrOpcode.RDMA_WRITE, count: remaining, window: step.window, size: step.size, remoteAddr: m.mr!.iova + step.offset, rkey: m.mr!.stag, span,
      ...(deadline !== Infinity ? { durationMs: Math.max(1, Math.round(deadline - ctx.elapsed())) } : {}),
      mix: mixOf(step), seed: (seed + round) >>> 0, ...atomicLayout(step, span),
      // Persistence where the MR may be flushed to it (a DAX file MR with flushPersistent), else global visibility.
      ...(step.flushEvery !== undefined ? { flushEvery: step.flushEvery, flushPlt: flushPltFor(m.mr!.access) } : {}),
      ...(recv ? { recv } : {}),
      history: { stream: step.id, mr: step.mr, server: m.server, client: step.client, firstOpId: nextId, t0EpochMs: ctx.t0EpochMs, mrIova: m.mr!.iova },
    }
    const r = await client.workload(qpn, step.window * Math.max(step.size, 8), spec, WORKLOAD_MARGIN_MS + (step.durationMs ?? 0))
    const ops = r.history ?? []
    ctx.measures.historyOps = (ctx.measures.historyOps ?? 0) + ops.length
    for (const op of ops) {
      ctx.history.push(op)
      if (op.op === 'flush' && op.status === 'SUCCESS' && op.completedUs !== undefined) ctx.flushes.push({ mr: op.mr, server: op.server, completedUs: op.completedUs })
    }
    if (r.samples) ctx.samples.push({ stream: step.id, samples: r.samples.map((x) => ({ tUs: x.tUs, retransmissions: x.retransmissions })) })
    total.completed += r.completed
    total.posted += r.posted
    total.errors += r.errors
    total.firstError ??= r.firstError
    total.stopped = r.stopped
    if (r.stopReason) total.stopReason = r.stopReason
    nextId += Math.max(r.posted, ops.length)
    remaining -= r.posted
    const failed = r.errors > 0
    if (!(step.reconnect && failed && !r.stopped && ctx.elapsed() < deadline)) break
    ctx.measures.reconnects = (ctx.measures.reconnects ?? 0) + 1
    ctx.events.push({ atUs: ctx.elapsedUs(), kind: 'reconnect', label: `${step.id}: QP failed (${wcStatusName(r.firstError ?? WcStatus.GENERAL_ERR)}), reconnecting` })
    await client.disconnect(qpn).catch(() => undefined)
    const k = ctx.conns.findIndex((c) => c.qpn === qpn && c.client === step.client)
    if (k >= 0) ctx.conns.splice(k, 1)
  }
  total.elapsedMs = ctx.elapsed() - t0
  return total
}

/** A new QP to the MR's server (the first, or again after a failure: waiting for the server, registering the MR again if it was lost). */
async function connect(ctx: RunContext, step: TrafficStep, m: MrRecord, deadline: number, again: boolean): Promise<number | undefined> {
  const client = ctx.verbs(step.client)
  const give = Math.min(deadline, ctx.elapsed() + RECONNECT_WAIT_MS)
  let lastErr: unknown
  do {
    if (!ctx.faults.down.has(m.server)) {
      try {
        await ctx.serverPd(m.server)
        if (m.lost) await registerAgain(ctx, m)
        // Again after a failure: short tries, so the stream is back soon after the fault ends.
        const options = again ? { ...step.qp, timeoutMs: RECONNECT_TRY_MS } : step.qp
        const { qpn } = await client.connect(m.server, SCENARIO_PORT, options ? { options } : {})
        return qpn
      } catch (err) {
        if (!again) throw err
        lastErr = err
      }
    }
    await sleep(100)
  } while (ctx.elapsed() < give)
  if (lastErr) ctx.notes.push(`traffic ${step.id}: last connect attempt: ${(lastErr as Error).message}`)
  return undefined
}

/** Where the server's receives land for a stream with SENDs: an MR of the run's PD on the server (made once, again after a restart). */
async function recvBuffer(ctx: RunContext, step: TrafficStep, m: MrRecord): Promise<{ stag: number; offset: number; length: number }> {
  const name = `${step.id}.recv`
  let rec = ctx.mrs.get(name)
  if (!rec?.mr || rec.lost) {
    const pd = await ctx.serverPd(m.server)
    const mr = await ctx.verbs(m.server).regMr(pd, step.size, Access.LOCAL_WRITE)
    rec = { server: m.server, mr, deregistered: false }
    ctx.mrs.set(name, rec)
  }
  return { stag: rec.mr!.stag, offset: 0, length: step.size }
}

/** The MR's server lost it (killed, restarted): register the same file range again, as its owner. */
async function registerAgain(ctx: RunContext, m: MrRecord): Promise<void> {
  if (!m.file || !m.owner || !m.mr) throw new EmuError(ErrorCodes.ENOENT, `the MR's server lost it, and it is no file MR that can be registered again`)
  const pd = await ctx.serverPd(m.server)
  m.mr = await ctx.verbs(m.owner).regServerFile(m.server, { pd, file: m.file.name, offset: m.file.offset, length: m.mr.length, access: m.file.access, mapping: m.file.mapping })
  m.lost = false
  ctx.events.push({ atUs: ctx.elapsedUs(), kind: 'register', label: `${m.file.name} registered again` })
}
