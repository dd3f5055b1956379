/**
 * Node faults the launcher injects (Cluster.killNode, pauseNode, resumeNode,
 * stopNode, restartNode): the per-node state they need, the exits they cause
 * (expected: reported as 'faultExit', never as 'failed'), and what keeps a
 * paused node from being left stopped.
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { ControlPlane } from '../../fabric/control-plane.ts'
import { serializeConfig, type ClusterConfig } from '../config/defaults.ts'
import { NodeProcess, within, type NodeExit } from './node-process.ts'
import { Msg } from './protocol.ts'

/** A node fault the launcher injects. */
export type NodeFault = 'kill' | 'pause' | 'resume' | 'stop' | 'restart'

/** An exit a fault caused: which fault it was. */
export type FaultExit = NodeExit & { fault: NodeFault; pid: number }

/** One node of a launched cluster: its current process and what is being done to it. */
export class NodeSlot {
  /** Paused with SIGSTOP and not resumed yet. */
  paused = false
  /** Times the node was started (1 at launch). */
  incarnation = 1
  /** A restart in progress. */
  restarting: Promise<void> | undefined
  /** Set before a fault signals the process: its exit is expected, and caused by this. */
  private readonly expected = new WeakMap<NodeProcess, NodeFault>()
  /** Resolves once the launcher has handled a process's exit (peer.gone sent, events emitted). */
  private readonly handled = new WeakMap<NodeProcess, Promise<NodeExit>>()

  constructor(readonly id: string, public proc: NodeProcess) {}

  expect(p: NodeProcess, fault: NodeFault): void {
    if (!this.expected.has(p)) this.expected.set(p, fault)
  }

  expectedFault(p: NodeProcess): NodeFault | undefined {
    return this.expected.get(p)
  }

  setHandled(p: NodeProcess, done: Promise<NodeExit>): void {
    this.handled.set(p, done)
  }

  /** The exit of `p`, once the launcher has handled it. */
  whenHandled(p: NodeProcess): Promise<NodeExit> {
    return this.handled.get(p) ?? p.exited
  }
}

/**
 * Graceful stop of some processes: the `shutdown` message, then SIGTERM, then
 * SIGKILL, each step after `graceMs`. Paused ones are resumed first (a
 * stopped process can neither hear the message nor die of SIGTERM).
 */
export async function stopProcesses(procs: NodeProcess[], control: ControlPlane | undefined, graceMs: number): Promise<void> {
  const allExited = () => Promise.all(procs.map((p) => p.exited))
  const running = () => procs.filter((p) => p.running)
  for (const p of running()) resumeIfPaused(p)
  if (control) {
    for (const p of running()) {
      try {
        control.notify(p.id, Msg.SHUTDOWN)
      } catch {
        // Never reached us: SIGTERM will do.
      }
    }
    if (await within(allExited(), graceMs)) return
  }
  for (const p of running()) p.kill('SIGTERM')
  if (await within(allExited(), graceMs)) return
  for (const p of running()) p.kill('SIGKILL')
  await allExited()
}

/**
 * The configuration a restarted node starts with: the launch's, with the
 * node's port pinned to the one it had (port 0 was resolved at first bind),
 * so the peers' ZeroMQ sockets, still connected to that endpoint, reconnect
 * by themselves. Returns the path to pass with -c (the launch's own file when
 * nothing needs pinning).
 */
export function restartConfig(runDir: string, configPath: string, config: ClusterConfig, id: string, endpoint: string): string {
  const node = config.nodes.find((n) => n.id === id)
  const port = /:(\d+)$/.exec(endpoint)?.[1]
  if (!node || node.transport !== 'tcp' || node.port !== 0 || !port) return configPath
  const pinned: ClusterConfig = { ...config, nodes: config.nodes.map((n) => (n.id === id ? { ...n, port: Number(port) } : n)) }
  const file = join(runDir, `cluster.config.${id}.restart.json`)
  writeFileSync(file, serializeConfig(pinned))
  return file
}

// ---- never leave a paused node stopped ----

/** Processes paused with SIGSTOP, over every cluster of this process. */
const pausedProcs = new Set<NodeProcess>()
let exitHookInstalled = false

/** SIGSTOP `p`, remembering it so that the launcher's own exit resumes it. */
export function pauseProcess(p: NodeProcess): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true
    // The launcher exits (normally, or on an uncaught error): SIGCONT every
    // node still paused; it then notices its launcher is gone and exits. A
    // launcher killed with -9 runs nothing: its paused nodes stay stopped
    // until someone sends SIGCONT or SIGKILL.
    process.on('exit', () => {
      for (const q of pausedProcs) q.kill('SIGCONT')
    })
  }
  pausedProcs.add(p)
  p.kill('SIGSTOP')
}

/** SIGCONT `p` if it was paused. */
export function resumeIfPaused(p: NodeProcess): void {
  if (!pausedProcs.delete(p)) return
  p.kill('SIGCONT')
}

/** Forget a process that exited (SIGKILL ends a stopped process too). */
export function forgetPaused(p: NodeProcess): void {
  pausedProcs.delete(p)
}
