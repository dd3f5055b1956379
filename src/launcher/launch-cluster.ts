/**
 * The launcher: spawns one OS process per node, takes part in the fabric
 * itself (id LAUNCHER_ID) to run the start-up handshake (protocol.ts), and
 * tears everything down in order. Used by `up`, `tour`, `bench` and `run`.
 *
 * Node faults (src/launcher/node-faults.ts): Cluster.killNode (SIGKILL),
 * pauseNode / resumeNode (SIGSTOP / SIGCONT), stopNode (graceful) and
 * restartNode (same configuration, run and data directory, same endpoint).
 * Whenever a node process exits while the cluster runs, the launcher tells
 * every other running node `peer.gone` at once: the authoritative death
 * signal, on which the servers release what the node owned.
 */
import { existsSync, mkdirSync } from 'node:fs'
import { EventEmitter } from 'node:events'
import { join } from 'node:path'
import type { Logger } from 'pino'
import { mergePcapFiles } from '../../fabric/pcap.ts'
import { ZmqTransport } from '../../fabric/zmq-transport.ts'
import { ControlAuth, transportCurve } from '../../fabric/control-auth.ts'
import { curveIdentity, plainFabricWarning } from '../config/security.ts'
import type { ClusterConfig, Role } from '../config/defaults.ts'
import { loadConfig } from '../config/load-config.ts'
import { EmuError, ErrorCodes } from '../errors.ts'
import { ControlPlane } from '../../fabric/control-plane.ts'
import { fileLogger } from '../host/logger.ts'
import { Params } from '../params.ts'
import { describeExit, NodeProcess, type NodeExit } from './node-process.ts'
import { ProgramTracker } from './program-exits.ts'
import { forgetPaused, pauseProcess, resumeIfPaused, restartConfig, stopProcesses, NodeSlot, type FaultExit } from './node-faults.ts'
import { LAUNCHER_ID, Msg } from './protocol.ts'
import { Startup } from './startup.ts'
import { defaultRunDir, prepareRunDir } from './run-dir.ts'
import { writeClusterFile } from './run-file.ts'

export { CLUSTER_FILE } from './run-file.ts'

export interface LaunchOptions {
  /** Configuration file (ignored when `config` is given). Default ./cluster.config.json. */
  configPath?: string
  config?: ClusterConfig
  /** Run directory; default ./runs/<timestamp>. */
  runDir?: string
  /** How long every node has to report ready (ms). */
  readyTimeoutMs?: number
  /** Grace period of each shutdown step (ms): shutdown message, then SIGTERM, then SIGKILL. */
  stopGraceMs?: number
  /** Extra arguments for every `rdma-emu node` command line. */
  nodeArgs?: string[]
  env?: NodeJS.ProcessEnv
  /** Abort the launch (e.g. Ctrl-C while starting): everything started is torn down. */
  signal?: AbortSignal
  /**
   * Capture every data-plane packet to this pcap file: each node writes what
   * it sends to <runDir>/capture/<id>.pcap, and stop() merges them here.
   */
  pcap?: string
}

/** A capture being taken: the nodes' files and the merged file stop() writes. */
interface CapturePlan {
  parts: string[]
  out: string
}

export interface ClusterNode {
  id: string
  role: Role
  pid: number
  /** The node's real bound endpoint. */
  endpoint: string
  /** pino log of the node. */
  logFile: string
  /** stdout/stderr of the node process. */
  outFile: string
}

export interface ClusterEvents {
  /** Any node process exited (expected or not). */
  exit: [NodeExit]
  /** A node exited while the cluster was running (not during stop()) and no node fault caused it. */
  failed: [NodeExit]
  /** A node exited because of a node fault the launcher injected (kill, stop, restart): which one. */
  faultExit: [FaultExit]
  /** A restarted node reported ready again. */
  restarted: [ClusterNode]
}

/** What a Cluster needs to start a node again (restartNode). */
interface Respawn {
  startup: Startup
  /** Spawn node `id` again with this configuration file (same run and data directory). */
  spawn(id: string, configPath: string, incarnation: number): NodeProcess
  configPath: string
  readyTimeoutMs: number
}

export class Cluster extends EventEmitter<ClusterEvents> {
  readonly nodes: ClusterNode[]
  /** The nodes' programs (config `program`): their ends as reported, and when the cluster's work is done. */
  readonly programs: ProgramTracker
  private stopping: Promise<void> | undefined
  private readonly slots = new Map<string, NodeSlot>()

