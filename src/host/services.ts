/**
 * Where a node's role-specific services attach (RDMA device, server memory,
 * data path workers ...). node-host.ts calls attachServices() once the
 * fabric and control plane are up and before the node reports ready, so
 * every handler registered here is in place before any peer can call it.
 */
import type { NodeContext } from './node-context.ts'
import { attachRdma } from './rdma-service.ts'
import { openCapture } from './capture.ts'
import { attachBaseline } from './baseline-service.ts'
import { attachDataPath } from './data-path-service.ts'
import { attachServer } from '../server/server-host.ts'
import { Msg } from '../launcher/protocol.ts'

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

export type { NodeContext }
