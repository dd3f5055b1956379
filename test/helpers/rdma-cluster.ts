/**
 * Test harness for RDMA tests over real processes: launches a cluster of
 * real node processes on loopback ZeroMQ, and makes the test process itself
 * a client host (an RDMA device on the launcher's fabric endpoint). The
 * server's application side is driven with RemoteVerbs.
 */
import type { Test } from 'tap'
import { applyDefaults, type ServerConfig } from '../../src/config/defaults.ts'
import { launchCluster, type Cluster } from '../../src/launcher/launch-cluster.ts'
import { attachRdma, type RdmaService } from '../../src/host/rdma-service.ts'
import { RemoteVerbs } from '../../src/verbs/remote-verbs.ts'
import { Access } from '../../src/verbs/constants.ts'
import type { Qp } from '../../src/verbs/qp.ts'
import type { Cq } from '../../src/verbs/cq.ts'
import type { ConnectOptions } from '../../src/verbs/cm.ts'
import type { ListenSpec } from '../../src/verbs/remote-verbs-service.ts'
import type { RemoteMr } from '../../fabric/node-message-types.ts'

export const ALL_ACCESS = Access.LOCAL_WRITE | Access.REMOTE_WRITE | Access.REMOTE_READ | Access.REMOTE_ATOMIC | Access.FLUSH_GLOBAL | Access.FLUSH_PERSISTENT

export interface RdmaCluster {
  cluster: Cluster
  /** The test process's own RDMA stack. */
  local: RdmaService
  /** The server's application side. */
  server: RemoteVerbs
  serverId: string
}

export interface RdmaClusterOptions {
  timeScale?: number
  servers?: number
  clients?: number
  fabric?: { heartbeatIntervalMs?: number; heartbeatTimeoutMs?: number }
  /**
   * Server settings over the defaults, e.g. the pin policy: the default is
   * "upstream" (Linux today), which refuses long-term pins on DAX files and
   * writable ones on page-cached files, so tests that register pinned file
   * MRs say which policy they mean.
   */
  server?: Partial<ServerConfig>
}

export async function startRdmaCluster(t: Test, o: RdmaClusterOptions = {}): Promise<RdmaCluster> {
  const nodes: unknown[] = []
  for (let i = 0; i < (o.servers ?? 1); i++) nodes.push({ id: `server${i}`, role: 'server', host: '127.0.0.1', port: 0, ...(o.server ? { server: o.server } : {}) })
  for (let i = 0; i < (o.clients ?? 0); i++) nodes.push({ id: `client${i}`, role: 'client', host: '127.0.0.1', port: 0 })
  const config = applyDefaults({ name: 'test', logLevel: 'warn', timeScale: o.timeScale ?? 1, fabric: o.fabric, nodes })
  const cluster = await launchCluster({ config, runDir: t.testdir() })
  const local = attachRdma(cluster.control, { timeScale: o.timeScale ?? 1 })
  t.teardown(async () => {
    local.close()
    await cluster.stop()
  })
  return { cluster, local, server: new RemoteVerbs(cluster.control, 'server0'), serverId: 'server0' }
}

export interface Connection {
  qp: Qp
  cq: Cq
  pd: number
  /** The server's QP number (for RemoteVerbs.postRecv / pollCq). */
  remoteQpn: number
  /** Server PD and one registered server buffer. */
  serverPd: number
  serverMr: RemoteMr
}

let nextPort = 1000

/** A connected RC QP from the test process to the server, plus a server buffer. */
export async function connect(rc: RdmaCluster, o: { serverBytes?: number; serverAccess?: number; listenAccess?: number; listenCap?: ListenSpec['cap']; connect?: ConnectOptions } = {}): Promise<Connection> {
  const { local, server, serverId } = rc
  const serverPd = await server.allocPd()
  const serverMr = await server.regMr(serverPd, o.serverBytes ?? 1 << 20, o.serverAccess ?? ALL_ACCESS)
  const port = nextPort++
  await server.listen({ port, pd: serverPd, qpAccessFlags: o.listenAccess, cap: o.listenCap })
  const pd = local.device.allocPd()
  const cq = local.device.createCq(8192)
  const qp = local.device.createQp({ pd, sendCq: cq })
  const rep = await local.cm.connect(qp, serverId, port, o.connect)
  return { qp, cq, pd, remoteQpn: rep.qpn, serverPd, serverMr }
}

/** Deterministic test pattern. */
export function pattern(len: number, seed = 1): Uint8Array {
  const b = new Uint8Array(len)
  let x = seed * 2654435761
  for (let i = 0; i < len; i++) {
    x = (x * 1103515245 + 12345) >>> 0
    b[i] = x >>> 24
  }
  return b
}
