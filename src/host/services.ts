/**
 * Where a node's role-specific services attach (RDMA device, server memory,
 * data path workers ...). node-host.ts calls attachServices() once the
 * fabric and control plane are up and before the node reports ready, so
 * every handler registered here is in place before any peer can call it.
 * What it attached is returned: a program the node runs
 * (src/host/program-runner.ts) gets its host from it.
 */
import type { NodeContext } from './node-context.ts'
import { attachRdma, type RdmaService } from './rdma-service.ts'
import { openCapture } from './capture.ts'
import { attachBaseline } from './baseline-service.ts'
import { attachDataPath, type DataPathService } from './data-path-service.ts'
import { attachServer, type ServerHost } from '../server/server-host.ts'
import { Mailbox } from '../api/mailbox.ts'
import { Msg } from '../launcher/protocol.ts'

/** The services of one node process. */
export interface NodeServices {
  rdma: RdmaService
  /** Messages from other hosts' programs (queued until this node's program asks). */
  mailbox: Mailbox
  /** On a server node: its memory model, files, pins and policy. */
  server?: ServerHost
  /** On a server node: its responder data path. */
  dataPath?: DataPathService
}

export async function attachServices(ctx: NodeContext): Promise<NodeServices> {
  // Every host, client or server, has an RDMA device on the fabric.
  const capture = ctx.pcap ? openCapture(ctx) : undefined
  const rdma = attachRdma(ctx.control, { timeScale: ctx.cluster.timeScale, deviceModel: ctx.cluster.deviceModel, log: ctx.log, onPacket: capture?.onPacket })
  ctx.onShutdown(() => rdma.close())
  if (capture) ctx.onShutdown(() => capture.close())
  // Raw ZeroMQ messaging for `bench --baseline`, on every node.
  attachBaseline(ctx)
  const mailbox = new Mailbox(ctx.control)
  if (ctx.role !== 'server') return { rdma, mailbox }
  // After attachRdma: the verbs service takes the server's MR backend (RAM arena, pins).
  const server = attachServer(ctx, rdma, {
    shutdownNode: (node) => ctx.control.request(node, Msg.SHUTDOWN, null, 2000),
  })
  ctx.onShutdown(() => server.close())
  // The responder's memory work runs in worker threads over the shared arena.
  const cfg = ctx.nodeConfig.role === 'server' ? ctx.nodeConfig.server : undefined
  const dataPath = attachDataPath(ctx, rdma, server.mem, cfg?.workers ?? 0, cfg?.inlineBatchBytes ?? 0, cfg?.offload ?? 'adaptive')
  ctx.onShutdown(() => dataPath.close())
  return { rdma, mailbox, server, dataPath }
}

export type { NodeContext }
