/**
 * One node process: fabric, control plane, built-in handlers, services, and
 * the start-up handshake with the launcher (src/launcher/protocol.ts).
 *
 * Topology: full mesh. Every node connects to every other node (and to its
 * launcher), so each node sends over its own DEALER and receives on its
 * ROUTER; the launcher answers nodes over its ROUTER.
 */
import { Worker } from 'node:worker_threads'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { ZmqTransport } from '../../fabric/zmq-transport.ts'
import { ControlAuth, transportCurve } from '../../fabric/control-auth.ts'
import { curveIdentity, plainFabricWarning } from '../config/security.ts'
import { advertisedEndpoint, bindEndpoint } from '../config/endpoint.ts'
import type { ClusterConfig } from '../config/defaults.ts'
import { EmuError, ErrorCodes } from '../errors.ts'
import { Params } from '../params.ts'
import { LAUNCHER_ID, Msg, type HelloBody, type PingPeerBody, type ReadyBody } from '../launcher/protocol.ts'
import { ControlPlane } from '../../fabric/control-plane.ts'
import type { NodeStatsReply } from '../../fabric/node-message-types.ts'
import { fileLogger } from './logger.ts'
import { ALONE_READY_TIMEOUT_MS, joinAlone } from './node-alone.ts'
import { rttStats } from './rtt-stats.ts'
import { attachServices, type NodeContext, type NodeServices } from './services.ts'

export interface StartNodeOptions {
  config: ClusterConfig
  id: string
  runDir: string
  /** Data directory; default <runDir>/data/<id>. */
  dataDir?: string
  /** The launcher's endpoint; absent when the node runs alone. */
  launcher?: string
  /** How long to wait for the launcher's peer list and for peers (ms); alone, default ALONE_READY_TIMEOUT_MS. */
  readyTimeoutMs?: number
  /** Alone: the configuration file given (never overwritten by the run directory's copy). */
  configFile?: string
  /** Alone: told once bound, before the wait for the peers (which may be long). */
  onWaitPeers?: (endpoint: string, peers: string[], timeoutMs: number) => void
  /** Alone: stop waiting for the peers (the start then fails, and the node stops). */
  signal?: AbortSignal
  /** Exit when the parent process goes away (default: when a launcher is given). */
  watchParent?: boolean
  /** Capture every data-plane packet this node sends to this pcap file. */
  pcap?: string
  /** With CURVE: the Z85 public key of the launcher (`--launcher-key`). */
  launcherKey?: string
}

export interface NodeHandle {
  ctx: NodeContext
  /** The endpoint peers dial: the advertised address with the real port. */
  endpoint: string
  /** What the node runs: its RDMA stack, mailbox, and on a server its memory model. */
  services: NodeServices
  /** Resolves with the exit code once the node has shut down. */
  stopped: Promise<number>
  /** Shut down (idempotent). */
  stop(code?: number, reason?: string): Promise<void>
  /** What `stats` answers: the node's own view of itself. */
  stats(): NodeStatsReply
}