  constructor(
    readonly config: ClusterConfig,
    readonly runDir: string,
    readonly control: ControlPlane,
    readonly transport: ZmqTransport,
    readonly log: Logger,
    procs: NodeProcess[],
    infos: ClusterNode[],
    private readonly graceMs: number,
    private readonly flushLog: () => void,
    programs: ProgramTracker,
    private readonly capture: CapturePlan | undefined,
    private readonly respawn: Respawn,
  ) {
    super()
    this.nodes = infos
    this.programs = programs
    for (const p of procs) {
      const slot = new NodeSlot(p.id, p)
      this.slots.set(p.id, slot)
      this.watch(slot, p)
    }
  }

  /** The node with this id (throws EmuError(BAD_ARGUMENT) when unknown). */
  node(id: string): ClusterNode {
    const n = this.nodes.find((x) => x.id === id)
    if (!n) throw new EmuError(ErrorCodes.BAD_ARGUMENT, `no node "${id}" in this cluster`)
    return n
  }

  get stopped(): boolean {
    return this.stopping !== undefined
  }

  /** Whether node `id`'s current process is running (a paused one is). */
  isRunning(id: string): boolean {
    return this.slot(id).proc.running
  }

  /** Whether node `id` is paused (pauseNode, not resumed yet). */
  isPaused(id: string): boolean {
    return this.slot(id).paused
  }

  /**
   * kill -9 node `id`. Resolves with its exit once the launcher has handled
   * it: every other running node has been sent `peer.gone` (and so releases
   * the node's QPs, MRs, pins and leases at once). A node already gone
   * resolves with its exit. The exit is a 'faultExit' (fault 'kill'), never a 'failed'.
   */
  async killNode(id: string): Promise<NodeExit> {
    const slot = this.active(id, 'killNode')
    const p = slot.proc
    if (!p.running) return slot.whenHandled(p)
    slot.expect(p, 'kill')
    p.kill('SIGKILL')
    return slot.whenHandled(p)
  }

  /**
   * SIGSTOP node `id`: it stops answering, its sockets stay open and its
   * peers keep it (no `peer.gone`). A pause longer than the fabric's
   * heartbeat timeout is taken for a death by the peers (the fallback), as a
   * hung host would be. resumeNode, stop(), killNode, stopNode and
   * restartNode all end the pause; so does the launcher's own exit.
   * EINVAL when its process is not running.
   */
  pauseNode(id: string): void {
    const slot = this.active(id, 'pauseNode')
    if (!slot.proc.running) throw new EmuError(ErrorCodes.EINVAL, `pauseNode: node ${id} is not running`)
    if (slot.paused) return
    pauseProcess(slot.proc)
    slot.paused = true
    this.log.info({ node: id, pid: slot.proc.pid }, 'node paused (SIGSTOP)')
  }

  /** SIGCONT node `id` after pauseNode (a node that is not paused: nothing happens). */
  resumeNode(id: string): void {
    const slot = this.slot(id)
    if (!slot.paused) return
    this.unpause(slot)
    this.log.info({ node: id, pid: slot.proc.pid }, 'node resumed (SIGCONT)')
  }

  /**
   * Stop node `id` gracefully: the `shutdown` message, then SIGTERM, then
   * SIGKILL, each after the grace period (a paused node is resumed first).
   * Resolves with its exit once handled (its peers have been sent
   * `peer.gone`). The exit is a 'faultExit' (fault 'stop').
   */
  async stopNode(id: string): Promise<NodeExit> {
    const slot = this.active(id, 'stopNode')
    const p = slot.proc
    if (!p.running) return slot.whenHandled(p)
    slot.expect(p, 'stop')
    this.unpause(slot)
    await stopProcesses([p], this.control, this.graceMs)
    return slot.whenHandled(p)
  }

