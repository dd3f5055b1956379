/**
 * Connecting an RC QP of the local host to a listener on a "server" host
 * through the CM, for suites that run both over node processes
 * (./rdma-cluster.ts) and in one process (./engine-pair.ts).
 */
import type { RdmaService } from '../../src/host/rdma-service.ts'
import type { RemoteVerbs } from '../../src/verbs/remote-verbs.ts'
import { Access } from '../../src/verbs/constants.ts'
import type { Qp } from '../../src/verbs/qp.ts'
import type { Cq } from '../../src/verbs/cq.ts'
import type { ConnectOptions } from '../../src/verbs/cm.ts'
import type { ListenSpec } from '../../src/verbs/remote-verbs-service.ts'
import type { RemoteMr } from '../../fabric/node-message-types.ts'

/**
 * Every right a RAM buffer can be registered with. Not FLUSH_PERSISTENT: over
 * memory that is not persistent, rxe refuses it with EINVAL
 * (rxe_mr_fill_pages_from_sgt); a FLUSH to such an MR asks for global
 * visibility (placement type 1).
 */
export const ALL_ACCESS = Access.LOCAL_WRITE | Access.REMOTE_WRITE | Access.REMOTE_READ | Access.REMOTE_ATOMIC | Access.FLUSH_GLOBAL
/** ALL_ACCESS and FLUSH_PERSISTENT: for persistent memory only (a range of a DAX file, a buffer standing for pmem). */
export const PMEM_ACCESS = ALL_ACCESS | Access.FLUSH_PERSISTENT

/** A local RDMA stack and the application side of a server host, driven over the control plane. */
export interface RdmaHosts {
  /** The test process's own RDMA stack. */
  local: RdmaService
  /** The server's application side. */
  server: RemoteVerbs
  serverId: string
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
export async function connect(rc: RdmaHosts, o: { serverBytes?: number; serverAccess?: number; listenAccess?: number; listenCap?: ListenSpec['cap']; connect?: ConnectOptions } = {}): Promise<Connection> {
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
