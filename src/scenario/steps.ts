/**
 * The scenario steps, run on a launched cluster from the launcher process.
 * Server work goes over the control plane (fs.*, mem.*, verbs.* of the
 * server); a client host's work is asked of that host (RemoteVerbs on the
 * client: it takes the lease, registers the file MR as itself, connects its
 * own QP and runs the workload in its own process), so the lease-break
 * notices reach the process that holds the lease and its traffic, as in the
 * policy tests.
 *
 * Outcomes a policy decides (a refused registration, a truncate that fails
 * with ETXTBSY or is still waiting) are recorded, not thrown: they are what
 * the run measures. Anything else that fails is a problem of the run.
 */
import type { NodeBody } from '../../fabric/node-messages.ts'
import { EmuError, ErrorCodes } from '../errors.ts'
import { Access, WrOpcode } from '../verbs/constants.ts'
import type { WorkloadSpec } from '../verbs/workload.ts'
import { startCheckedTraffic } from './checked-traffic.ts'
import { runFaultStep } from './fault-steps.ts'
import { round1 } from './metrics.ts'
import { DURATION_MAX_OPS, errnoOf, followTraffic, packetsIn, sleep, trafficOutcome, WORKLOAD_MARGIN_MS } from './traffic-common.ts'
import { SCENARIO_PORT, type MrRecord, type RunContext, type TrafficRecord } from './run-context.ts'
import type { AccessName, StepOf, Step } from './types.ts'

export { RunContext, SCENARIO_PORT, type TimelineEntry } from './run-context.ts'
export { errnoOf } from './traffic-common.ts'

/** Bytes per fs.write / fs.read / mem.write request. */
const CHUNK = 1 << 20
/** Registration refusals a policy gives (recorded as the outcome, not a failure). */
const REFUSALS = new Set<string>([ErrorCodes.EOPNOTSUPP, ErrorCodes.EFAULT, ErrorCodes.EACCES, ErrorCodes.EAGAIN])

const ACCESS: Record<AccessName, number> = {
  localWrite: Access.LOCAL_WRITE,
  remoteWrite: Access.REMOTE_WRITE,
  remoteRead: Access.REMOTE_READ,
  remoteAtomic: Access.REMOTE_ATOMIC,
  flushGlobal: Access.FLUSH_GLOBAL,
  flushPersistent: Access.FLUSH_PERSISTENT,
}

