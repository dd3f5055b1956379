/**
 * Run a scenario: once per policy, each run on a cluster of its own launched
 * from the configuration with that policy on every server (and the
 * scenario's overrides), written into <runDir>/<policy>/ and torn down
 * afterwards. The steps run in order; then the run undoes what they set up
 * (traffic, QPs, MRs, leases), reads every node's counters, and checks the
 * invariants that hold under any policy (every pin released). The
 * expectations are checked against each run's metrics.
 *
 * Attached (run --attach, run-attached.ts): the one run is on the running
 * cluster given, which is left running; its node faults were refused before.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { serializeConfig, type ClusterConfig, type Policy } from '../config/defaults.ts'
import { parseConfig } from '../config/load-config.ts'
import { EmuError, ErrorCodes } from '../errors.ts'
import { Params } from '../params.ts'
import type { MemStatsReply } from '../../fabric/node-message-types.ts'
import type { ControlPlane } from '../../fabric/control-plane.ts'
import type { AttachedCluster } from '../launcher/attach-cluster.ts'
import type { Cluster } from '../launcher/launch-cluster.ts'
import { checkExpectations, computeMetrics, fabricMetrics, victimsOf, type ExpectationResult, type Metrics, type NodeReadings, type TrafficReport } from './metrics.ts'
import { cleanUp, RunContext, runStep, type TimelineEntry } from './steps.ts'
import { collectFaultReports, endAllFaults, faultTotals, type FaultLogEntry, type NodeFaultReport } from './fault-steps.ts'
import { checkRun, probeNodes, readFinalMemories, writeRunFiles, type CheckResult, type FinalMemories } from './run-checks.ts'
import type { NodeLiveness } from '../check/index.ts'
import type { Scenario, Step } from './types.ts'

export interface RunOptions {
  /** The configuration the runs start from (-c), defaults filled. */
  config: ClusterConfig
  /** Where the runs go: <runDir>/<policy>/ each, and results.json. */
  runDir: string
  /** Only these of the scenario's policies. */
  policies?: Policy[]
  /** Replace every traffic step's durationMs (the tour's short run). */
  trafficMs?: number
  readyTimeoutMs?: number
  signal?: AbortSignal
  /** The run's seed (--seed): replaces the scenario's. */
  seed?: number
  /** Write each policy run's report into <reportDir>/<policy>/ (default: the policy's run directory). */
  reportDir?: string
  /** Capture every data-plane packet of each run to this pcap file (the policy's name is added when there are several). */
  pcap?: string
  /**
   * Run on this running cluster (run --attach, src/scenario/run-attached.ts)
   * instead of launching one per policy: it is left running.
   */
  attached?: AttachedCluster
  /** Told when a run starts and ends (progress lines). */
  onRun?: (event: { policy: Policy; index: number; of: number; done?: PolicyRun }) => void
}

export interface PolicyRun {
  policy: Policy
  runDir: string
  metrics: Metrics
  victims: Array<{ file: string; bytes: number }>
  traffic: TrafficReport[]
  layoutOps: Array<{ op: string; file: string; result: string; ms: number }>
  timeline: TimelineEntry[]
  notes: string[]
  /** Invariants that broke, steps that failed, nodes that died: the run's problems (exit 1). */
  problems: string[]
  /** The checkers' verdicts over the run's history and final state. */
  checks: CheckResult[]
  /** Every fault started and ended. */
  faultLog: FaultLogEntry[]
  expectations: ExpectationResult[]
}

export interface ScenarioResult {
  scenario: string
  file: string
  runDir: string
  runs: PolicyRun[]
  /** Every expectation held and no run had a problem. */
  ok: boolean
}

/** The results as JSON (the checkers' bigints as hex strings). */
export function resultsJson(result: ScenarioResult): string {
  return JSON.stringify(result, (_k, v: unknown) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v), 2)
}

/** The configuration of one run: `policy` and the overrides on every server, only the nodes the scenario names. */
export function runConfig(base: ClusterConfig, sc: Scenario, policy: Policy): ClusterConfig {
  const o = sc.cluster
  const nodes = sc.nodes.length > 0 ? base.nodes.filter((n) => sc.nodes.includes(n.id)) : base.nodes
  const raw = JSON.parse(serializeConfig({
    ...base,
    ...(o.timeScale !== undefined ? { timeScale: o.timeScale } : {}),
    ...(o.logLevel !== undefined ? { logLevel: o.logLevel } : {}),
    fabric: { ...base.fabric, ...o.fabric },
    nodes: nodes.map((n) => (n.role === 'server' ? { ...n, server: { ...n.server, ...o.server, policy } } : n)),
  }))
  // The overrides passed the schema one by one; together with the configuration they must still make sense.
  try {
    return parseConfig(raw, `${sc.name} (${policy})`)
  } catch (err) {
    const problems = ((err as EmuError).details as { problems?: string[] } | undefined)?.problems ?? [(err as Error).message]
    throw new EmuError(ErrorCodes.SCENARIO_INVALID, problems.map((p) => `cluster: ${p}`).join('\n'), { file: sc.file, problems: problems.map((p) => `cluster: ${p}`) })
  }
}

