/**
 * The fault steps at run time: each starts a fault, records it in the run's
 * fault log, and keeps what undoes it (heal, its durationMs, or the end of
 * the run), as Chaos Mesh runs faults with a duration on a schedule.
 *
 * - netem, partition and dropMessages become fabric rules (fabric/netem.ts)
 *   on the sending nodes: `fabric.faults.add` to each, `fabric.faults.remove`
 *   to end them. A partition is two one-way rules (or one), on each side.
 * - kill, pause, resume, restart and stopNode act on the node's process
 *   through the launcher (src/launcher/launch-cluster.ts).
 * - storageFault sets `fs.faults` on the server (the union of the storage
 *   faults on, so overlapping ones end one by one).
 *
 * Seeds: a fault without its own seed gets one derived from the run's seed
 * and its step index, so `--seed` changes every fault and the same seed
 * gives the same faults.
 */
import type { NodeBody, NodeReply } from '../../fabric/node-messages.ts'
import { EmuError, ErrorCodes } from '../errors.ts'
import { deriveSeed, REPRODUCIBLE_DECISIONS, type ActiveFault } from './fault-book.ts'
import type { RunContext } from './run-context.ts'

export { deriveSeed, FaultBook, REPRODUCIBLE_DECISIONS, type FaultLogEntry } from './fault-book.ts'
import type { StepOf } from './types.ts'

type FaultStep = StepOf<'netem' | 'partition' | 'dropMessages' | 'heal' | 'kill' | 'pause' | 'resume' | 'restart' | 'stopNode' | 'storageFault'>