/** Run one step (steps[i], planned at `plannedMs` when it has `at`); returns a short outcome for the timeline. */
export async function runStep(ctx: RunContext, step: Step, i = 0, plannedMs?: number): Promise<string> {
  switch (step.do) {
    case 'netem':
    case 'partition':
    case 'dropMessages':
    case 'heal':
    case 'kill':
    case 'pause':
    case 'resume':
    case 'restart':
    case 'stopNode':
    case 'storageFault':
      return runFaultStep(ctx, step, i, plannedMs)
    case 'fsync':
      try {
        const r = await ctx.req(step.server, 'fs.fsync', { name: step.file })
        return `${step.file}: ${r.written} pages written`
      } catch (err) {
        if (!(err instanceof EmuError)) throw err
        ctx.notes.push(`fsync of ${step.file} failed: ${errnoOf(err)}`)
        return `failed ${errnoOf(err)}`
      }
    case 'createFile':
      await ctx.req(step.server, 'fs.create', { name: step.file, dax: step.dax })
      await fillFile(ctx, step.server, step.file, 0, step.bytes, step.fill)
      return `${step.file}: ${step.bytes} bytes`
    case 'writeFile':
      await fillFile(ctx, step.server, step.file, step.offset, step.bytes, step.fill)
      return `${step.file}: ${step.bytes} bytes at ${step.offset}`
    case 'truncate':
      return layoutOp(ctx, step, 'fs.truncate', { name: step.file, size: step.size })
    case 'punch':
      return layoutOp(ctx, step, 'fs.punch', { name: step.file, offset: step.offset, length: step.length })
    case 'unlink':
      return layoutOp(ctx, step, 'fs.unlink', { name: step.file })
    case 'lease':
      await ctx.verbs(step.client).leaseFile(step.server, step.file)
      ctx.leases.push({ client: step.client, server: step.server, file: step.file })
      return `${step.client} holds the layout lease on ${step.file}`
    case 'unlease': {
      await ctx.verbs(step.client).unleaseFile(step.server, step.file)
      const k = ctx.leases.findIndex((l) => l.client === step.client && l.server === step.server && l.file === step.file)
      if (k >= 0) ctx.leases.splice(k, 1)
      return 'released'
    }
    case 'leaseMode':
      await ctx.verbs(step.client).setLeaseMode(step.mode)
      return step.mode
    case 'registerFile':
      return registerFile(ctx, step)
    case 'registerMemory': {
      const v = ctx.verbs(step.server)
      const pd = await ctx.serverPd(step.server)
      const mr = await v.regMr(pd, step.bytes, accessOf(step.access, step.odp))
      ctx.mrs.set(step.as, { server: step.server, mr, deregistered: false })
      for (let off = 0; off < step.bytes && step.fill !== 0; off += CHUNK) await v.write(mr.stag, off, new Uint8Array(Math.min(CHUNK, step.bytes - off)).fill(step.fill))
      return `${step.as}: ${step.bytes} bytes`
    }
    case 'deregister': {
      const m = ctx.mrs.get(step.mr)!
      return (await deregister(ctx, m)) ? 'deregistered' : m.mr ? 'already gone' : `nothing to deregister (${m.absent})`
    }
    case 'traffic':
      return step.checked ? startCheckedTraffic(ctx, step, i) : startTraffic(ctx, step)
    case 'wait': {
      const which = step.traffic !== undefined ? [ctx.traffic.get(step.traffic)].filter((x) => x !== undefined) : [...ctx.traffic.values()]
      await Promise.all(which.map((t) => t.done))
      return which.map((t) => trafficOutcome(t)).join('; ') || 'nothing running'
    }
    case 'stop': {
      const t = ctx.traffic.get(step.traffic)
      if (!t) return 'not running (skipped)'
      if (!t.settled) await ctx.verbs(t.client).stopWorkload(t.qpn)
      await t.done
      return trafficOutcome(t)
    }
    case 'sleep':
      await sleep(step.ms)
      return `${step.ms} ms`
    case 'faults':
      return setFaults(ctx, step)
    case 'verify':
      return verify(ctx, step)
  }
}

async function fillFile(ctx: RunContext, server: string, name: string, offset: number, bytes: number, fill: number): Promise<void> {
  for (let done = 0; done < bytes; done += CHUNK) {
    await ctx.req(server, 'fs.write', { name, offset: offset + done, data: new Uint8Array(Math.min(CHUNK, bytes - done)).fill(fill) })
  }
}

/** The server's EINTR reply needs this long to come back after the step's timeout interrupted the wait. */
const INTERRUPT_REPLY_MS = 2000

/**
 * A truncate / punch / unlink, timed; the policy's answer is the outcome. A
 * truncate or punch still waiting at the step's timeoutMs is interrupted on
 * the server (EINTR, nothing changed), as a signal interrupts the kernel's wait.
 */
async function layoutOp<K extends 'fs.truncate' | 'fs.punch' | 'fs.unlink'>(ctx: RunContext, step: StepOf<'truncate' | 'punch' | 'unlink'>, type: K, body: NodeBody<K>): Promise<string> {
  const t0 = performance.now()
  let result = 'ok'
  const interruptible = type !== 'fs.unlink'
  const sent = (interruptible ? { ...body, waitMs: step.timeoutMs } : body) as NodeBody<K>
  try {
    await ctx.req(step.server, type, sent, step.timeoutMs + (interruptible ? INTERRUPT_REPLY_MS : 0))
  } catch (err) {
    if (!(err instanceof EmuError)) throw err
    result = errnoOf(err)
  }
  const ms = performance.now() - t0
  ctx.measures.layoutOps.push({ op: step.do, file: step.file, result, ms })
  if (result === 'TIMEOUT') ctx.notes.push(`${step.do} of ${step.file} was still waiting after ${step.timeoutMs} ms`)
  if (result === 'EINTR') ctx.notes.push(`${step.do} of ${step.file} was still waiting after ${step.timeoutMs} ms: interrupted (EINTR), nothing changed`)
  return `${result} in ${round1(ms)} ms`
}

function accessOf(names: readonly AccessName[], odp: boolean): number {
  return names.reduce((a, n) => a | ACCESS[n], 0) | (odp ? Access.ON_DEMAND : 0)
}

