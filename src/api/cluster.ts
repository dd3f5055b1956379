/**
 * Start a cluster from a script, or join one that `rdma-emu up` keeps
 * running, and get a host of one's own on its fabric: a Context, a
 * connection manager, the server nodes' services and messages to the nodes'
 * programs, exactly what a program run by a node gets (minus the node).
 */
import { pino } from 'pino'
import type { ClusterConfig } from '../config/defaults.ts'
import { parseConfig } from '../config/load-config.ts'
import { attachRdma, type RdmaService } from '../host/rdma-service.ts'
import { attachCluster as attachToCluster, readClusterFile, type ClusterFileNode } from '../launcher/attach-cluster.ts'
import { launchCluster as launch, type Cluster, type ClusterNode, type LaunchOptions } from '../launcher/launch-cluster.ts'
import type { ProgramsOutcome } from '../launcher/program-exits.ts'
import { LAUNCHER_ID } from '../launcher/protocol.ts'
import { Host } from './host.ts'
import { Mailbox } from './mailbox.ts'

export type { ClusterConfig, ClusterNode, ClusterFileNode, ProgramsOutcome }

/** launchCluster's options: where the run goes and how long the nodes have (the launcher's LaunchOptions). */
export type LaunchClusterOptions = Omit<LaunchOptions, 'config' | 'configPath'>

/** A cluster this process launched, with this process as one more host on its fabric. */
export class LaunchedCluster {
  /** This process's host (fabric id `@launcher`). */
  readonly host: Host
  /** The launcher's cluster: node processes, their exits, the programs' ends. */
  readonly raw: Cluster
  private readonly rdma: RdmaService

  constructor(cluster: Cluster) {
    this.raw = cluster
    this.rdma = attachRdma(cluster.control, { timeScale: cluster.config.timeScale, deviceModel: cluster.config.deviceModel })
    this.host = new Host({
      id: LAUNCHER_ID,
      nodes: cluster.nodes.map(({ id, role }) => ({ id, role })),
      control: cluster.control,
      device: this.rdma.device,
      cm: this.rdma.cm,
      mailbox: new Mailbox(cluster.control),
      log: cluster.log,
    })
  }

  get config(): ClusterConfig {
    return this.raw.config
  }
  get runDir(): string {
    return this.raw.runDir
  }
  /** Every node: id, role, pid, endpoint, log files. */
  get nodes(): readonly ClusterNode[] {
    return this.raw.nodes
  }

  /**
   * Resolves when the nodes' programs are done (every client program ended
   * with 0: ok), or at the first that fails (not ok, naming the node and the
   * cause). Never resolves when no node runs a program.
   */
  programs(): Promise<ProgramsOutcome> {
    return this.raw.programs.done
  }

  /** Stop every node process and leave (idempotent); resolves once all have exited. */
  async stop(): Promise<void> {
    this.rdma.close()
    await this.raw.stop()
  }
}

/**
 * Start a cluster: one process per node of `config` (a configuration
 * object, validated and completed as `cluster.config.json` is, or the path
 * of such a file), each running its program if it names one. Resolves once
 * every node is ready. Throws EmuError CONFIG_INVALID for a bad
 * configuration (nothing started), NODE_FAILED when a node does not come up.
 */
export async function launchCluster(config: string | object, opts: LaunchClusterOptions = {}): Promise<LaunchedCluster> {
  const cluster = typeof config === 'string' ? await launch({ ...opts, configPath: config }) : await launch({ ...opts, config: parseConfig(config) })
  return new LaunchedCluster(cluster)
}

/** A running cluster this process joined (attachCluster). */
export class AttachedCluster {
  /** This process's host (a fresh fabric id per attach). */
  readonly host: Host
  readonly runDir: string
  readonly config: ClusterConfig
  readonly nodes: readonly ClusterFileNode[]
  /** Rejects (EmuError NODE_FAILED) when a node process of the cluster exits while attached. */
  readonly failed: Promise<never>
  private readonly leave: () => Promise<void>

  constructor(a: Awaited<ReturnType<typeof attachToCluster>>) {
    this.runDir = a.runDir
    this.config = a.config
    this.nodes = a.nodes
    this.failed = a.failed
    this.leave = a.close
    this.host = new Host({
      id: a.id,
      nodes: a.nodes.map(({ id, role }) => ({ id, role })),
      control: a.control,
      device: a.local.device,
      cm: a.local.cm,
      mailbox: new Mailbox(a.control),
      log: pino({ level: 'silent' }),
    })
  }

  /** Leave the cluster; it keeps running. What this host owned on the nodes (MRs, pins, QPs, listeners) is released by them. */
  close(): Promise<void> {
    return this.leave()
  }
}

/**
 * Join a cluster that `rdma-emu up` keeps running, by its run directory (or
 * the `cluster.json` in it), as an extra host on its fabric: every node must
 * answer within `timeoutMs`. Throws EmuError BAD_ARGUMENT for a directory
 * that is no run directory, NODE_FAILED when a node is gone or silent.
 */
export async function attachCluster(runDir: string, opts: { name?: string; timeoutMs?: number } = {}): Promise<AttachedCluster> {
  const file = readClusterFile(runDir, 'attachCluster')
  return new AttachedCluster(await attachToCluster(file, { ...opts, option: 'attachCluster' }))
}