export async function runScenario(sc: Scenario, o: RunOptions): Promise<ScenarioResult> {
  const policies = o.policies ?? sc.policies
  // Every run's configuration first: a bad combination is bad input before anything starts.
  const configs = policies.map((p) => runConfig(o.config, sc, p))
  const runs: PolicyRun[] = []
  for (const [i, policy] of policies.entries()) {
    if (o.signal?.aborted) throw new EmuError(ErrorCodes.NODE_FAILED, 'run interrupted')
    o.onRun?.({ policy, index: i, of: policies.length })
    const run = await runPolicy(sc, policy, configs[i]!, o)
    runs.push(run)
    o.onRun?.({ policy, index: i, of: policies.length, done: run })
  }
  const result: ScenarioResult = {
    scenario: sc.name, file: sc.file, runDir: o.runDir, runs,
    ok: runs.every((r) => r.problems.length === 0 && r.expectations.every((e) => e.held) && r.checks.every((c) => c.ok)),
  }
  writeFileSync(join(o.runDir, 'results.json'), resultsJson(result) + '\n')
  return result
}

/** The cluster one policy run uses: launched for it, or the attached one (left running). */
interface RunCluster {
  control: ControlPlane
  nodes: string[]
  /** The launched cluster (node faults act through it). */
  launched?: Cluster
  /** `fail` is called once a node of the cluster fails. */
  onFailed(fail: (message: string) => void): void
  stop(): Promise<void>
}

async function openCluster(sc: Scenario, policy: Policy, config: ClusterConfig, runDir: string, o: RunOptions): Promise<RunCluster> {
  if (o.attached) {
    const a = o.attached
    mkdirSync(runDir, { recursive: true })
    return { control: a.control, nodes: config.nodes.map((n) => n.id), onFailed: (fail) => void a.failed.catch((err: Error) => fail(err.message)), stop: async () => {} }
  }
  const { launchCluster } = await import('../launcher/launch-cluster.ts')
  const { describeExit } = await import('../launcher/node-process.ts')
  const pcap = o.pcap === undefined ? undefined : (o.policies ?? sc.policies).length > 1 ? o.pcap.replace(/(\.pcap)?$/, `-${policy}.pcap`) : o.pcap
  const cluster: Cluster = await launchCluster({ config, runDir, readyTimeoutMs: o.readyTimeoutMs, signal: o.signal, ...(pcap ? { pcap } : {}) })
  return {
    control: cluster.control, nodes: cluster.nodes.map((n) => n.id), launched: cluster,
    onFailed: (fail) => void cluster.on('failed', (e) => fail(`node ${e.id} failed during the run (${describeExit(e)})`)),
    stop: () => cluster.stop(),
  }
}