export async function startNode(opts: StartNodeOptions): Promise<NodeHandle> {
  const { config, id, runDir } = opts
  const nodeConfig = config.nodes.find((n) => n.id === id)
  if (!nodeConfig) {
    throw new EmuError(ErrorCodes.BAD_ARGUMENT, `--id: no node "${id}" in the configuration (known: ${config.nodes.map((n) => n.id).join(', ')})`)
  }
  const readyTimeoutMs = opts.readyTimeoutMs ?? (opts.launcher ? Params.readyTimeoutMs : ALONE_READY_TIMEOUT_MS)
  const dataDir = opts.dataDir ?? join(runDir, 'data', id)
  mkdirSync(runDir, { recursive: true })
  mkdirSync(dataDir, { recursive: true })
  const { log, flush } = fileLogger(join(runDir, `${id}.log`), config.logLevel, { node: id, role: nodeConfig.role })
  const startedAt = Date.now()

  // CURVE when the configuration names keys; a server that revokes leases with leaseRevokeKill may shut the holder down.
  const identity = curveIdentity(config, { node: id })
  const auth = new ControlAuth({ self: id, curve: identity, enforce: true, alsoAllowed: (caller, type) => type === Msg.SHUTDOWN && revokeKiller(config, caller.principal) })
  const transport = new ZmqTransport(id, { bind: bindEndpoint(nodeConfig, runDir), ...config.fabric, curve: transportCurve(identity, auth, { [LAUNCHER_ID]: opts.launcherKey }) })
  try {
    await transport.start()
  } catch (err) {
    log.fatal({ err: (err as Error).message }, 'cannot bind')
    flush()
    throw new EmuError(ErrorCodes.NODE_FAILED, `node ${id}: ${(err as Error).message}`)
  }
  // Peers dial the advertised address (bind may be a wildcard), at the port really bound.
  const endpoint = advertisedEndpoint(nodeConfig, runDir, transport.endpoint) ?? transport.endpoint
  log.info({ bound: transport.endpoint, endpoint }, 'bound')
  transport.on('peer', (info) => log.info({ peer: info.id, state: info.state }, 'peer state'))
  const warning = plainFabricWarning(config)
  if (warning) log.warn(warning)
  const control = new ControlPlane(transport, { log, auth })

  const cleanups: Array<() => void | Promise<void>> = []
  let resolveStopped!: (code: number) => void
  const stopped = new Promise<number>((r) => (resolveStopped = r))
  let stopping: Promise<void> | undefined
  let parentTimer: NodeJS.Timeout | undefined
  let orphaned = false
  const stop = (code = 0, reason = 'stop'): Promise<void> => {
    stopping ??= (async () => {
      log.info({ reason, code }, 'shutting down')
      if (parentTimer) clearInterval(parentTimer)
      for (const fn of cleanups.reverse()) {
        try {
          await fn()
        } catch (err) {
          log.error({ err }, 'shutdown hook failed')
        }
      }
      control.cancelAll('node shutting down')
      await transport.close()
      log.info('stopped')
      flush()
      resolveStopped(code)
    })()
    return stopping
  }

  const ctx: NodeContext = {
    id,
    role: nodeConfig.role,
    nodeConfig,
    cluster: config,
    transport,
    control,
    log,
    runDir,
    dataDir,
    pcap: opts.pcap,
    onShutdown: (fn) => void cleanups.push(fn),
    get orphaned() {
      return orphaned
    },
  }

  // Built-in handlers.
  control.handle(Msg.PING, (body: unknown) => body ?? null)
  control.handle(Msg.PING_PEER, (body: PingPeerBody) => pingPeer(control, body))
  const nodeStats = (): NodeStatsReply => ({
    id,
    role: nodeConfig.role,
    pid: process.pid,
    uptimeMs: Date.now() - startedAt,
    endpoint: transport.endpoint,
    peers: transport.peers(),
    control: { ...control.counters },
    transport: { ...transport.counters },
    rssBytes: process.memoryUsage().rss,
  })
  control.handle(Msg.STATS, nodeStats)
  control.handle('auth.counters', () => ({
    curve: transport.secure,
    refused: auth.counters.refused,
    byType: { ...auth.counters.byType },
    byCaller: { ...auth.counters.byCaller },
    ...(transport.zap ? { zap: { ...transport.zap } } : {}),
  }))
  // This process's CPU time (every thread: the data-path workers too), for bench --cpu_util.
  control.handle('proc.cpu', () => {
    const cpu = process.cpuUsage()
    return { pid: process.pid, userUs: cpu.user, systemUs: cpu.system, atMs: performance.timeOrigin + performance.now() }
  })
  // The launcher saw a node process exit: the authoritative death signal.
  // Marking the peer down at once runs every 'peer down' listener (QPs to
  // ERR, its MRs, pins and leases released) without waiting for the
  // heartbeat timeout, which stays the fallback for nodes no launcher watches.
  control.handle(Msg.PEER_GONE, (body, from) => {
    if (from !== LAUNCHER_ID || body.id === id) return
    log.info({ peer: body.id, pid: body.pid, cause: body.cause }, 'peer gone (launcher)')
    transport.markDown(body.id)
  })
  control.handle(Msg.SHUTDOWN, (_body: unknown, from: string) => {
    // Reply first, then stop on the next turn so the reply leaves.
    setTimeout(() => void stop(0, `shutdown requested by ${from}`), 20)
    return { ok: true }
  })

  if (opts.watchParent ?? Boolean(opts.launcher)) {
    // The launcher may die without telling us (kill -9): the IPC channel
    // closes and we are re-parented, whichever we notice first. Watched from
    // the start: a launcher killed during the start-up handshake (say, just
    // after it saw every node ready, before its reply reached us) orphans us
    // as surely as one killed later. Nobody is left to escalate (SIGTERM,
    // SIGKILL) if our shutdown hangs on a loaded machine, so that is bounded too.
    const parent = process.ppid
    const orphan = (why: string): void => {
      if (orphaned) return
      orphaned = true
      setTimeout(() => {
        log.warn({ afterMs: Params.orphanExitMs }, 'launcher gone and shutdown unfinished: exiting now')
        flush()
        process.exit(1)
      }, Params.orphanExitMs).unref()
      // Should the main thread itself be stuck (a blocking call on a starved
      // machine), a watchdog thread ends the process a little later.
      watchdog(Params.orphanExitMs * 2)
      void stop(1, why)
    }
    process.once('disconnect', () => orphan('launcher disconnected'))
    parentTimer = setInterval(() => {
      if (process.ppid !== parent || !alive(parent)) orphan('launcher gone')
    }, Params.parentCheckIntervalMs)
  }

  const services = await attachServices(ctx)

  if (opts.launcher) {
    transport.connect(LAUNCHER_ID, opts.launcher)
    const hello: HelloBody = { id, role: nodeConfig.role, pid: process.pid, endpoint }
    const { peers } = await control.request(LAUNCHER_ID, Msg.HELLO, hello, readyTimeoutMs)
    for (const p of peers) if (p.id !== id) transport.connect(p.id, p.endpoint)
    await reachPeers(control, peers.map((p) => p.id).filter((p) => p !== id), readyTimeoutMs)
    const ready: ReadyBody = { id, pid: process.pid, endpoint }
    await control.request(LAUNCHER_ID, Msg.READY, ready, readyTimeoutMs)
  } else {
    // Alone: in the run file, and ready once every peer answers (node-alone.ts).
    opts.onWaitPeers?.(endpoint, config.nodes.filter((n) => n.id !== id).map((n) => n.id), readyTimeoutMs)
    try {
      await joinAlone(ctx, { endpoint, timeoutMs: readyTimeoutMs, configFile: opts.configFile, signal: opts.signal })
    } catch (err) {
      log.error({ err: (err as Error).message }, 'not ready')
      await stop(1, opts.signal?.aborted ? 'stopped before ready' : 'peers unreachable')
      throw err
    }
  }
  log.info({ endpoint, peers: transport.peers().map((p) => p.id) }, 'ready')

  return { ctx, endpoint, services, stopped, stop, stats: nodeStats }
}

