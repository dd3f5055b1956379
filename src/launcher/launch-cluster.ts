/**
 * The launcher: spawns one OS process per node, takes part in the fabric
 * itself (id LAUNCHER_ID) to run the start-up handshake (protocol.ts), and
 * tears everything down in order. Used by `up`, `tour`, and later `bench`
 * and `run`.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { EventEmitter } from 'node:events'
import { join } from 'node:path'
import type { Logger } from 'pino'
import { mergePcapFiles } from '../../fabric/pcap.ts'
import { ZmqTransport } from '../../fabric/zmq-transport.ts'
import type { ClusterConfig, Role } from '../config/defaults.ts'
import { loadConfig } from '../config/load-config.ts'
import { EmuError, ErrorCodes } from '../errors.ts'
import { ControlPlane } from '../../fabric/control-plane.ts'
import { fileLogger } from '../host/logger.ts'
import { Params } from '../params.ts'
import { describeExit, NodeProcess, within, type NodeExit } from './node-process.ts'
import { ProgramTracker } from './program-exits.ts'
import { LAUNCHER_ID, Msg, type HelloBody, type HelloReply, type PeerEndpoint, type ReadyBody } from './protocol.ts'
import { defaultRunDir, prepareRunDir } from './run-dir.ts'

/** File in the run directory naming every node's pid and real endpoint. */
export const CLUSTER_FILE = 'cluster.json'

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
  /** A node exited while the cluster was running (not during stop()). */
  failed: [NodeExit]
}

export class Cluster extends EventEmitter<ClusterEvents> {
  readonly nodes: ClusterNode[]
  /** The nodes' programs (config `program`): their ends as reported, and when the cluster's work is done. */
  readonly programs: ProgramTracker
  private stopping: Promise<void> | undefined

  constructor(
    readonly config: ClusterConfig,
    readonly runDir: string,
    readonly control: ControlPlane,
    readonly transport: ZmqTransport,
    readonly log: Logger,
    private readonly procs: NodeProcess[],
    infos: ClusterNode[],
    private readonly graceMs: number,
    private readonly flushLog: () => void,
    programs: ProgramTracker,
    private readonly capture?: CapturePlan,
  ) {
    super()
    this.nodes = infos
    this.programs = programs
    for (const p of procs) {
      // setImmediate: a node that died before the caller got the Cluster is still reported to its listeners.
      void p.exited.then((e) => setImmediate(() => {
        this.log.info({ node: e.id, code: e.code, signal: e.signal }, 'node exited')
        this.emit('exit', e)
        if (!this.stopping) {
          this.log.error({ node: e.id }, programs.describeNodeExit(e))
          this.emit('failed', e)
        }
      }))
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

  /**
   * Stop every node: `shutdown` message, then SIGTERM, then SIGKILL, each
   * step after the grace period. Resolves when every process has exited.
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.log.info('stopping cluster')
      await stopProcesses(this.procs, this.control, this.graceMs)
      this.control.cancelAll('cluster stopped')
      await this.transport.close()
      if (this.capture) {
        const { parts, out } = this.capture
        try {
          const packets = mergePcapFiles(parts, out)
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
}

async function stopProcesses(procs: NodeProcess[], control: ControlPlane | undefined, graceMs: number): Promise<void> {
  const allExited = () => Promise.all(procs.map((p) => p.exited))
  const running = () => procs.filter((p) => p.running)
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

/** Start every node of the configuration and wait until all report ready. */
export async function launchCluster(opts: LaunchOptions = {}): Promise<Cluster> {
  const config = opts.config ?? loadConfig(opts.configPath)
  const { runDir, configPath } = prepareRunDir(opts.runDir ?? defaultRunDir(), config)
  const readyTimeoutMs = opts.readyTimeoutMs ?? Params.readyTimeoutMs
  const graceMs = opts.stopGraceMs ?? 2000
  const { log, flush } = fileLogger(join(runDir, 'launcher.log'), config.logLevel, { node: LAUNCHER_ID })

  const transport = new ZmqTransport(LAUNCHER_ID, { bind: 'tcp://127.0.0.1:0', ...config.fabric })
  await transport.start()
  const control = new ControlPlane(transport, { log })
  log.info({ endpoint: transport.endpoint, runDir, nodes: config.nodes.length }, 'launching')

  const ids = new Set(config.nodes.map((n) => n.id))
  const hellos = new Map<string, HelloBody>()
  const readies = new Map<string, ReadyBody>()
  let resolveAllHello!: (peers: PeerEndpoint[]) => void
  const allHello = new Promise<PeerEndpoint[]>((r) => (resolveAllHello = r))
  let resolveAllReady!: () => void
  const allReady = new Promise<void>((r) => (resolveAllReady = r))

  control.handle(Msg.HELLO, (body: HelloBody, from: string) => {
    if (!ids.has(from) || body?.id !== from) throw new EmuError(ErrorCodes.EINVAL, `hello from unexpected node "${from}"`)
    hellos.set(from, body)
    log.info({ node: from, pid: body.pid, endpoint: body.endpoint }, 'hello')
    if (hellos.size === ids.size) resolveAllHello([...hellos.values()].map(({ id, role, endpoint }) => ({ id, role, endpoint })))
    return allHello.then((peers): HelloReply => ({ peers }))
  })
  // Answered once every node is ready: a node's program starts only when the whole cluster is up.
  control.handle(Msg.READY, (body: ReadyBody, from: string) => {
    if (!ids.has(from)) throw new EmuError(ErrorCodes.EINVAL, `ready from unexpected node "${from}"`)
    readies.set(from, body)
    log.info({ node: from }, 'ready')
    if (readies.size === ids.size) resolveAllReady()
    return allReady.then(() => ({ ok: true }))
  })
  // Registered before any node starts: a program may end before launchCluster returns.
  const programs = new ProgramTracker(config)
  control.handle('program.exit', (body, from) => {
    if (!programs.programs.has(from)) throw new EmuError(ErrorCodes.EINVAL, `program.exit from "${from}", which runs no program`)
    log.info({ node: from, program: body.program, code: body.code, error: body.error }, 'program ended')
    return programs.record(body, from)
  })

  const nodeArgs = ['-c', configPath, '--run-dir', runDir, '--launcher', transport.endpoint, '--ready-timeout', String(readyTimeoutMs), ...(opts.nodeArgs ?? [])]
  const procs: NodeProcess[] = []
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

  const infos: ClusterNode[] = config.nodes.map((n) => {
    const p = procs.find((x) => x.id === n.id)!
    return { id: n.id, role: n.role, pid: p.pid, endpoint: hellos.get(n.id)!.endpoint, logFile: join(runDir, `${n.id}.log`), outFile: p.outFile }
  })
  log.info({ nodes: infos.map((n) => ({ id: n.id, pid: n.pid, endpoint: n.endpoint })) }, 'cluster ready')
  // Where each node really listens (ports may have been 0): `rdma-emu stats` reads this.
  writeFileSync(join(runDir, CLUSTER_FILE), JSON.stringify({ nodes: infos.map(({ id, role, pid, endpoint }) => ({ id, role, pid, endpoint })) }, null, 2) + '\n')
  return new Cluster(config, runDir, control, transport, log, procs, infos, graceMs, flush, programs, capture)
}