/** Run one fault step (steps[i], planned at `plannedMs` or in turn). */
export async function runFaultStep(ctx: RunContext, step: FaultStep, i: number, plannedMs: number | undefined): Promise<string> {
  const book = ctx.faults
  const start = async (f: ActiveFault, seed: number | undefined, spec: unknown, durationMs: number | undefined): Promise<void> => {
    book.active.set(f.id, f)
    book.log.push({ fault: f.id, kind: f.kind, action: 'start', step: i, ...(plannedMs !== undefined ? { plannedMs } : {}), atMs: Math.round(ctx.elapsed()), targets: f.targets, ...(seed !== undefined ? { seed } : {}), ...(spec !== undefined ? { spec } : {}) })
    ctx.events.push({ atUs: ctx.elapsedUs(), kind: 'fault', label: `${f.kind} ${f.id} on` })
    if (durationMs !== undefined) {
      ctx.schedule.later(durationMs, () => endFault(ctx, f.id, plannedMs !== undefined ? plannedMs + durationMs : undefined))
    }
  }
  switch (step.do) {
    case 'netem': {
      const seed = step.seed ?? deriveSeed(ctx.seed, i)
      const { do: _d, id, from, to, durationMs, when: _w, note: _n, at: _a, seed: _s, ...spec } = step
      const senders = from ?? [...ctx.nodes]
      const rule = { id, seed, ...(from ? { from } : {}), ...(to ? { to } : {}), ...spec }
      for (const n of senders) await ctx.req(n, 'fabric.faults.add', { rule })
      await start({ id, kind: 'netem', step: i, targets: senders, end: () => removeRule(ctx, senders, id) }, seed, spec, durationMs)
      return `${describeNetem(spec)} from ${from?.join(',') ?? 'every node'} to ${to?.join(',') ?? 'every node'}`
    }
    case 'partition': {
      // isolate: the node on one side, every other node of the run on the other.
      const [a, b] = step.between ?? [[step.isolate!], ctx.nodes.filter((n) => n !== step.isolate)]
      const seed = deriveSeed(ctx.seed, i)
      for (const n of a) await ctx.req(n, 'fabric.faults.add', { rule: { id: step.id, seed, from: a, to: b, partition: true } })
      if (!step.oneWay) for (const n of b) await ctx.req(n, 'fabric.faults.add', { rule: { id: step.id, seed, from: b, to: a, partition: true } })
      const targets = step.oneWay ? a : [...a, ...b]
      await start({ id: step.id, kind: 'partition', step: i, targets, end: () => removeRule(ctx, targets, step.id) }, undefined, { between: [a, b], oneWay: step.oneWay }, step.durationMs)
      return `${a.join(',')} ${step.oneWay ? '->' : '<->'} ${b.join(',')} cut`
    }
    case 'dropMessages': {
      const seed = step.seed ?? deriveSeed(ctx.seed, i)
      const senders = step.from ?? [...ctx.nodes]
      const control = { messages: step.messages, ...(step.delayMs !== undefined ? { delayMs: step.delayMs } : { drop: step.probability }) }
      const rule = { id: step.id, seed, ...(step.from ? { from: step.from } : {}), ...(step.to ? { to: step.to } : {}), control }
      for (const n of senders) await ctx.req(n, 'fabric.faults.add', { rule })
      await start({ id: step.id, kind: 'dropMessages', step: i, targets: senders, end: () => removeRule(ctx, senders, step.id) }, seed, control, step.durationMs)
      return `${step.messages.join(', ')} ${step.delayMs !== undefined ? `delayed ${step.delayMs} ms` : `dropped (p ${step.probability})`}`
    }
    case 'heal': {
      const ids = step.fault !== undefined ? [step.fault] : [...book.active.keys()].reverse()
      const ended: string[] = []
      for (const id of ids) if (await endFault(ctx, id, plannedMs)) ended.push(id)
      return ended.length ? `ended ${ended.join(', ')}` : 'nothing to end'
    }
    case 'kill': {
      await cluster(ctx).killNode(step.node)
      nodeGone(ctx, step.node, true)
      book.log.push({ fault: `kill-${i}`, kind: 'kill', action: 'start', step: i, ...(plannedMs !== undefined ? { plannedMs } : {}), atMs: Math.round(ctx.elapsed()), targets: [step.node] })
      ctx.events.push({ atUs: ctx.elapsedUs(), kind: 'kill', label: `kill -9 ${step.node}` })
      return `${step.node} killed (SIGKILL)`
    }
    case 'stopNode': {
      await cluster(ctx).stopNode(step.node)
      nodeGone(ctx, step.node, false)
      book.log.push({ fault: `stop-${i}`, kind: 'stopNode', action: 'start', step: i, ...(plannedMs !== undefined ? { plannedMs } : {}), atMs: Math.round(ctx.elapsed()), targets: [step.node] })
      ctx.events.push({ atUs: ctx.elapsedUs(), kind: 'stop', label: `stop ${step.node}` })
      return `${step.node} stopped`
    }
    case 'restart': {
      const t0 = ctx.elapsed()
      await cluster(ctx).restartNode(step.node)
      book.down.delete(step.node)
      ctx.nodeRestarted(step.node)
      book.log.push({ fault: `restart-${i}`, kind: 'restart', action: 'start', step: i, ...(plannedMs !== undefined ? { plannedMs } : {}), atMs: Math.round(t0), targets: [step.node] })
      ctx.events.push({ atUs: ctx.elapsedUs(), kind: 'restart', label: `${step.node} restarted` })
      return `${step.node} back in ${Math.round(ctx.elapsed() - t0)} ms`
    }
    case 'pause': {
      const c = cluster(ctx)
      c.pauseNode(step.node)
      await start({ id: step.id, kind: 'pause', step: i, targets: [step.node], end: async () => c.resumeNode(step.node) }, undefined, undefined, step.durationMs)
      return `${step.node} paused (SIGSTOP)`
    }
    case 'resume': {
      const paused = [...book.active.values()].filter((f) => f.kind === 'pause' && f.targets[0] === step.node)
      for (const f of paused) await endFault(ctx, f.id, plannedMs)
      if (paused.length === 0) cluster(ctx).resumeNode(step.node)
      return `${step.node} resumed (SIGCONT)`
    }
    case 'storageFault': {
      const { server, id } = step
      const on = book.storage.get(server) ?? book.storage.set(server, new Map()).get(server)!
      on.set(id, { ...(step.fsync ? { fsync: step.fsync } : {}), ...(step.flush ? { flush: step.flush } : {}), ...(step.enospc ? { enospc: true } : {}) })
      await setStorage(ctx, server)
      const end = async (): Promise<void> => {
        on.delete(id)
        if (!book.down.has(server)) await setStorage(ctx, server)
      }
      await start({ id, kind: 'storage', step: i, targets: [server] , end }, undefined, on.get(id), step.durationMs)
      return `${[step.fsync && 'fsync EIO', step.flush && 'FLUSH EIO', step.enospc && 'ENOSPC'].filter(Boolean).join(', ')} on ${server}`
    }
  }
}

/** End fault `id` if it is on (heal, its duration, the end of the run). */
export async function endFault(ctx: RunContext, id: string, plannedMs?: number): Promise<boolean> {
  const f = ctx.faults.active.get(id)
  if (!f) return false
  ctx.faults.active.delete(id)
  await f.end()
  ctx.faults.log.push({ fault: id, kind: f.kind, action: 'end', step: f.step, ...(plannedMs !== undefined ? { plannedMs } : {}), atMs: Math.round(ctx.elapsed()), targets: f.targets })
  ctx.events.push({ atUs: ctx.elapsedUs(), kind: 'fault', label: `${f.kind} ${id} off` })
  return true
}

