/**
 * Helpers for the node-fault tests: a client node's RC QP into a server
 * buffer (driven over the control plane), one signaled WRITE through it, and
 * every pid a cluster has had (restarts included), to prove none is left.
 */
import type { Test } from 'tap'
import { RemoteVerbs } from '../../src/verbs/remote-verbs.ts'
import { SendFlags, WrOpcode } from '../../src/verbs/constants.ts'
import type { Wc } from '../../src/verbs/cq.ts'
import type { RemoteMr } from '../../fabric/node-message-types.ts'
import type { RdmaCluster } from './rdma-cluster.ts'
import { waitGone } from '../cluster-helpers.ts'

export interface NodeQp {
  client: RemoteVerbs
  qpn: number
  /** The client's local buffer (on the client node). */
  local: RemoteMr
  /** The server buffer the QP writes into. */
  remote: RemoteMr
}

/** Connect a QP of client node `clientId` to a fresh server buffer (listening on CM port `port`). */
export async function clientQp(rc: RdmaCluster, clientId: string, port: number, remote: { pd: number; mr: RemoteMr }): Promise<NodeQp> {
  await rc.server.listen({ port, pd: remote.pd })
  const client = new RemoteVerbs(rc.cluster.control, clientId)
  const { qpn, pd } = await client.connect(rc.serverId, port)
  const local = await client.regMr(pd, 64 * 1024, 0xf)
  return { client, qpn, local, remote: remote.mr }
}

let wrId = 1

/** One signaled RDMA WRITE of `data` from the client node into the server buffer at `offset`: its completion. */
export async function clientWrite(q: NodeQp, offset: number, data: Uint8Array, waitMs = 3000): Promise<Wc> {
  await q.client.write(q.local.stag, 0, data)
  await q.client.postSend(q.qpn, [{ wrId: wrId++, opcode: WrOpcode.RDMA_WRITE, sgList: [{ stag: q.local.stag, offset: 0, length: data.length }], remoteAddr: q.remote.iova + offset, rkey: q.remote.stag, sendFlags: SendFlags.SIGNALED }])
  const [wc] = await q.client.pollCq(q.qpn, 'send', { min: 1, max: 1, waitMs })
  if (!wc) throw new Error(`no completion within ${waitMs} ms`)
  return wc
}

/** Every pid the cluster's nodes have had, tracking restarts. */
export function trackPids(rc: RdmaCluster): () => number[] {
  const pids = new Set(rc.cluster.nodes.map((n) => n.pid))
  rc.cluster.on('restarted', (n) => pids.add(n.pid))
  return () => [...pids]
}

/** Stop the cluster and check that no process it ever had is left. */
export async function stopLeavesNothing(t: Test, rc: RdmaCluster, pids: () => number[]): Promise<void> {
  rc.local.close()
  await rc.cluster.stop()
  t.same(await waitGone(pids(), 5000), [], 'no node process is left (every pid, restarts included)')
}
