/**
 * A host of the cluster as the public API hands it out: its fabric identity,
 * its own RDMA device (Context) and connection manager, the cluster's
 * nodes, messages to other hosts, and the services of the server nodes. A
 * program run by a node gets one (ProgramHost, with the server's local file
 * system on a server node); so does a script that launches a cluster or
 * attaches to a running one.
 */
import type { Logger } from 'pino'
import type { ControlPlane } from '../../fabric/control-plane.ts'
import type { Role } from '../config/defaults.ts'
import { EmuError, ErrorCodes } from '../errors.ts'
import type { ConnectionManager as EngineCm } from '../verbs/cm.ts'
import type { RdmaDevice } from '../verbs/device.ts'
import { ConnectionManager } from './cm.ts'
import type { FileSystemApi } from './file-system.ts'
import type { HostMessage, Mailbox, RecvFilter } from './mailbox.ts'
import { ServerSession, type MemStatsReply } from './server-session.ts'
import { Context } from './verbs.ts'

/** One node of the cluster. */
export interface NodeInfo {
  id: string
  role: Role
}

/** What a Host is made of (the host process's RDMA stack on one control plane). */
export interface HostParts {
  id: string
  nodes: NodeInfo[]
  control: ControlPlane
  device: RdmaDevice
  cm: EngineCm
  mailbox: Mailbox
  log: Logger
}

/**
 * A host of the cluster: the process's own RDMA device (`ctx`, as
 * ibv_open_device gives), its rdma_cm (`cm`), the cluster's nodes, messages to
 * other hosts (`send` / `recv`) and the server nodes' services (`server(id)`).
 * Programs get one from their node; `launchCluster` and `attachCluster` give
 * a script one of its own.
 */
export class Host {
  /** This host's fabric id: a node id, or the launcher's / an attached script's own. */
  readonly id: string
  /** Every node of the cluster (this host among them when it is a node). */
  readonly nodes: readonly NodeInfo[]
  /** The other nodes' ids. */
  readonly peers: readonly string[]
  /** This host's RDMA device (ibv_open_device). */
  readonly ctx: Context
  /** This host's rdma_cm: listen, connect, disconnect by node id and port. */
  readonly cm: ConnectionManager
  /** A pino logger (on a node: lines go to <runDir>/<id>.log). */
  readonly log: Logger
  /** The control plane under it (advanced use: raw control messages from fabric/node-messages.ts). */
  readonly control: ControlPlane
  private readonly mailbox: Mailbox
  private readonly sessions = new Map<string, ServerSession>()

  constructor(p: HostParts) {
    this.id = p.id
    this.nodes = p.nodes
    this.peers = p.nodes.map((n) => n.id).filter((n) => n !== p.id)
    this.ctx = new Context(p.device, p.id)
    this.cm = new ConnectionManager(this.ctx, p.cm)
    this.log = p.log
    this.control = p.control
    this.mailbox = p.mailbox
  }

  /** The node ids of a role. */
  nodesOf(role: Role): string[] {
    return this.nodes.filter((n) => n.role === role).map((n) => n.id)
  }

  /**
   * The services of server node `id` (default: the first server node) as
   * this host: its memory registered for RDMA (file-backed or anonymous),
   * listeners whose QPs land in a server PD, its files, its counters.
   */
  server(id?: string): ServerSession {
    const node = id ?? this.nodesOf('server')[0]
    if (node === undefined) throw new EmuError(ErrorCodes.BAD_ARGUMENT, 'this cluster has no server node')
    const known = this.nodes.find((n) => n.id === node)
    if (!known) throw new EmuError(ErrorCodes.BAD_ARGUMENT, `no node "${node}" in this cluster (known: ${this.nodes.map((n) => n.id).join(', ')})`)
    if (known.role !== 'server') throw new EmuError(ErrorCodes.BAD_ARGUMENT, `node "${node}" is a ${known.role}, not a server`)
    let s = this.sessions.get(node)
    if (!s) this.sessions.set(node, (s = new ServerSession(this.control, node)))
    return s
  }

  /** Send `data` to host `to` (a node id, or a script's host id); resolves once it waits in that host's mailbox. */
  send(to: string, data: unknown, tag?: string): Promise<void> {
    return this.mailbox.send(to, data, tag)
  }

  /** The oldest message for this host matching `filter` (sender, tag), waiting for one if needed. */
  recv(filter?: RecvFilter): Promise<HostMessage> {
    return this.mailbox.recv(filter)
  }
}

/** What a program run by a node gets, whatever the node's role. */
export interface ProgramHostBase extends Host {
  readonly role: Role
  /** The program's file (absolute) and its arguments (config `args`, or after `--` on `rdma-emu node`). */
  readonly program: string
  readonly args: readonly string[]
  /** Aborted when the node shuts down (the cluster is ending): a long-running program stops on it. */
  readonly signal: AbortSignal
  /** The run directory and this node's data directory. */
  readonly runDir: string
  readonly dataDir: string
}

/** A program on a client node. */
export interface ClientProgramHost extends ProgramHostBase {
  readonly role: 'client'
}

/**
 * A program on a server node: a process on that machine. It sees the
 * server's own files (create, write, read, truncate, punch, fallocate,
 * fsync, unlink, stat, lease) and its counters, and can be the seeds'
 * "Process B" that truncates a file under a client's RDMA.
 */
export interface ServerProgramHost extends ProgramHostBase {
  readonly role: 'server'
  /** The server's local file system. */
  readonly fs: FileSystemApi
  /** What `mem.stats` answers: pins (nr_foll_pin_acquired/released ...), the oracle (corruptBytes, victims), the policy's counters, file system, DAX, ODP. */
  counters(): Promise<MemStatsReply>
}

/** The one argument of a program: `export default async function (host) { ... }`. */
export type ProgramHost = ClientProgramHost | ServerProgramHost

/** A program module's default export (or named `main`). A number it returns is its exit status. */
export type Program = (host: ProgramHost) => unknown