/** End every fault still on (the end of the run, before clean-up). */
export async function endAllFaults(ctx: RunContext): Promise<string[]> {
  const problems: string[] = []
  for (const id of [...ctx.faults.active.keys()].reverse()) {
    try {
      await endFault(ctx, id)
    } catch (err) {
      problems.push(`ending fault ${id}: ${(err as Error).message}`)
    }
  }
  return problems
}

async function removeRule(ctx: RunContext, nodes: readonly string[], id: string): Promise<void> {
  for (const n of nodes) {
    if (ctx.faults.down.has(n)) continue
    try {
      await ctx.req(n, 'fabric.faults.remove', { id })
    } catch (err) {
      // A node restarted since has no rules left.
      if (!(err instanceof EmuError && err.code === ErrorCodes.ENOENT)) throw err
    }
  }
}

async function setStorage(ctx: RunContext, server: string): Promise<void> {
  const on = [...(ctx.faults.storage.get(server)?.values() ?? [])]
  const union = on.reduce<NodeBody<'fs.faults'> & object>((u, f) => ({ ...u, ...f }), {})
  await ctx.req(server, 'fs.faults', on.length ? union : null)
}

function nodeGone(ctx: RunContext, node: string, killed: boolean): void {
  ctx.faults.down.add(node)
  if (killed) ctx.faults.killed.add(node)
  if (ctx.roleOf(node) === 'server') ctx.faults.restarts.push({ server: node, atUs: ctx.elapsedUs() })
  ctx.nodeGone(node)
}

function cluster(ctx: RunContext): NonNullable<RunContext['cluster']> {
  if (!ctx.cluster) throw new EmuError(ErrorCodes.BAD_ARGUMENT, 'node faults need the cluster the run launched')
  return ctx.cluster
}

function describeNetem(spec: Record<string, unknown>): string {
  return Object.entries(spec).map(([k, v]) => `${k} ${JSON.stringify(v)}`).join(', ')
}

/** What one node's fault rules did, read at the end of the run (fabric.faults.counters). */
export interface NodeFaultReport {
  node: string
  report: NodeReply<'fabric.faults.counters'>
}

/** Every up node's fault-rule counters and decision logs, and the fabric totals over them. */
export async function collectFaultReports(ctx: RunContext): Promise<NodeFaultReport[]> {
  const out: NodeFaultReport[] = []
  for (const node of ctx.nodes) {
    if (ctx.faults.down.has(node)) continue
    out.push({ node, report: await ctx.req(node, 'fabric.faults.counters') })
  }
  return out
}

/** Sums over every rule and link: packets lost, corrupted ... and the receivers' ICRC drops. */
export function faultTotals(reports: readonly NodeFaultReport[]): Record<'seen' | 'lost' | 'partitioned' | 'duplicated' | 'reordered' | 'corrupted' | 'delayed' | 'controlDropped' | 'controlDelayed' | 'icrcErrors', number> {
  const t = { seen: 0, lost: 0, partitioned: 0, duplicated: 0, reordered: 0, corrupted: 0, delayed: 0, controlDropped: 0, controlDelayed: 0, icrcErrors: 0 }
  for (const { report } of reports) {
    t.icrcErrors += report.icrcErrors
    for (const r of report.rules) {
      for (const l of r.links) {
        for (const k of ['seen', 'lost', 'partitioned', 'duplicated', 'reordered', 'corrupted', 'delayed', 'controlDropped', 'controlDelayed'] as const) t[k] += l.counters[k]
      }
    }
  }
  return t
}

/**
 * The fault log as the same seed must reproduce it: the faults in the
 * order the scenario started and ended them, their targets, seeds and
 * specs, with planned (not measured) times; and each (rule, link)'s first
 * decisions, which depend only on the rule's seed and the link.
 */
export function reproducibleLog(ctx: RunContext, reports: readonly NodeFaultReport[]): unknown {
  const schedule = ctx.faults.log.map(({ atMs: _measured, ...e }) => e)
  // Links that carried fewer packets than the prefix would differ in length from run to run: left out.
  const links = reports.flatMap(({ node, report }) => report.rules.flatMap((r) => r.links
    .filter((l) => l.decisions.length >= REPRODUCIBLE_DECISIONS)
    .map((l) => ({ node, rule: r.id, from: l.from, to: l.to, decisions: l.decisions.slice(0, REPRODUCIBLE_DECISIONS) }))))
  links.sort((a, b) => `${a.node} ${a.rule} ${a.from} ${a.to}`.localeCompare(`${b.node} ${b.rule} ${b.from} ${b.to}`))
  return { seed: ctx.seed, schedule, links }
}
