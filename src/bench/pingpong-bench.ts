/**
 * write_lat and send_lat as perftest runs them: an application ping-pong
 * (src/verbs/pingpong.ts) with both ends live. The server node answers every
 * message from its bench target, the client node times the round trips from
 * a buffer of its own ([send area][receive area], registered here so the
 * server can WRITE into it). Both loops run inside their node processes.
 */
import { Access } from '../verbs/constants.ts'
import type { PingPongResult, PingPongSpec } from '../verbs/pingpong.ts'
import type { RemoteVerbs } from '../verbs/remote-verbs.ts'
import type { BenchOptions } from './bench-options.ts'
import type { BenchRegion } from './data-check.ts'
import type { RemoteMr } from '../../fabric/node-message-types.ts'

/** write_lat and send_lat run as a ping-pong; a 0-byte write_lat has no byte to poll and times post to completion. */
export function usesPingPong(o: Pick<BenchOptions, 'kind' | 'verb' | 'size'>): boolean {
  return o.kind === 'lat' && (o.verb === 'send' || (o.verb === 'write' && o.size >= 1))
}

export interface PingPongConn {
  client: RemoteVerbs
  qpn: number
  pd: number
  remoteQpn: number
}

/** One QP's ping-pong: the client's round trips and the server's answers. */
export interface PingPongOutcome {
  client: PingPongResult
  server: PingPongResult
}

/**
 * Run the ping-pong on every connection in parallel. `registered` collects
 * the client buffers for the caller's clean-up (deregister on the client).
 */
export async function runPingPongs(server: RemoteVerbs, conns: readonly PingPongConn[], regions: readonly BenchRegion[], o: BenchOptions, timeoutMs: number, registered: Array<{ client: RemoteVerbs; stag: number; iova: number }>): Promise<PingPongOutcome[]> {
  const verb = o.verb === 'send' ? 'send' : 'write'
  const bufs: RemoteMr[] = []
  for (const c of conns) {
    const mr = await c.client.regMr(c.pd, 2 * o.size, Access.LOCAL_WRITE | Access.REMOTE_WRITE)
    registered.push({ client: c.client, stag: mr.stag, iova: mr.iova })
    bufs.push(mr)
  }
  const serving = conns.map((c, k) => {
    const region = regions[k]!.mr
    // The server answers from the bytes it received (its count is already in the last byte, as perftest's server writes it).
    const spec: PingPongSpec = {
      role: 'server', verb, count: o.iters, size: o.size, localStag: region.stag, sendOffset: 0, recvOffset: 0,
      ...(verb === 'write' ? { remoteAddr: bufs[k]!.iova + o.size, rkey: bufs[k]!.stag } : {}),
    }
    return server.pingpong(c.remoteQpn, spec, timeoutMs)
  })
  // The server's loops have started (its requests are served in order), with their receives posted.
  await server.queryQp(conns[0]!.remoteQpn)
  const clients = conns.map(async (c, k) => {
    const region = regions[k]!.mr
    const spec: PingPongSpec = {
      role: 'client', verb, count: o.iters, size: o.size, localStag: bufs[k]!.stag, sendOffset: 0, recvOffset: o.size,
      ...(o.duration !== undefined ? { durationMs: o.duration * 1000 } : {}),
      ...(verb === 'write' ? { remoteAddr: region.iova, rkey: region.stag } : {}),
    }
    try {
      return await c.client.pingpong(c.qpn, spec, timeoutMs)
    } finally {
      // -D, or a client that gave up: the server's loop waits for a message that will not come.
      await server.stopWorkload(c.remoteQpn).catch(() => {})
    }
  })
  const [clientResults, serverResults] = await Promise.all([Promise.all(clients), Promise.all(serving)])
  return clientResults.map((client, k) => ({ client, server: serverResults[k]! }))
}

/** What the server's side of QP `k` must have done: answer every round trip, without error. */
export function pingPongProblems(k: number, r: PingPongOutcome): string[] {
  const problems: string[] = []
  if (r.server.errors > 0) problems.push(`QP ${k}: the server's answers had ${r.server.errors} completion(s) in error`)
  if (r.server.completed !== r.client.completed) problems.push(`QP ${k}: the server answered ${r.server.completed} times for ${r.client.completed} round trips`)
  if (r.client.timedOut) problems.push(`QP ${k}: an answer did not come in time`)
  return problems
}
