/**
 * bench --cpu_util: CPU time of the node processes over the measured window,
 * each read by the node itself (`proc.cpu`: process.cpuUsage(), user + system,
 * every thread of the process).
 *
 * perftest's CPU_Util[%] (perftest_resources.c get_cpu_stats, perftest_parameters.c
 * calc_cpu_util) reads /proc/stat at the start and the end of a -D run's
 * measured window (between the margins) on the client machine. Every node of an
 * emulated cluster shares one machine, so the machine-wide figure would mix
 * them: here CPU_Util[%] is the client node process's CPU time over that same
 * window, as a percentage of the window's wall time (100 = one core busy, as
 * top shows a process; the sum over the client nodes with --clients).
 * The JSON adds every node's CPU time per operation (µs), which stays
 * steady on a shared machine where the percentage does not.
 */
import type { ControlPlane } from '../../fabric/control-plane.ts'
import type { ProcCpuReply } from '../../fabric/node-message-types.ts'

/** One node's CPU over the window. */
export interface NodeCpu {
  node: string
  role: 'server' | 'client'
  pid: number
  /** CPU time used in the window, µs. */
  userUs: number
  systemUs: number
  /** (user + system) / operations in the window, µs. */
  cpuUsPerOp: number
  /** (user + system) / the window's wall time, %. */
  utilPercent: number
}

export interface CpuFigures {
  /** perftest's CPU_Util[%] (here: the client node processes, see above); printed with -D only, as perftest. */
  CPU_util: number
  /** The wall time between the snapshots, ms (CPU_Util's window), the measured window, and the operations completed in it (over every QP). */
  windowMs: number
  measuredMs: number
  ops: number
  nodes: NodeCpu[]
}

export type CpuSnapshot = Map<string, ProcCpuReply>

/** Every node's CPU time now, asked in parallel. */
export async function cpuSnapshot(control: ControlPlane, nodes: readonly string[]): Promise<CpuSnapshot> {
  const replies = await Promise.all(nodes.map((n) => control.request(n, 'proc.cpu')))
  return new Map(nodes.map((n, i) => [n, replies[i]!]))
}

/**
 * The figures between two snapshots of the same nodes, for the `ops`
 * operations of a measured window of `measuredMs`: CPU per operation is the
 * node's CPU rate between the snapshots times that window, divided by `ops`
 * (the snapshots, asked over the control plane, straddle the window by a few ms).
 */
export function cpuFigures(before: CpuSnapshot, after: CpuSnapshot, ops: number, measuredMs: number, roles: ReadonlyMap<string, 'server' | 'client'>): CpuFigures {
  const nodes: NodeCpu[] = []
  let windowMs = 0
  for (const [node, a] of before) {
    const b = after.get(node)!
    const userUs = b.userUs - a.userUs
    const systemUs = b.systemUs - a.systemUs
    const wallMs = b.atMs - a.atMs
    windowMs = Math.max(windowMs, wallMs)
    const busy = wallMs > 0 ? (userUs + systemUs) / 1000 / wallMs : 0
    nodes.push({
      node, role: roles.get(node) ?? 'client', pid: b.pid, userUs, systemUs,
      cpuUsPerOp: ops > 0 ? (busy * measuredMs * 1000) / ops : 0,
      utilPercent: busy * 100,
    })
  }
  const CPU_util = nodes.filter((n) => n.role === 'client').reduce((s, n) => s + n.utilPercent, 0)
  return { CPU_util, windowMs, measuredMs, ops, nodes }
}

/**
 * Snapshots at the measured window's ends: for a -D run with a margin, at
 * `marginMs` and `durationMs - marginMs` after start() (timers, as perftest's
 * alarm); otherwise at start() and end().
 */
export class CpuWindow {
  private first?: Promise<CpuSnapshot>
  private last?: Promise<CpuSnapshot>
  private readonly timers: NodeJS.Timeout[] = []

  constructor(
    private readonly control: ControlPlane,
    private readonly nodes: readonly string[],
    private readonly timed?: { durationMs: number; marginMs: number },
  ) {}

  start(): void {
    const snap = () => cpuSnapshot(this.control, this.nodes)
    if (this.timed && this.timed.marginMs > 0) {
      this.first = new Promise((resolve, reject) => this.timers.push(setTimeout(() => snap().then(resolve, reject), this.timed!.marginMs)))
      this.last = new Promise((resolve, reject) => this.timers.push(setTimeout(() => snap().then(resolve, reject), this.timed!.durationMs - this.timed!.marginMs)))
      this.first.catch(() => {})
      this.last.catch(() => {})
    } else {
      this.first = snap()
      this.first.catch(() => {})
    }
  }

  /** The workloads are done: the closing snapshot now (a -D run with a margin took it on its timer). */
  stop(): void {
    this.last ??= cpuSnapshot(this.control, this.nodes)
    this.last.catch(() => {})
  }

  /** After stop(): the figures for the `ops` operations of the measured window (`measuredMs`). */
  async end(ops: number, measuredMs: number, roles: ReadonlyMap<string, 'server' | 'client'>): Promise<CpuFigures> {
    this.stop()
    return cpuFigures(await this.first!, await this.last!, ops, measuredMs, roles)
  }

  /** Cancel the pending snapshots (a failed run). */
  cancel(): void {
    for (const t of this.timers) clearTimeout(t)
  }
}

/** The lines under the table: each node's CPU time over the window and per operation. */
export function formatCpu(c: CpuFigures, of?: string): string {
  const lines = [` cpu (--cpu_util${of ? `, ${of}` : ''}): ${c.ops} operations in ${(c.measuredMs / 1000).toFixed(2)} s; user + sys of each node process, read by the node itself over ${(c.windowMs / 1000).toFixed(2)} s`]
  for (const n of c.nodes) {
    lines.push(`   ${`${n.node} (${n.role}, pid ${n.pid})`.padEnd(32)} ${((n.userUs + n.systemUs) / 1000).toFixed(1).padStart(9)} ms  ${n.utilPercent.toFixed(1).padStart(6)} %  ${n.cpuUsPerOp.toFixed(3).padStart(10)} usec/op`)
  }
  return lines.join('\n') + '\n'
}

/**
 * --cpu_util with --baseline: the same reading around the raw ZeroMQ run, so
 * the emulator's CPU per operation can be set beside what moving the same
 * messages costs the same processes (`cpu` on the returned outcome).
 */
export async function withBaselineCpu<T extends { elapsedMs: number; bw?: { n_iterations: number }; lat?: { n_iterations: number } }>(
  control: ControlPlane, roles: ReadonlyMap<string, 'server' | 'client'>, run: () => Promise<T>,
): Promise<T & { cpu: CpuFigures }> {
  const window = new CpuWindow(control, [...roles.keys()])
  window.start()
  try {
    const r = await run()
    const ops = r.bw?.n_iterations ?? r.lat?.n_iterations ?? 0
    return Object.assign(r, { cpu: await window.end(ops, r.elapsedMs, roles) })
  } finally {
    window.cancel()
  }
}
