/**
 * The node's message table: every control message a node, the launcher or
 * a tool sends, in one place, with the schema of its body and the type of
 * its reply. The control plane checks each incoming body against this table
 * before a handler sees it (fabric/message-schema.ts), and both ends take
 * their types from here.
 *
 * Groups: the launcher protocol (hello, ready, shutdown, ping, stats); the
 * RDMA service of every host (verbs.*, cm.*, rdma.*, lease notices); the
 * server's memory (fs.*, mem.*, verbs.mr.regFile/advise, test.*); the raw
 * ZeroMQ baseline (baseline.*).
 */
import { Type as T } from '@sinclair/typebox'
import type { Extent, FsyncResult, LeaseInfo, OdpQuery, Stat } from '../src/memory/index.ts'
import type { Wc } from '../src/verbs/cq.ts'
import type { QpAttr } from '../src/verbs/qp.ts'
import type { WorkloadResult } from '../src/verbs/workload.ts'
import type { FaultCounters } from './faults.ts'
import { Bytes, command, Key, Ms, Name, NoBody, notice, U64, UInt, type BodyOf, type CommandType, type MessageTable, type ReplyOf } from './message-schema.ts'
import type * as W from './node-message-types.ts'

const Opt = T.Optional
/** The reply of a command that answers with nothing but success. */
type Empty = Record<string, never>

const Sge = T.Object({ stag: Key, offset: UInt, length: UInt })
const QpCap = T.Object({ maxSendWr: Opt(UInt), maxRecvWr: Opt(UInt), maxSendSge: Opt(UInt), maxRecvSge: Opt(UInt) })
const QpAttrChange = T.Object({
  qpState: Opt(T.Union([T.Literal(0), T.Literal(1), T.Literal(2), T.Literal(3), T.Literal(4), T.Literal(5), T.Literal(6)])), pathMtu: Opt(UInt), destQpNum: Opt(UInt), destNode: Opt(T.String()), rqPsn: Opt(UInt), sqPsn: Opt(UInt),
  timeout: Opt(UInt), retryCnt: Opt(UInt), rnrRetry: Opt(UInt), minRnrTimer: Opt(UInt), maxRdAtomic: Opt(UInt), maxDestRdAtomic: Opt(UInt),
  qpAccessFlags: Opt(UInt), pkeyIndex: Opt(UInt),
})
/** rdma_conn_param and the QP attributes of the active side. */
export const ConnectOptionsSchema = T.Object({
  mtu: Opt(UInt), initiatorDepth: Opt(UInt), responderResources: Opt(UInt),
  timeout: Opt(UInt), retryCnt: Opt(UInt), rnrRetry: Opt(UInt), minRnrTimer: Opt(UInt), qpAccessFlags: Opt(UInt),
  privateData: Opt(T.Unknown()),
  /** Control-plane timeout for the exchange (ms). */
  timeoutMs: Opt(Ms),
})
const SendWr = T.Object({
  wrId: Opt(T.Integer()), opcode: UInt, sgList: Opt(T.Array(Sge)), sendFlags: Opt(UInt), imm: Opt(UInt),
  remoteAddr: Opt(UInt), rkey: Opt(Key), compareAdd: Opt(U64), swap: Opt(U64),
  flush: Opt(T.Object({ length: UInt, sel: Opt(UInt), plt: Opt(UInt) })),
})
const RecvWr = T.Object({ wrId: T.Integer(), sgList: T.Array(Sge) })
/** A closed-loop workload on one QP (src/verbs/workload.ts). */
const WorkloadSpec = T.Object({
  opcode: UInt, count: UInt, durationMs: Opt(Ms), window: UInt, size: UInt, remoteAddr: UInt, rkey: Key,
  span: Opt(UInt), compareAdd: Opt(U64), swap: Opt(U64), imm: Opt(UInt),
})
const ListenSpec = T.Object({ port: UInt, pd: UInt, cqDepth: Opt(UInt), cap: Opt(QpCap), qpAccessFlags: Opt(UInt) })
const ConnParam = { qpn: UInt, psn: UInt, mtu: UInt, initiatorDepth: UInt, responderResources: UInt, privateData: Opt(T.Unknown()) }
const Probability = T.Number({ minimum: 0, maximum: 1 })
const FaultOptions = T.Object({ drop: Opt(Probability), duplicate: Opt(Probability), reorder: Opt(Probability), seed: Opt(T.Integer()) })
const File = T.Object({ file: Name })
const FileRange = T.Object({ file: Name, offset: Opt(UInt), length: Opt(UInt) })
const Named = T.Object({ name: Name })
const Stag = T.Object({ stag: Key })
const Qpn = T.Object({ qpn: UInt })
const BaselineShape = T.Object({ count: T.Integer({ minimum: 1 }), reqBytes: T.Integer({ minimum: 1 }), respBytes: UInt, respEvery: T.Integer({ minimum: 1 }) })
const FileReg = { pd: UInt, file: Name, offset: UInt, length: UInt, access: UInt, iova: Opt(UInt) }