  /**
   * Start node `id` again with the same configuration, run directory and
   * data directory (a server finds its DAX device and filesystem), on the
   * same endpoint it had, port included (a port 0 of the configuration is
   * pinned to the one first bound), so the peers' ZeroMQ connections to it
   * come back by themselves. A node that is still running (or paused) is
   * killed with -9 first: its exit is a 'faultExit' (fault 'restart') and
   * its peers get `peer.gone`. Resolves once the node reports ready again:
   * it has said hello, connected to every running, unpaused peer and pinged
   * each one, so those peers have it up again. To them it is a new node:
   * what its old process owned on them was released when it died. Rejects
   * with EmuError(NODE_FAILED) when the new process exits or does not report
   * ready within the ready timeout (it is then killed), EBUSY while a restart
   * of the node is under way. The node returned is a snapshot; `nodes` holds
   * the live entry (pid updated), and cluster.json in the run directory is rewritten.
   */
  restartNode(id: string): Promise<ClusterNode> {
    const slot = this.active(id, 'restartNode')
    if (slot.restarting) return Promise.reject(new EmuError(ErrorCodes.EBUSY, `restartNode: node ${id} is already restarting`))
    const node = this.doRestart(slot)
    slot.restarting = node.then(() => undefined, () => undefined).finally(() => (slot.restarting = undefined))
    return node
  }

  /** Resolves once no restart of node `id` is under way (whatever its outcome). */
  async whenRestarted(id: string): Promise<void> {
    const slot = this.slot(id)
    while (slot.restarting) await slot.restarting
  }

  private async doRestart(slot: NodeSlot): Promise<ClusterNode> {
    const { id } = slot
    const old = slot.proc
    if (old.running) {
      slot.expect(old, 'restart')
      old.kill('SIGKILL')
    }
    await slot.whenHandled(old)
    this.unpause(slot)
    if (this.stopping) throw new EmuError(ErrorCodes.NODE_FAILED, `restartNode: the cluster stopped while node ${id} restarted`)
    const info = this.node(id)
    const configPath = restartConfig(this.runDir, this.respawn.configPath, this.config, id, info.endpoint)
    const back = this.respawn.startup.expectReturn(id)
    const p = this.respawn.spawn(id, configPath, ++slot.incarnation)
    slot.proc = p
    this.watch(slot, p)
    this.log.info({ node: id, pid: p.pid, incarnation: slot.incarnation, endpoint: info.endpoint }, 'node restarting')
    let timer: NodeJS.Timeout | undefined
    try {
      const ready = await Promise.race([
        back.ready,
        p.exited.then((e): never => {
          const tail = p.outputTail()
          throw new EmuError(ErrorCodes.NODE_FAILED, `node ${id} failed to restart (${describeExit(e)})${tail ? `: ${tail}` : ''}`)
        }),
        new Promise<never>((_resolve, reject) => {
          timer = setTimeout(() => reject(new EmuError(ErrorCodes.NODE_FAILED, `node ${id} did not report ready within ${this.respawn.readyTimeoutMs} ms of its restart`)), this.respawn.readyTimeoutMs)
        }),
      ])
      info.pid = p.pid
      info.endpoint = ready.endpoint
      writeClusterFile(this.runDir, this.nodes)
      this.log.info({ node: id, pid: p.pid, endpoint: ready.endpoint }, 'node restarted')
      this.emit('restarted', { ...info })
      return { ...info }
    } catch (err) {
      back.abandon(err as Error)
      if (p.running) {
        slot.expect(p, 'restart')
        p.kill('SIGKILL')
      }
      throw err
    } finally {
      clearTimeout(timer)
    }
  }

  /**
   * Stop every node: `shutdown` message, then SIGTERM, then SIGKILL, each
   * step after the grace period. Paused nodes are resumed first; killed ones
   * are not waited for. Resolves when every process has exited.
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.log.info('stopping cluster')
      for (const s of this.slots.values()) this.unpause(s)
      // A restart under way ends with the rest (its new process is in its slot).
      await stopProcesses([...this.slots.values()].map((s) => s.proc), this.control, this.graceMs)
      await Promise.all([...this.slots.values()].map((s) => s.restarting))
      await stopProcesses([...this.slots.values()].map((s) => s.proc), undefined, this.graceMs)
      this.control.cancelAll('cluster stopped')
      await this.transport.close()
      if (this.capture) {
        const { parts, out } = this.capture
        try {
          const packets = mergePcapFiles(parts.filter((f) => existsSync(f)), out)
          this.log.info({ pcap: out, packets }, 'capture merged')
        } catch (err) {
          this.log.error({ err, pcap: out }, 'capture not merged')
        }
      }
      this.log.info('cluster stopped')
      this.flushLog()
    })()
    return this.stopping
  }

  private slot(id: string): NodeSlot {
    const s = this.slots.get(id)
    if (!s) throw new EmuError(ErrorCodes.BAD_ARGUMENT, `no node "${id}" in this cluster`)
    return s
  }

  /** The slot of a node a fault may act on (EINVAL once the cluster is stopping). */
  private active(id: string, what: string): NodeSlot {
    const s = this.slot(id)
    if (this.stopping) throw new EmuError(ErrorCodes.EINVAL, `${what}: the cluster is stopped`)
    return s
  }