async function runPolicy(sc: Scenario, policy: Policy, config: ClusterConfig, o: RunOptions): Promise<PolicyRun> {
  const runDir = join(o.runDir, policy)
  const cluster = await openCluster(sc, policy, config, runDir, o)
  const problems: string[] = []
  // A node that dies, or an interrupt, ends the run at the next await.
  let isBroken = false
  let onAbort: (() => void) | undefined
  const broken = new Promise<never>((_, reject) => {
    const fail = (msg: string): void => {
      isBroken = true
      reject(new EmuError(ErrorCodes.NODE_FAILED, msg))
    }
    cluster.onFailed(fail)
    onAbort = () => fail('run interrupted')
    if (o.signal?.aborted) onAbort()
    o.signal?.addEventListener('abort', onAbort, { once: true })
  })
  broken.catch(() => {})
  const guarded = <T>(p: Promise<T>): Promise<T> => Promise.race([p, broken])
  const roles = new Map(config.nodes.map((n) => [n.id, n.role]))
  const ctx = new RunContext(cluster.control, policy, cluster.nodes, { seed: o.seed ?? sc.seed, ...(cluster.launched ? { cluster: cluster.launched } : {}), roles })
  let readings: NodeReadings | undefined
  let finals: FinalMemories = new Map()
  let faultReports: NodeFaultReport[] = []
  let liveness: NodeLiveness[] = []
  const runOne = async (i: number, step: Step, plannedMs?: number): Promise<void> => {
    const atMs = ctx.elapsed()
    const s = step.do === 'traffic' && o.trafficMs !== undefined && step.durationMs !== undefined ? { ...step, durationMs: o.trafficMs } : step
    let outcome: string
    try {
      outcome = await guarded(runStep(ctx, s, i, plannedMs))
    } catch (err) {
      ctx.timeline.push({ step: i, do: step.do, atMs: Math.round(atMs), tookMs: Math.round(ctx.elapsed() - atMs), outcome: `failed: ${(err as Error).message}` })
      throw new EmuError((err as EmuError).code ?? ErrorCodes.INTERNAL, `steps[${i}] (${step.do}): ${(err as Error).message}`)
    }
    ctx.timeline.push({ step: i, do: step.do, atMs: Math.round(atMs), tookMs: Math.round(ctx.elapsed() - atMs), outcome })
  }
  try {
    for (const [i, step] of sc.steps.entries()) {
      if (step.when && !step.when.includes(policy)) {
        ctx.timeline.push({ step: i, do: step.do, atMs: Math.round(ctx.elapsed()), tookMs: 0, outcome: `skipped (only under ${step.when.join(', ')})` })
        continue
      }
      // A step with `at` runs at its time, beside the steps in order.
      if (step.at !== undefined) ctx.schedule.at(step.at, `steps[${i}] (${step.do})`, () => runOne(i, step, step.at))
      else await runOne(i, step)
    }
    await guarded(ctx.schedule.settle())
    problems.push(...ctx.schedule.problems)
    ctx.measures.elapsedMs = ctx.elapsed()
  } catch (err) {
    ctx.measures.elapsedMs = ctx.elapsed()
    problems.push((err as Error).message)
  }
  ctx.schedule.cancel()
  ctx.timeline.sort((a, b) => a.atMs - b.atMs || a.step - b.step)
  try {
    if (!isBroken) {
      problems.push(...(await guarded(endAllFaults(ctx))))
      await guarded(ctx.schedule.settle())
      faultReports = await guarded(collectFaultReports(ctx))
      liveness = await guarded(probeNodes(ctx))
      finals = await guarded(readFinalMemories(ctx))
      problems.push(...(await guarded(cleanUp(ctx))))
      readings = await guarded(readNodes(cluster.control, config, ctx.faults.down))
    }
  } catch (err) {
    problems.push(`end of run: ${(err as Error).message}`)
  } finally {
    if (onAbort) o.signal?.removeEventListener('abort', onAbort)
    await cluster.stop()
  }
  const totals = faultTotals(faultReports)
  const metrics = readings ? { ...computeMetrics(ctx.measures, readings), ...fabricMetrics(totals) } : {}
  if (readings && metrics.pinsHeld !== 0) problems.push(`pins do not balance: ${metrics.pinsAcquired} acquired, ${metrics.pinsReleased} released after every MR was deregistered`)
  const checks = readings ? checkRun(ctx, sc, policy, finals, readings, metrics, liveness, totals) : []
  try {
    try {
    await writeRunFiles(o.reportDir ? join(o.reportDir, policy) : runDir, sc, policy, ctx, checks, faultReports, readings)
  } catch (err) {
    problems.push(`writing the run's report: ${(err as Error).message}`)
  }
  } catch (err) {
    problems.push(`writing the run's report: ${(err as Error).message}`)
  }
  return {
    policy, runDir, metrics, checks, faultLog: ctx.faults.log,
    victims: readings ? victimsOf(readings) : [],
    traffic: ctx.measures.traffic,
    layoutOps: ctx.measures.layoutOps.map((x) => ({ ...x, ms: Math.round(x.ms * 10) / 10 })),
    timeline: ctx.timeline, notes: ctx.notes, problems,
    expectations: checkExpectations(sc.expect, policy, metrics),
  }
}

/** Every node's counters at the end of a run (nodes a step took down are not asked). */
async function readNodes(c: ControlPlane, config: ClusterConfig, down: ReadonlySet<string>): Promise<NodeReadings> {
  const servers: MemStatsReply[] = []
  const counters: Array<Record<string, number>> = []
  const leaseStatus: NodeReadings['leaseStatus'] = []
  const serverQps: NodeReadings['serverQps'] = []
  for (const n of config.nodes) {
    if (down.has(n.id)) continue
    counters.push(await c.request(n.id, 'verbs.counters'))
    if (n.role === 'server') {
      servers.push(await c.request(n.id, 'mem.stats'))
      // A disconnect sent while the peer could not be reached is resent by the CM (every cmDreqTimeoutMs): give it two rounds to land.
      let qps = (await c.request(n.id, 'verbs.qps')).length
      for (const until = Date.now() + 2 * Params.cmDreqTimeoutMs + 500; qps > 0 && Date.now() < until;) {
        await new Promise((r) => setTimeout(r, 100))
        qps = (await c.request(n.id, 'verbs.qps')).length
      }
      serverQps.push({ server: n.id, qps })
    } else leaseStatus.push(await c.request(n.id, 'verbs.lease.status'))
  }
  return { servers, counters, leaseStatus, serverQps }
}