/** Whether `principal` is a server node of the cluster that shuts down lease holders (leaseRevokeKill). */
function revokeKiller(config: ClusterConfig, principal: string | undefined): boolean {
  const n = config.nodes.find((x) => x.id === principal)
  return n?.role === 'server' && n.server.leaseRevokeKill
}

/** A thread that SIGKILLs this process after `ms`, whatever the main thread is doing. */
function watchdog(ms: number): void {
  const w = new Worker(`setTimeout(() => process.kill(${process.pid}, 'SIGKILL'), ${ms})`, { eval: true })
  w.unref()
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Ping every peer until it answers (connections come up asynchronously). */
async function reachPeers(control: ControlPlane, peers: string[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  await Promise.all(
    peers.map(async (peer) => {
      for (;;) {
        const left = deadline - Date.now()
        if (left <= 0) throw new EmuError(ErrorCodes.TIMEOUT, `${control.transport.id}: peer ${peer} unreachable within ${timeoutMs} ms`)
        try {
          await control.request(peer, Msg.PING, null, Math.min(1000, left))
          return
        } catch (err) {
          if ((err as EmuError).code !== ErrorCodes.TIMEOUT) throw err
        }
      }
    }),
  )
}

/** Ping another node `count` times over the fabric and return the RTT figures. */
async function pingPeer(control: ControlPlane, body: PingPeerBody) {
  if (!body || typeof body.peer !== 'string') throw new EmuError(ErrorCodes.EINVAL, 'ping-peer: body.peer must be a node id')
  const count = body.count ?? 100
  const warmup = body.warmup ?? 10
  const payload = new Uint8Array(body.size ?? 8)
  const samples: number[] = []
  for (let i = 0; i < warmup + count; i++) {
    const t0 = process.hrtime.bigint()
    await control.request(body.peer, Msg.PING, payload)
    const us = Number(process.hrtime.bigint() - t0) / 1000
    if (i >= warmup) samples.push(us)
  }
  return { from: control.transport.id, to: body.peer, ...rttStats(samples) }
}