  private unpause(slot: NodeSlot): void {
    if (!slot.paused) return
    resumeIfPaused(slot.proc)
    slot.paused = false
  }

  /** Handle the exit of one process of `slot`: events, and `peer.gone` to every other running node. */
  private watch(slot: NodeSlot, p: NodeProcess): void {
    const handled = p.exited.then((e) => new Promise<NodeExit>((resolve) => {
      // setImmediate: a node that died before the caller got the Cluster is still reported to its listeners.
      setImmediate(() => {
        forgetPaused(p)
        if (slot.proc === p) slot.paused = false
        const fault = slot.expectedFault(p)
        this.log.info({ node: e.id, pid: p.pid, code: e.code, signal: e.signal, fault }, 'node exited')
        if (!this.stopping) this.announceGone(e.id, p.pid, fault ?? 'crash')
        this.emit('exit', e)
        if (fault) {
          this.emit('faultExit', { ...e, fault, pid: p.pid })
        } else if (!this.stopping) {
          this.log.error({ node: e.id }, this.programs.describeNodeExit(e))
          this.emit('failed', e)
        }
        resolve(e)
      })
    }))
    slot.setHandled(p, handled)
  }

  /**
   * Node `id`'s process is gone: tell every other running node at once
   * (`peer.gone`, the authoritative death signal), and mark it down on the
   * launcher's own fabric endpoint, where a test or tool may run an RDMA device too.
   */
  private announceGone(id: string, pid: number, cause: string): void {
    for (const s of this.slots.values()) {
      if (s.id === id || !s.proc.running) continue
      try {
        this.control.notify(s.id, Msg.PEER_GONE, { id, pid, cause })
      } catch (err) {
        this.log.warn({ err, node: s.id, gone: id }, 'peer.gone not sent')
      }
    }
    this.transport.markDown(id)
    this.log.info({ node: id, pid, cause }, 'peer.gone sent')
  }
}