async function registerFile(ctx: RunContext, step: StepOf<'registerFile'>): Promise<string> {
  const pd = await ctx.serverPd(step.server)
  const bytes = step.bytes ?? (await ctx.req(step.server, 'fs.stat', { name: step.file })).size - step.offset
  const client = ctx.verbs(step.client)
  // The mapping goes with every attempt (an ODP fallback too) and is kept for a registration again after a server restart.
  const reg = (odp: boolean) => client.regServerFile(step.server, { pd, file: step.file, offset: step.offset, length: bytes, access: accessOf(step.access, odp), mapping: step.mapping })
  const rec: MrRecord = { server: step.server, owner: step.client, deregistered: false, file: { name: step.file, offset: step.offset, access: accessOf(step.access, step.odp), mapping: step.mapping } }
  ctx.mrs.set(step.as, rec)
  let outcome: string
  try {
    rec.mr = await reg(step.odp)
    outcome = rec.mr.access & Access.ON_DEMAND ? (step.odp ? 'odp' : 'odp-by-policy') : 'pinned'
  } catch (err) {
    if (!(err instanceof EmuError) || !REFUSALS.has(err.code)) throw err
    outcome = `refused ${errnoOf(err)}`
    if (step.fallback === 'odp' && !step.odp) {
      rec.mr = await reg(true)
      outcome += ', odp'
    } else {
      rec.absent = outcome
    }
  }
  ctx.measures.registration ??= outcome
  return outcome
}

/** Deregister an MR the run made; false when it was gone already (given back after a lease break, revoked). */
async function deregister(ctx: RunContext, m: MrRecord): Promise<boolean> {
  if (!m.mr || m.deregistered) return false
  m.deregistered = true
  try {
    if (m.owner) await ctx.verbs(m.owner).deregServerMr(m.server, m.mr.stag)
    else await ctx.verbs(m.server).deregMr(m.mr.stag)
    return true
  } catch (err) {
    if (err instanceof EmuError && err.code === ErrorCodes.ENOENT) return false
    throw err
  }
}

async function startTraffic(ctx: RunContext, step: StepOf<'traffic'>): Promise<string> {
  const m = ctx.mrs.get(step.mr)!
  if (!m.mr || m.deregistered) {
    const why = m.absent ?? 'deregistered'
    ctx.notes.push(`traffic ${step.id} skipped: MR ${step.mr} is not registered (${why})`)
    return `skipped (MR ${step.mr}: ${why})`
  }
  const mr = m.mr
  const span = step.span ?? mr.length - step.offset
  if (step.offset + Math.max(span, step.size) > mr.length) {
    throw new EmuError(ErrorCodes.BAD_ARGUMENT, `traffic ${step.id}: offset ${step.offset} + span ${span} is past the end of MR ${step.mr} (${mr.length} bytes)`)
  }
  await ctx.serverPd(m.server)
  const client = ctx.verbs(step.client)
  const { qpn } = await client.connect(m.server, SCENARIO_PORT, step.qp ? { options: step.qp } : {})
  ctx.conns.push({ client: step.client, qpn })
  const count = step.count ?? DURATION_MAX_OPS
  const spec: WorkloadSpec = {
    opcode: step.op === 'write' ? WrOpcode.RDMA_WRITE : WrOpcode.RDMA_READ,
    count, window: step.window, size: step.size, remoteAddr: mr.iova + step.offset, rkey: mr.stag, span,
    ...(step.durationMs !== undefined ? { durationMs: step.durationMs } : {}),
  }
  const before = await packetsIn(ctx, m.server)
  const rec: TrafficRecord = { id: step.id, client: step.client, qpn, op: step.op, size: step.size, done: Promise.resolve(), settled: false }
  return followTraffic(ctx, rec, client.workload(qpn, Math.min(step.window, count) * step.size, spec, WORKLOAD_MARGIN_MS + (step.durationMs ?? 0)), {
    background: step.background, server: m.server, before, running: `running on QP ${qpn} of ${step.client}`,
  })
}

/** Fold a node's current fault counters into the run's before they are replaced. */
async function takeFaultCounters(ctx: RunContext, node: string): Promise<void> {
  const c = await ctx.req(node, 'rdma.faultCounters')
  if (!c) return
  const f = ctx.measures.faults
  f.seen += c.seen
  f.dropped += c.dropped
  f.duplicated += c.duplicated
  f.reordered += c.reordered
}

