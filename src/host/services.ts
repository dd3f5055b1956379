/**
 * Where a node's role-specific services attach (RDMA device, server memory,
 * data path workers ...). node-host.ts calls attachServices() once the
 * fabric and control plane are up and before the node reports ready, so
 * every handler registered here is in place before any peer can call it.
 */
import type { Logger } from 'pino'
import type { ClusterConfig, NodeConfig, Role } from '../config/defaults.ts'
import type { ZmqTransport } from '../../fabric/zmq-transport.ts'
import type { ControlPlane } from '../../fabric/control-plane.ts'
import { attachRdma } from './rdma-service.ts'
import { openCapture } from './capture.ts'
import { attachBaseline } from './baseline-service.ts'
import { attachDataPath } from './data-path-service.ts'
import { attachServer } from '../server/server-host.ts'
import { Msg } from '../launcher/protocol.ts'

export interface NodeContext {
  id: string
  role: Role
  nodeConfig: NodeConfig
  cluster: ClusterConfig
  transport: ZmqTransport
  control: ControlPlane
  log: Logger
  /** The run directory (logs, sockets). */
  runDir: string
  /** This node's persistent data directory (e.g. the DAX device file). */
  dataDir: string
  /** pcap file for the packets this node sends (`--pcap`), if any. */
  pcap?: string
  /** Register cleanup run on shutdown (awaited, in reverse order, before the transport closes). */
  onShutdown(fn: () => void | Promise<void>): void
  /**
   * True once the node shuts down because its launcher is gone: nobody waits
   * for a clean stop, so slow courtesies (the final sync of the device image)
   * are skipped, as after a crash. FLUSHed and fsynced data is on disk already.
   */
  readonly orphaned: boolean
}

export async function attachServices(ctx: NodeContext): Promise<void> {
  // Every host, client or server, has an RDMA device on the fabric.
  const capture = ctx.pcap ? openCapture(ctx) : undefined
  const rdma = attachRdma(ctx.control, { timeScale: ctx.cluster.timeScale, log: ctx.log, onPacket: capture?.onPacket })
  ctx.onShutdown(() => rdma.close())
  if (capture) ctx.onShutdown(() => capture.close())
  // Raw ZeroMQ messaging for `bench --baseline`, on every node.
  attachBaseline(ctx)
  if (ctx.role === 'server') {
    // After attachRdma: the verbs service takes the server's MR backend (RAM arena, pins).
    const mem = attachServer(ctx, rdma, {
      shutdownNode: (node) => ctx.control.request(node, Msg.SHUTDOWN, null, 2000),
    })
    ctx.onShutdown(() => mem.close())
    // The responder's memory work runs in worker threads over the shared arena.
    const server = ctx.nodeConfig.role === 'server' ? ctx.nodeConfig.server : undefined
    const dataPath = attachDataPath(ctx, rdma, mem.mem, server?.workers ?? 0, server?.inlineBatchBytes ?? 0, server?.offload ?? 'adaptive')
    ctx.onShutdown(() => dataPath.close())
  }
}