export const NodeMessages = {
  // ---- launcher protocol (src/launcher/protocol.ts) ----
  hello: command<W.HelloReply>()(T.Object({ id: Name, role: T.Union([T.Literal('client'), T.Literal('server')]), pid: UInt, endpoint: Name })),
  ready: command<{ ok: boolean }>()(T.Object({ id: Name, pid: UInt, endpoint: Name })),
  shutdown: command<{ ok: boolean }>()(NoBody),
  ping: command<unknown>()(NoBody),
  'ping-peer': command<W.PingPeerReply>()(T.Object({ peer: Name, count: Opt(T.Integer({ minimum: 1 })), warmup: Opt(UInt), size: Opt(UInt) })),
  stats: command<W.NodeStatsReply>()(NoBody),

  // ---- the RDMA service of every host (src/verbs/remote-verbs-service.ts) ----
  'verbs.pd.alloc': command<{ pd: number }>()(NoBody),
  'verbs.pd.dealloc': command<Empty>()(T.Object({ pd: UInt })),
  'verbs.mr.reg': command<W.RemoteMr>()(T.Object({ pd: UInt, length: UInt, access: UInt, iova: Opt(UInt) })),
  'verbs.mr.rereg': command<W.RemoteMr>()(T.Object({ stag: Key, access: Opt(UInt), pd: Opt(UInt) })),
  'verbs.mr.dereg': command<Empty>()(Stag),
  'verbs.mem.write': command<Empty>()(T.Object({ stag: Key, offset: UInt, data: Bytes })),
  'verbs.mem.read': command<Uint8Array>()(T.Object({ stag: Key, offset: UInt, length: UInt })),
  'verbs.listen': command<Empty>()(ListenSpec),
  'verbs.unlisten': command<Empty>()(T.Object({ port: UInt })),
  'verbs.qp.postRecv': command<Empty>()(T.Object({ qpn: UInt, wrs: T.Array(RecvWr) })),
  'verbs.qp.postSend': command<Empty>()(T.Object({ qpn: UInt, wrs: T.Array(SendWr) })),
  'verbs.qp.query': command<QpAttr & { stateName: string }>()(Qpn),
  'verbs.qp.modify': command<Empty>()(T.Object({ qpn: UInt, attr: QpAttrChange })),
  'verbs.cq.poll': command<Wc[]>()(T.Object({ qpn: UInt, which: T.Union([T.Literal('send'), T.Literal('recv')]), max: Opt(T.Integer({ minimum: 1 })), min: Opt(UInt), waitMs: Opt(Ms) })),
  'verbs.connect': command<{ qpn: number; pd: number; remoteQpn: number }>()(T.Object({ node: Name, port: UInt, cqDepth: Opt(UInt), cap: Opt(QpCap), options: Opt(ConnectOptionsSchema) })),
  'verbs.disconnect': command<Empty>()(Qpn),
  'verbs.workload': command<WorkloadResult>()(T.Object({ qpn: UInt, localBytes: UInt, spec: WorkloadSpec })),
  'verbs.workload.stop': command<{ stopped: boolean }>()(Qpn),
  'verbs.server.lease': command<W.LeaseGrant>()(T.Object({ node: Name, file: Name })),
  'verbs.server.unlease': command<Empty>()(T.Object({ node: Name, file: Name })),
  'verbs.server.regFile': command<W.RemoteMr>()(T.Object({ node: Name, ...FileReg })),
  'verbs.server.deregMr': command<Empty>()(T.Object({ node: Name, stag: Key })),
  'verbs.lease.mode': command<{ mode: W.LeaseMode }>()(T.Object({ mode: T.Union([T.Literal('comply'), T.Literal('ignore')]) })),
  'verbs.lease.status': command<W.LeaseStatus>()(NoBody),
  'verbs.qps': command<Array<{ qpn: number; state: number; destNode: string; destQpNum: number; owner?: string }>>()(NoBody),
  'verbs.counters': command<Record<string, number>>()(NoBody),
  // rdma_cm between two hosts' connection managers (src/verbs/cm.ts)
  'cm.connect': command<W.ConnectReply>()(T.Object({ port: UInt, ...ConnParam })),
  'cm.disconnect': command<Empty>()(Qpn),
  // seeded fault injection on this host's outgoing packets (fabric/faults.ts)
  'rdma.faults': command<Empty>()(T.Union([T.Null(), FaultOptions])),
  'rdma.faultCounters': command<FaultCounters | null>()(NoBody),
  // the server's responder data path (src/host/data-path-service.ts)
  'rdma.dataPath': command<W.DataPathReply>()(T.Object({ mode: T.Union([T.Literal('inline'), T.Literal('workers'), T.Literal('adaptive')]), workers: Opt(T.Integer({ minimum: 1 })), inlineBatchBytes: Opt(UInt) })),
  'rdma.dataPathStats': command<W.DataPathStatsReply>()(NoBody),
  // the server tells a layout-lease holder (src/verbs/remote-verbs-lease.ts)
  'lease.break': notice(T.Object({ server: Opt(T.String()), file: Name, stags: T.Array(Key), deadlineMs: Ms, op: Opt(T.String()) })),
  'lease.revoked': notice(T.Object({ server: Opt(T.String()), file: Name, stags: T.Array(Key), qps: UInt })),

  // ---- the server's filesystem (a local process on the server host) ----
  'fs.create': command<{ ino: number }>()(T.Object({ name: Name, dax: Opt(T.Boolean()) })),
  'fs.write': command<{ written: number }>()(T.Object({ name: Name, offset: UInt, data: Bytes })),
  'fs.read': command<Uint8Array>()(T.Object({ name: Name, offset: UInt, length: UInt })),
  'fs.truncate': command<Empty>()(T.Object({ name: Name, size: UInt })),
  'fs.punch': command<Empty>()(T.Object({ name: Name, offset: UInt, length: UInt })),
  'fs.fallocate': command<Empty>()(T.Object({ name: Name, mode: Opt(UInt), offset: UInt, length: UInt })),
  'fs.fsync': command<FsyncResult>()(Named),
  'fs.unlink': command<Empty>()(Named),
  'fs.stat': command<Stat>()(Named),
  'fs.extents': command<Extent[]>()(Named),
  'fs.list': command<string[]>()(NoBody),
  // layout leases, F_SETLEASE(F_LAYOUT) / F_UNLCK, held by the node that asks
  'fs.lease': command<W.LeaseGrant>()(File),
  'fs.unlease': command<Empty>()(File),

  // ---- the server's memory: file MRs, pins, ODP, inspection ----
  'verbs.mr.regFile': command<W.RemoteMr>()(T.Object(FileReg)),
  'verbs.mr.advise': command<{ pages: number; async: boolean }>()(T.Object({ stag: Key, advice: UInt, flags: Opt(UInt), sgList: Opt(T.Array(T.Object({ offset: UInt, length: UInt }))), offset: Opt(UInt), length: Opt(UInt) })),
  'mem.stats': command<W.MemStatsReply>()(NoBody),
  'mem.pinCounts': command<W.PinCountsReply>()(FileRange),
  'mem.odpQuery': command<OdpQuery & { kind: string; file?: string }>()(Stag),
  'mem.odpInvalidate': command<{ pages: number; seq: number }>()(T.Object({ stag: Key, offset: Opt(UInt), length: Opt(UInt), how: Opt(T.Union([T.Literal('unmap'), T.Literal('migrate'), T.Literal('dontneed')])) })),
  'mem.leases': command<LeaseInfo[]>()(NoBody),
  'mem.pinPages': command<{ handle: number; frames: number[] }>()(T.Object({ file: Name, offset: UInt, length: UInt, write: Opt(T.Boolean()) })),
  'mem.unpinPages': command<Empty>()(T.Object({ handle: UInt })),
  /** TEST ONLY: free a file's blocks behind its MRs' backs (the unsafe case the oracle measures). */
  'test.freeBehindMr': command<{ blocks: number[] }>()(FileRange),

  // ---- raw ZeroMQ baseline for bench --baseline (src/host/baseline-service.ts) ----
  'baseline.listen': command<W.BaselineListenReply>()(BaselineShape),
  'baseline.run': command<W.BaselineRunResult>()(T.Composite([BaselineShape, T.Object({ endpoint: Name, window: T.Integer({ minimum: 1 }), timeoutMs: Opt(Ms) })])),
  'baseline.received': command<number[]>()(T.Object({ tokens: T.Array(UInt) })),
  'baseline.close': command<W.BaselineCloseReply>()(T.Object({ token: UInt })),
} satisfies MessageTable

export type NodeMessageTable = typeof NodeMessages
export type NodeMessageType = keyof NodeMessageTable
/** The body of node message `K`. */
export type NodeBody<K extends NodeMessageType> = BodyOf<NodeMessageTable, K>
/** The reply of node command `K`. */
export type NodeReply<K extends NodeMessageType> = ReplyOf<NodeMessageTable, K>
/** The node messages that are commands (have a reply). */
export type NodeCommand = CommandType<NodeMessageTable>
/** The sub-commands of the verbs service: `verbs.X` → `X`. */
export type VerbsCommand = NodeCommand extends infer K ? (K extends `verbs.${infer S}` ? S : never) : never
