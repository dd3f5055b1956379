/**
 * Helpers for the ODP tests: one-WR round trips from the test process, a
 * connection into an existing server PD (after a QP went to ERR), and the
 * server's ODP / pin / oracle counters.
 */
import type { ControlPlane } from '../../fabric/control-plane.ts'
import type { NodeCommand, NodeReply } from '../../fabric/node-messages.ts'
import type { Test } from 'tap'
import type { RdmaCluster } from './rdma-cluster.ts'
import type { Qp } from '../../src/verbs/qp.ts'
import type { Cq } from '../../src/verbs/cq.ts'
import type { Mr } from '../../src/memory/stag.ts'
import type { OdpQuery, OdpStats, OracleReport, PinStats } from '../../src/memory/index.ts'
import { SendFlags, WrOpcode } from '../../src/verbs/constants.ts'

export const PAGE = 4096

export interface Conn {
  qp: Qp
  cq: Cq
  pd: number
  local: Mr
}

export interface ServerStats {
  odp: OdpStats & { mrs: number }
  pins: PinStats
  oracle: OracleReport
  freeRamFrames: number
  mrs: { file: number; anon: number; device: number }
}

/** Control-plane request to the server. */
export function serverReq(rc: RdmaCluster) {
  return controlReq(rc.cluster.control, rc.serverId)
}

/**
 * Control-plane requests to `peer`, typed by the node message table; the body
 * is not type-checked, so tests can send malformed ones on purpose.
 */
export function controlReq(control: ControlPlane, peer: string) {
  const request = control.request as (peer: string, type: string, body: unknown, timeoutMs?: number) => Promise<unknown>
  return <K extends NodeCommand>(type: K, body?: unknown, timeoutMs?: number): Promise<NodeReply<K>> => request.call(control, peer, type, body ?? null, timeoutMs) as Promise<NodeReply<K>>
}

export function stats(rc: RdmaCluster): Promise<ServerStats> {
  return serverReq(rc)('mem.stats')
}

export function odpQuery(rc: RdmaCluster, stag: number): Promise<OdpQuery> {
  return serverReq(rc)('mem.odpQuery', { stag })
}

export function dropPages(rc: RdmaCluster, stag: number, how: 'unmap' | 'migrate' | 'dontneed', range: { offset?: number; length?: number } = {}): Promise<{ pages: number; seq: number }> {
  return serverReq(rc)('mem.odpInvalidate', { stag, how, ...range })
}

/** A fresh RC connection from the test process into server PD `serverPd` (listening on `port`, unique per test). */
export async function connectTo(rc: RdmaCluster, serverPd: number, port: number, localBytes = 1 << 20): Promise<Conn> {
  await rc.server.listen({ port, pd: serverPd })
  const dev = rc.local.device
  const pd = dev.allocPd()
  const cq = dev.createCq(8192)
  const qp = dev.createQp({ pd, sendCq: cq })
  await rc.local.cm.connect(qp, rc.serverId, port)
  const local = dev.regMr(pd, localBytes, 0xf)
  return { qp, cq, pd, local }
}

let wrIds = 1

/** One WR, waited for: returns the completion status. Local bytes at `localOff` of the connection's buffer. */
export async function post(c: Conn, opcode: number, remoteAddr: number, rkey: number, length: number, o: { localOff?: number; compareAdd?: bigint; swap?: bigint } = {}): Promise<number> {
  const wrId = wrIds++
  c.qp.postSend({ wrId, opcode, sgList: length ? [{ addr: c.local.iova + (o.localOff ?? 0), length, lkey: c.local.stag }] : [], remoteAddr, rkey, compareAdd: o.compareAdd, swap: o.swap, sendFlags: SendFlags.SIGNALED })
  const wc = await c.cq.next()
  return wc.status
}

/** The connection buffer's bytes. */
export function buf(c: Conn): Uint8Array {
  return c.local.memory.view(0, c.local.length)!
}

export function u64(b: Uint8Array, off = 0): bigint {
  return new DataView(b.buffer, b.byteOffset + off, 8).getBigUint64(0, true)
}

export const Op = WrOpcode

/** Oracle, pins and free RAM frames the way a clean run leaves them. */
export function assertClean(t: Test, s: ServerStats, what: string): void {
  t.equal(s.oracle.corruptBytes, 0, `${what}: no byte landed where its MR no longer owns the frame`)
  t.equal(s.oracle.leakBytes, 0, `${what}: no byte was read from a frame its MR no longer owns`)
}
