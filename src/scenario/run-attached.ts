/**
 * `rdma-emu run SCENARIO --attach`: a scenario on a cluster that is already
 * running (`up`, or nodes started one by one with `rdma-emu node`, maybe on
 * several machines), joined as a client host (src/launcher/attach-cluster.ts).
 *
 * What cannot be done from there is refused before anything runs:
 * - node faults act on a node's local process (kill -9, SIGSTOP/SIGCONT, a
 *   restart with the same data directory, a graceful stop). Only a launcher
 *   holds those processes; no agent runs beside the nodes of an attached
 *   cluster, so the scenario's kill, pause, resume, restart and stopNode
 *   steps are refused (EmuError ATTACH_NODE_FAULT, exit 2), each named;
 * - the running servers' policy is the one the run is under: it must be one
 *   of the scenario's policies (and of --policy, when given).
 * The scenario's cluster overrides (timers, server settings) cannot change a
 * running cluster: each one is a warning, and the run uses what runs.
 */
import type { ControlPlane } from '../../fabric/control-plane.ts'
import { applyDefaults, type ClusterConfig, type Policy } from '../config/defaults.ts'
import { EmuError, ErrorCodes } from '../errors.ts'
import type { ClusterFile } from '../launcher/attach-cluster.ts'
import type { Scenario } from './types.ts'

/** The step kinds that need the node's local process. */
export const LOCAL_PROCESS_STEPS: readonly string[] = ['kill', 'pause', 'resume', 'restart', 'stopNode']

/** Refuse a scenario whose steps need a node's local process (see the file comment). */
export function refuseNodeFaults(sc: Scenario, option = '--attach'): void {
  const steps = sc.steps.flatMap((s, i) => (LOCAL_PROCESS_STEPS.includes(s.do) ? [`steps[${i}] (${s.do} ${(s as { node: string }).node})`] : []))
  if (steps.length === 0) return
  throw new EmuError(ErrorCodes.ATTACH_NODE_FAULT,
    `${option}: scenario ${sc.name}: ${steps.join(', ')}: node faults need the node's own process, which only the launcher of a cluster holds; ` +
    'an attached cluster has no agent beside its nodes to kill, pause or restart them. Run the scenario without --attach (it launches its own cluster), or drop these steps.',
    { steps })
}

/** The attached cluster as a configuration: the nodes of its run file, with the settings its run directory recorded. */
export function attachedRunConfig(file: ClusterFile, recorded: ClusterConfig): ClusterConfig {
  const fallback = applyDefaults({ nodes: file.nodes.map(({ id, role }) => ({ id, role })) })
  return { ...recorded, nodes: file.nodes.map((fn, i) => recorded.nodes.find((n) => n.id === fn.id) ?? fallback.nodes[i]!) }
}

/** The scenario's overrides that a running cluster does not take, as warnings. */
export function overrideWarnings(sc: Scenario): string[] {
  const o = sc.cluster
  const named = [
    ...(o.timeScale !== undefined ? [`timeScale ${o.timeScale}`] : []),
    ...(o.logLevel !== undefined ? [`logLevel ${o.logLevel}`] : []),
    ...Object.entries(o.fabric ?? {}).map(([k, v]) => `fabric.${k} ${JSON.stringify(v)}`),
    ...Object.entries(o.server ?? {}).map(([k, v]) => `server.${k} ${JSON.stringify(v)}`),
  ]
  return named.map((s) => `--attach: the scenario's cluster.${s} is not applied: the attached cluster runs with the settings it was started with`)
}

/**
 * The policy the attached run is under: the running servers' (asked over the
 * control plane). Throws BAD_ARGUMENT when the servers disagree, or when the
 * scenario (or --policy) does not list it.
 */
export async function attachedPolicy(control: ControlPlane, config: ClusterConfig, sc: Scenario, wanted: Policy[] | undefined): Promise<Policy> {
  const servers = config.nodes.filter((n) => n.role === 'server' && (sc.nodes.length === 0 || sc.nodes.includes(n.id)))
  const seen = new Map<Policy, string[]>()
  for (const s of servers) {
    const { name } = (await control.request(s.id, 'mem.stats')).policy
    seen.set(name, [...(seen.get(name) ?? []), s.id])
  }
  if (seen.size > 1) {
    throw new EmuError(ErrorCodes.BAD_ARGUMENT, `--attach: the attached servers run different policies (${[...seen].map(([p, ids]) => `${ids.join(',')}: ${p}`).join('; ')}); a run is under one policy`)
  }
  const policy = [...seen.keys()][0] ?? sc.policies[0]!
  const allowed = wanted ?? sc.policies
  if (!allowed.includes(policy)) {
    throw new EmuError(ErrorCodes.BAD_ARGUMENT, `--attach: the attached servers run policy "${policy}", which is not among the ${wanted ? '--policy list' : "scenario's policies"} (${allowed.join(', ')}); a running cluster's policy is the one it was started with`)
  }
  return policy
}