async function setFaults(ctx: RunContext, step: StepOf<'faults'>): Promise<string> {
  const nodes = step.nodes ?? ctx.nodes
  const off = step.drop === 0 && step.duplicate === 0 && step.reorder === 0
  for (const [i, node] of nodes.entries()) {
    await takeFaultCounters(ctx, node)
    await ctx.req(node, 'rdma.faults', off ? null : { drop: step.drop, duplicate: step.duplicate, reorder: step.reorder, seed: step.seed + i })
  }
  return off ? `off on ${nodes.join(', ')}` : `drop ${step.drop}, duplicate ${step.duplicate}, reorder ${step.reorder} on ${nodes.join(', ')}`
}

async function verify(ctx: RunContext, step: StepOf<'verify'>): Promise<string> {
  let read: (off: number, len: number) => Promise<Uint8Array>
  let size: number
  let what: string
  const file = step.file
  if (file !== undefined) {
    size = (await ctx.req(step.server, 'fs.stat', { name: file })).size
    read = async (off, len) => new Uint8Array(await ctx.req(step.server, 'fs.read', { name: file, offset: off, length: len }))
    what = file
  } else {
    const m = ctx.mrs.get(step.mr!)!
    if (!m.mr || m.deregistered) {
      ctx.notes.push(`verify of MR ${step.mr} skipped: not registered`)
      return 'skipped (MR not registered)'
    }
    const { stag, length } = m.mr
    size = length
    read = (off, len) => ctx.verbs(m.server).read(stag, off, len)
    what = `MR ${step.mr}`
  }
  const end = Math.min(size, step.offset + (step.length ?? size))
  let mismatch = 0
  for (let off = step.offset; off < end; off += CHUNK) {
    const got = await read(off, Math.min(CHUNK, end - off))
    for (const b of got) if (b !== step.fill) mismatch++
  }
  ctx.measures.mismatchBytes += mismatch
  ctx.measures.verified = true
  return `${what}: ${mismatch} of ${Math.max(0, end - step.offset)} bytes differ from 0x${step.fill.toString(16).padStart(2, '0')}`
}

/**
 * Undo what the steps left: stop running traffic, disconnect the QPs,
 * deregister the MRs, give back the leases, so the end-of-run counters show
 * whether every pin was released. Returns the problems met on the way.
 */
export async function cleanUp(ctx: RunContext): Promise<string[]> {
  const problems: string[] = []
  const attempt = async (what: string, fn: () => Promise<unknown>): Promise<void> => {
    try {
      await fn()
    } catch (err) {
      problems.push(`clean-up: ${what}: ${err instanceof Error ? err.message : String(err)}`)
    }
  }
  const down = ctx.faults.down
  for (const t of ctx.traffic.values()) {
    if (!t.settled && !down.has(t.client)) await attempt(`stop traffic ${t.id}`, () => ctx.verbs(t.client).stopWorkload(t.qpn))
    await t.done
    if (t.error && !t.reported) {
      // A stream whose client the run killed ends with it: its history went with the process.
      if (ctx.faults.killed.has(t.client) || down.has(t.client)) ctx.notes.push(`traffic ${t.id}: ended with its client ${t.client} (${errnoOf(t.error)}); its operations were not recorded`)
      else problems.push(`traffic ${t.id}: ${errnoOf(t.error)}: ${t.error instanceof Error ? t.error.message : ''}`)
    }
  }
  for (const c of ctx.conns.splice(0)) {
    if (down.has(c.client)) continue
    try {
      await ctx.verbs(c.client).disconnect(c.qpn)
    } catch {
      // A QP already torn down (revocation, peer gone) has nothing to disconnect.
    }
  }
  // An MR on a server that was killed, or of an owner that was, went with the process.
  for (const [name, m] of ctx.mrs) if (!m.lost && !down.has(m.server)) await attempt(`deregister ${name}`, () => deregister(ctx, m))
  for (const l of ctx.leases.splice(0)) {
    try {
      await ctx.verbs(l.client).unleaseFile(l.server, l.file)
    } catch {
      // Given back already (a complied break) or revoked.
    }
  }
  for (const node of ctx.nodes) if (!down.has(node)) await attempt(`fault counters of ${node}`, () => takeFaultCounters(ctx, node))
  return problems
}
