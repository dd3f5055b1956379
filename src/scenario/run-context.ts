/**
 * Everything one run's steps set up and measured: MRs, traffic, QPs,
 * leases, the step timeline, the faults on (FaultBook), the history of the
 * checked streams, and the events the report marks. One per policy run.
 */
import type { ControlPlane } from '../../fabric/control-plane.ts'
import type { NodeBody, NodeCommand, NodeReply } from '../../fabric/node-messages.ts'
import type { FileMapping, RemoteMr } from '../../fabric/node-message-types.ts'
import type { HistoryOp } from '../check/history.ts'
import type { Policy, Role } from '../config/defaults.ts'
import type { Cluster } from '../launcher/launch-cluster.ts'
import { RemoteVerbs } from '../verbs/remote-verbs.ts'
import type { WorkloadResult } from '../verbs/workload.ts'
import { FaultBook } from './fault-book.ts'
import type { StepMeasures } from './metrics.ts'
import { Timeline } from './timeline.ts'

/** CM port the run's server listens on for traffic connections. */
export const SCENARIO_PORT = 18600

export interface MrRecord {
  server: string
  /** The client host that registered it (file MRs), or none (the launcher's own). */
  owner?: string
  mr?: RemoteMr
  /** Why there is no MR (a refusal without fallback). */
  absent?: string
  deregistered: boolean
  /** What it was registered over: a file range (re-registered after a server restart), or anonymous memory. */
  file?: { name: string; offset: number; access: number; mapping: FileMapping }
  /** Its server was killed since it was registered: the STag is gone. */
  lost?: boolean
  /** The MR's bytes before the first checked stream wrote to it. */
  initial?: Uint8Array
}

export interface TrafficRecord {
  id: string
  client: string
  qpn: number
  op: string
  size: number
  done: Promise<void>
  settled: boolean
  result?: WorkloadResult
  error?: unknown
  /** Its error already failed the step that ran it. */
  reported?: boolean
}

export interface TimelineEntry {
  step: number
  do: string
  atMs: number
  tookMs: number
  outcome: string
}

/** A mark on the report's timeline. */
export interface RunEvent {
  atUs: number
  kind: string
  label: string
}

/** Retransmission samples of one stream (cumulative counter values). */
export interface StreamSamples {
  stream: string
  samples: Array<{ tUs: number; retransmissions: number }>
}

export class RunContext {
  readonly mrs = new Map<string, MrRecord>()
  readonly traffic = new Map<string, TrafficRecord>()
  readonly conns: Array<{ client: string; qpn: number }> = []
  readonly leases: Array<{ client: string; server: string; file: string }> = []
  readonly timeline: TimelineEntry[] = []
  readonly notes: string[] = []
  readonly measures: StepMeasures = {
    layoutOps: [], traffic: [], mismatchBytes: 0, verified: false,
    faults: { seen: 0, dropped: 0, duplicated: 0, reordered: 0 }, elapsedMs: 0,
  }
  readonly faults = new FaultBook()
  readonly schedule: Timeline
  readonly events: RunEvent[] = []
  readonly history: HistoryOp[] = []
  readonly flushes: Array<{ mr: string; server: string; completedUs: number }> = []
  readonly samples: StreamSamples[] = []
  /** Checked streams so far (each gets its own range of operation ids). */
  streams = 0
  private readonly pds = new Map<string, number>()
  private readonly t0 = performance.now()
  /** The run's start on the wall clock every process shares (ms since the epoch). */
  readonly t0EpochMs = performance.timeOrigin + this.t0

  constructor(
    readonly control: ControlPlane,
    readonly policy: Policy,
    /** Node ids of the run (for faults without `from`). */
    readonly nodes: readonly string[],
    readonly opts: { seed?: number; cluster?: Cluster; roles?: ReadonlyMap<string, Role> } = {},
  ) {
    this.schedule = new Timeline(this.t0)
  }

  get seed(): number {
    return this.opts.seed ?? 1
  }

  get cluster(): Cluster | undefined {
    return this.opts.cluster
  }

  roleOf(node: string): Role | undefined {
    return this.opts.roles?.get(node)
  }

  req<K extends NodeCommand>(node: string, type: K, body?: NodeBody<K>, timeoutMs?: number): Promise<NodeReply<K>> {
    return (this.control.request as (n: string, t: K, b: unknown, ms?: number) => Promise<NodeReply<K>>)(node, type, body ?? null, timeoutMs)
  }

  verbs(node: string): RemoteVerbs {
    return new RemoteVerbs(this.control, node)
  }

  /** The run's PD on `server`, listened on at SCENARIO_PORT (made on first use, again after a restart). */
  async serverPd(server: string): Promise<number> {
    let pd = this.pds.get(server)
    if (pd === undefined) {
      const v = this.verbs(server)
      pd = await v.allocPd()
      await v.listen({ port: SCENARIO_PORT, pd })
      this.pds.set(server, pd)
    }
    return pd
  }

  /** A node's process is gone (killed, stopped): what the run had on it is gone too. */
  nodeGone(node: string): void {
    this.pds.delete(node)
    for (const m of this.mrs.values()) if (m.server === node || m.owner === node) m.lost = true
    for (let k = this.conns.length - 1; k >= 0; k--) if (this.conns[k]!.client === node) this.conns.splice(k, 1)
    for (let k = this.leases.length - 1; k >= 0; k--) if (this.leases[k]!.client === node || this.leases[k]!.server === node) this.leases.splice(k, 1)
  }

  /** A node came back (restart): a fresh process, nothing of the run's on it yet. */
  nodeRestarted(node: string): void {
    this.nodeGone(node)
  }

  elapsed(): number {
    return performance.now() - this.t0
  }

  /** Microseconds since the start, on the clock the histories use. */
  elapsedUs(): number {
    return Math.round(this.elapsed() * 1000)
  }
}