/** Start every node of the configuration and wait until all report ready. */
export async function launchCluster(opts: LaunchOptions = {}): Promise<Cluster> {
  const config = opts.config ?? loadConfig(opts.configPath)
  const { runDir, configPath } = prepareRunDir(opts.runDir ?? defaultRunDir(), config)
  const readyTimeoutMs = opts.readyTimeoutMs ?? Params.readyTimeoutMs
  const graceMs = opts.stopGraceMs ?? 2000
  const { log, flush } = fileLogger(join(runDir, 'launcher.log'), config.logLevel, { node: LAUNCHER_ID })

  // With CURVE the launcher holds an admin key: the nodes let it shut them down and inject faults.
  const identity = curveIdentity(config, 'admin')
  const auth = new ControlAuth({ self: LAUNCHER_ID, curve: identity, enforce: false })
  const warning = plainFabricWarning(config)
  if (warning) {
    log.warn(warning)
    process.stderr.write(warning + '\n')
  }
  const transport = new ZmqTransport(LAUNCHER_ID, { bind: 'tcp://127.0.0.1:0', ...config.fabric, curve: transportCurve(identity, auth) })
  await transport.start()
  const control = new ControlPlane(transport, { log, auth })
  log.info({ endpoint: transport.endpoint, runDir, nodes: config.nodes.length }, 'launching')

  const procs: NodeProcess[] = []
  // Until the Cluster exists, every spawned node counts as live.
  let liveNode = (id: string): boolean => procs.some((p) => p.id === id && p.running)
  const startup = new Startup(control, config.nodes.map((n) => n.id), log, (id) => liveNode(id))
  const { hellos, readies, allReady } = startup
  // Registered before any node starts: a program may end before launchCluster returns.
  const programs = new ProgramTracker(config)
  control.handle('program.exit', (body, from) => {
    if (!programs.programs.has(from)) throw new EmuError(ErrorCodes.EINVAL, `program.exit from "${from}", which runs no program`)
    log.info({ node: from, program: body.program, code: body.code, error: body.error }, 'program ended')
    return programs.record(body, from)
  })

  const argsWith = (cfg: string) => [
    '-c', cfg, '--run-dir', runDir, '--launcher', transport.endpoint, '--ready-timeout', String(readyTimeoutMs),
    ...(identity ? ['--launcher-key', identity.publicKey] : []), ...(opts.nodeArgs ?? []),
  ]
  const nodeArgs = argsWith(configPath)
  const failStart = async (message: string): Promise<never> => {
    log.error(message)
    await stopProcesses(procs, control, Math.min(graceMs, 1000))
    control.cancelAll('launch failed')
    await transport.close()
    flush()
    throw new EmuError(ErrorCodes.NODE_FAILED, message, { runDir })
  }

  let capture: CapturePlan | undefined
  if (opts.pcap) {
    mkdirSync(join(runDir, 'capture'), { recursive: true })
    capture = { parts: config.nodes.map((n) => join(runDir, 'capture', `${n.id}.pcap`)), out: opts.pcap }
  }
  for (const [i, n] of config.nodes.entries()) {
    const p = new NodeProcess(n.id, capture ? [...nodeArgs, '--pcap', capture.parts[i]!] : nodeArgs, runDir, opts.env)
    procs.push(p)
    log.info({ node: n.id, pid: p.pid }, 'spawned')
  }

  // Ready, or the first node that dies first, or the timeout, or an abort.
  type Outcome = { kind: 'ready' } | { kind: 'exit'; exit: NodeExit } | { kind: 'timeout' } | { kind: 'abort' }
  let timer: NodeJS.Timeout | undefined
  let onAbort: (() => void) | undefined
  const outcome = await Promise.race<Outcome>([
    allReady.then(() => ({ kind: 'ready' as const })),
    ...procs.map((p) => p.exited.then((exit) => ({ kind: 'exit' as const, exit }))),
    new Promise<Outcome>((r) => (timer = setTimeout(() => r({ kind: 'timeout' }), readyTimeoutMs))),
    new Promise<Outcome>((r) => {
      if (opts.signal?.aborted) return r({ kind: 'abort' })
      onAbort = () => r({ kind: 'abort' })
      opts.signal?.addEventListener('abort', onAbort, { once: true })
    }),
  ])
  clearTimeout(timer)
  if (onAbort) opts.signal?.removeEventListener('abort', onAbort)

  if (outcome.kind === 'exit') {
    const p = procs.find((x) => x.id === outcome.exit.id)!
    const tail = p.outputTail()
    return failStart(`node ${p.id} failed to start (${describeExit(outcome.exit)})${tail ? `: ${tail}` : ''}`)
  }
  if (outcome.kind === 'timeout') {
    const missing = config.nodes
      .filter((n) => !readies.has(n.id))
      .map((n) => `${n.id} (${hellos.has(n.id) ? 'said hello, not ready' : 'no hello'})`)
    return failStart(`node(s) did not come up within ${readyTimeoutMs} ms: ${missing.join(', ')}`)
  }
  if (outcome.kind === 'abort') return failStart('launch aborted')

  startup.markLaunched()
  const infos: ClusterNode[] = config.nodes.map((n) => {
    const p = procs.find((x) => x.id === n.id)!
    return { id: n.id, role: n.role, pid: p.pid, endpoint: hellos.get(n.id)!.endpoint, logFile: join(runDir, `${n.id}.log`), outFile: p.outFile }
  })
  log.info({ nodes: infos.map((n) => ({ id: n.id, pid: n.pid, endpoint: n.endpoint })) }, 'cluster ready')
  writeClusterFile(runDir, infos)
  const spawn = (id: string, cfg: string, incarnation: number): NodeProcess => {
    // Each incarnation captures to its own file; stop() merges them all.
    let args = argsWith(cfg)
    if (capture) {
      const part = join(runDir, 'capture', `${id}.${incarnation}.pcap`)
      capture.parts.push(part)
      args = [...args, '--pcap', part]
    }
    return new NodeProcess(id, args, runDir, opts.env)
  }
  const cluster = new Cluster(config, runDir, control, transport, log, procs, infos, graceMs, flush, programs, capture, { startup, spawn, configPath, readyTimeoutMs })
  liveNode = (id) => cluster.isRunning(id) && !cluster.isPaused(id)
  return cluster
}
