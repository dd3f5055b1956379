/**
 * The node's message table: every control message a node, the launcher or
 * a tool sends, in one place, with the schema of its body and the type of
 * its reply. The control plane checks each incoming body against this table
 * before a handler sees it (fabric/message-schema.ts), and both ends take
 * their types from here.
 *
 * Groups: the launcher protocol (hello, ready, shutdown, peer.gone, ping, stats,
 * program.exit) and program messages (program.message); the
 * RDMA service of every host (verbs.*, cm.*, rdma.*, lease notices); the
 * server's memory (fs.*, mem.*, verbs.mr.regFile/advise, test.*); a node's
 * fault rules (fabric.faults.*); the raw
 * ZeroMQ baseline (baseline.*).
 */
import * as v from 'valibot'
import type { Extent, FsyncResult, LeaseInfo, OdpQuery, Stat } from '../src/memory/index.ts'
import type { Wc } from '../src/verbs/cq.ts'
import type { QpAttr } from '../src/verbs/qp.ts'
import type { WorkloadResult } from '../src/verbs/workload.ts'
import type { PingPongResult } from '../src/verbs/pingpong.ts'
import type { FaultCounters } from './faults.ts'
import { FaultRuleSchema } from './fault-rules.ts'
import { Bytes, command, IntFrom, Key, Ms, Name, NoBody, notice, U64, UInt, type BodyOf, type CommandType, type MessageTable, type ReplyOf } from './message-schema.ts'
import type * as W from './node-message-types.ts'

const Opt = v.optional
/** The reply of a command that answers with nothing but success. */
type Empty = Record<string, never>

const Sge = v.object({ stag: Key, offset: UInt, length: UInt })
const QpCap = v.object({ maxSendWr: Opt(UInt), maxRecvWr: Opt(UInt), maxSendSge: Opt(UInt), maxRecvSge: Opt(UInt) })
const QpAttrChange = v.object({
  qpState: Opt(v.picklist([0, 1, 2, 3, 4, 5, 6])), pathMtu: Opt(UInt), destQpNum: Opt(UInt), destNode: Opt(v.string()), rqPsn: Opt(UInt), sqPsn: Opt(UInt),
  timeout: Opt(UInt), retryCnt: Opt(UInt), rnrRetry: Opt(UInt), minRnrTimer: Opt(UInt), maxRdAtomic: Opt(UInt), maxDestRdAtomic: Opt(UInt),
  qpAccessFlags: Opt(UInt), pkeyIndex: Opt(UInt), portNum: Opt(UInt), enSqdAsyncNotify: Opt(v.boolean()),
})
/** rdma_conn_param and the QP attributes of the active side. */
export const ConnectOptionsSchema = v.object({
  mtu: Opt(UInt), initiatorDepth: Opt(UInt), responderResources: Opt(UInt),
  timeout: Opt(UInt), retryCnt: Opt(UInt), rnrRetry: Opt(UInt), minRnrTimer: Opt(UInt), qpAccessFlags: Opt(UInt),
  privateData: Opt(v.unknown()),
  /** Control-plane timeout for the exchange (ms). */
  timeoutMs: Opt(Ms),
})
const SendWr = v.object({
  wrId: Opt(v.pipe(v.number(), v.integer())), opcode: UInt, sgList: Opt(v.array(Sge)), sendFlags: Opt(UInt), imm: Opt(UInt),
  remoteAddr: Opt(UInt), rkey: Opt(Key), compareAdd: Opt(U64), swap: Opt(U64),
  flush: Opt(v.object({ length: UInt, sel: Opt(UInt), plt: Opt(UInt) })),
})
const RecvWr = v.object({ wrId: v.pipe(v.number(), v.integer()), sgList: v.array(Sge) })
/** A closed-loop workload on one QP (src/verbs/workload.ts). */
const WorkloadHistory = v.object({ stream: Name, mr: Name, server: Name, client: Name, firstOpId: IntFrom(1), t0EpochMs: Ms, mrIova: UInt })
const WorkloadMix = v.array(v.object({ op: v.picklist(['write', 'read', 'fetchAdd', 'cmpSwap', 'send']), weight: v.pipe(v.number(), v.finite(), v.minValue(0)) }))
const WorkloadSpec = v.object({
  opcode: UInt, count: UInt, durationMs: Opt(Ms), window: UInt, size: UInt, remoteAddr: UInt, rkey: Key,
  span: Opt(UInt), compareAdd: Opt(U64), swap: Opt(U64), imm: Opt(UInt),
  signalEvery: Opt(IntFrom(1)), postList: Opt(IntFrom(1)), events: Opt(v.boolean()),
  // checked mode (src/verbs/workload-checked.ts)
  history: Opt(WorkloadHistory), mix: Opt(WorkloadMix), seed: Opt(v.pipe(v.number(), v.safeInteger())), readSize: Opt(UInt), sendSize: Opt(UInt), recv: Opt(Sge),
  atomicOffset: Opt(UInt), atomicSpan: Opt(IntFrom(1)), casOffset: Opt(UInt), casSpan: Opt(IntFrom(1)), addend: Opt(U64), atomicInitial: Opt(U64),
  flushEvery: Opt(UInt), flushPlt: Opt(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(3))), drainMs: Opt(Ms), sampleMs: Opt(Ms),
})
/** One side of a latency ping-pong (src/verbs/pingpong.ts). */
const PingPongSpec = v.object({
  role: v.picklist(['client', 'server']), verb: v.picklist(['write', 'send']), count: UInt, durationMs: Opt(Ms), size: UInt,
  localStag: Key, sendOffset: UInt, recvOffset: UInt, remoteAddr: Opt(UInt), rkey: Opt(Key), recvDepth: Opt(IntFrom(1)), answerTimeoutMs: Opt(Ms),
})
const ListenSpec = v.object({ port: UInt, pd: UInt, cqDepth: Opt(UInt), cap: Opt(QpCap), qpAccessFlags: Opt(UInt), srq: Opt(v.object({ maxWr: IntFrom(1) })) })
const ConnParam = { qpn: UInt, psn: UInt, mtu: UInt, initiatorDepth: UInt, responderResources: UInt, privateData: Opt(v.unknown()) }
const Probability = v.pipe(v.number(), v.minValue(0), v.maxValue(1))
const FaultOptions = v.object({ drop: Opt(Probability), duplicate: Opt(Probability), reorder: Opt(Probability), seed: Opt(v.pipe(v.number(), v.integer())) })
const File = v.object({ file: Name })
const FileRange = v.object({ file: Name, offset: Opt(UInt), length: Opt(UInt) })
const Named = v.object({ name: Name })
const Stag = v.object({ stag: Key })
const Qpn = v.object({ qpn: UInt })
const BaselineShape = v.object({ count: IntFrom(1), reqBytes: IntFrom(1), respBytes: UInt, respEvery: IntFrom(1) })
/** `fs.faults`: the storage faults in force (src/memory/storage-faults.ts); unknown fields are refused. */
const StorageFaultsBody = v.nullable(v.strictObject({
  fsync: Opt(v.nullable(v.picklist(['EIO']))),
  flush: Opt(v.nullable(v.picklist(['EIO']))),
  enospc: Opt(v.boolean()),
}))
/** `mapping`: the kind of mmap the file MR stands for (default 'shared', MAP_SHARED); 'private' is MAP_PRIVATE (src/server/mr-registration.ts). */
const FileReg = { pd: UInt, file: Name, offset: UInt, length: UInt, access: UInt, iova: Opt(UInt), mapping: Opt(v.picklist(['shared', 'private'])) }

export const NodeMessages = {
  // ---- launcher protocol (src/launcher/protocol.ts) ----
  hello: command<W.HelloReply>()(v.object({ id: Name, role: v.picklist(['client', 'server']), pid: UInt, endpoint: Name })),
  ready: command<{ ok: boolean }>()(v.object({ id: Name, pid: UInt, endpoint: Name })),
  shutdown: command<{ ok: boolean }>()(NoBody),
  ping: command<unknown>()(NoBody),
  'ping-peer': command<W.PingPeerReply>()(v.object({ peer: Name, count: Opt(IntFrom(1)), warmup: Opt(UInt), size: Opt(UInt) })),
  stats: command<W.NodeStatsReply>()(NoBody),
  // the node process's own CPU time (process.cpuUsage: user and system µs, every thread), for bench --cpu_util
  'proc.cpu': command<W.ProcCpuReply>()(NoBody),
  // refusals of the node's control-plane authorisation (fabric/control-auth.ts), and its ZAP decisions with CURVE
  'auth.counters': command<W.AuthCountersReply>()(NoBody),
  // the launcher: a node process is gone (killed, crashed, stopped), the authoritative death signal (src/host/node-host.ts)
  'peer.gone': notice(v.object({ id: Name, pid: Opt(UInt), cause: Opt(v.string()) })),
  // a node's program ended (node -> launcher; src/host/program-runner.ts, src/launcher/program-exits.ts)
  'program.exit': command<{ ok: boolean }>()(v.object({ id: Name, program: Name, code: v.pipe(v.number(), v.safeInteger()), error: Opt(v.string()) })),
  // one program's message to another host (host.send / host.recv, src/api/mailbox.ts)
  'program.message': command<Empty>()(v.object({ tag: Opt(v.string()), data: v.unknown() })),

  // ---- the RDMA service of every host (src/verbs/remote-verbs-service.ts) ----
  'verbs.pd.alloc': command<{ pd: number }>()(NoBody),
  'verbs.pd.dealloc': command<Empty>()(v.object({ pd: UInt })),
  'verbs.mr.reg': command<W.RemoteMr>()(v.object({ pd: UInt, length: UInt, access: UInt, iova: Opt(UInt) })),
  'verbs.mr.rereg': command<W.RemoteMr>()(v.object({ stag: Key, access: Opt(UInt), pd: Opt(UInt) })),
  'verbs.mr.dereg': command<Empty>()(Stag),
  'verbs.mem.write': command<Empty>()(v.object({ stag: Key, offset: UInt, data: Bytes })),
  'verbs.mem.read': command<Uint8Array>()(v.object({ stag: Key, offset: UInt, length: UInt })),
  'verbs.listen': command<{ srqn?: number }>()(ListenSpec),
  'verbs.unlisten': command<Empty>()(v.object({ port: UInt })),
  'verbs.qp.postRecv': command<Empty>()(v.object({ qpn: UInt, wrs: v.array(RecvWr) })),
  // the SRQ of a listener made with `srq` (bench --use-srq): post receives to it, and how many its QPs took
  'verbs.srq.postRecv': command<Empty>()(v.object({ port: UInt, wrs: v.array(RecvWr) })),
  'verbs.srq.query': command<{ srqn: number; posted: number; left: number; taken: number }>()(v.object({ port: UInt })),
  'verbs.qp.postSend': command<Empty>()(v.object({ qpn: UInt, wrs: v.array(SendWr) })),
  'verbs.qp.query': command<QpAttr & { stateName: string }>()(Qpn),
  'verbs.qp.modify': command<Empty>()(v.object({ qpn: UInt, attr: QpAttrChange })),
  'verbs.cq.poll': command<Wc[]>()(v.object({ qpn: UInt, which: v.picklist(['send', 'recv']), max: Opt(IntFrom(1)), min: Opt(UInt), waitMs: Opt(Ms) })),
  'verbs.connect': command<{ qpn: number; pd: number; remoteQpn: number }>()(v.object({ node: Name, port: UInt, cqDepth: Opt(UInt), cap: Opt(QpCap), options: Opt(ConnectOptionsSchema) })),
  'verbs.disconnect': command<Empty>()(Qpn),
  'verbs.workload': command<WorkloadResult>()(v.object({ qpn: UInt, localBytes: UInt, spec: WorkloadSpec })),
  'verbs.workload.stop': command<{ stopped: boolean }>()(Qpn),
  'verbs.pingpong': command<PingPongResult>()(v.object({ qpn: UInt, spec: PingPongSpec, timeoutMs: Opt(Ms) })),
  'verbs.server.lease': command<W.LeaseGrant>()(v.object({ node: Name, file: Name })),
  'verbs.server.unlease': command<Empty>()(v.object({ node: Name, file: Name })),
  'verbs.server.regFile': command<W.RemoteMr>()(v.object({ node: Name, ...FileReg })),
  'verbs.server.deregMr': command<Empty>()(v.object({ node: Name, stag: Key })),
  'verbs.lease.mode': command<{ mode: W.LeaseMode }>()(v.object({ mode: v.picklist(['comply', 'ignore']) })),
  'verbs.lease.status': command<W.LeaseStatus>()(NoBody),
  'verbs.qps': command<Array<{ qpn: number; state: number; destNode: string; destQpNum: number; owner?: string }>>()(NoBody),
  'verbs.counters': command<Record<string, number>>()(NoBody),
  // rdma_cm between two hosts' connection managers (src/verbs/cm.ts)
  'cm.connect': command<W.ConnectReply>()(v.object({ port: UInt, ...ConnParam })),
  'cm.disconnect': command<Empty>()(Qpn),
  // seeded fault injection on this host's outgoing packets (fabric/faults.ts)
  'rdma.faults': command<Empty>()(v.nullable(FaultOptions)),
  'rdma.faultCounters': command<FaultCounters | null>()(NoBody),
  // netem-style fault rules on this node's outgoing frames (fabric/fault-rules.ts, src/host/fabric-faults-service.ts)
  'fabric.faults.add': command<Empty>()(v.object({ rule: FaultRuleSchema })),
  'fabric.faults.remove': command<Empty>()(v.object({ id: Name })),
  'fabric.faults.clear': command<Empty>()(NoBody),
  'fabric.faults.counters': command<W.FabricFaultCountersReply>()(NoBody),
  // the server's responder data path (src/host/data-path-service.ts)
  'rdma.dataPath': command<W.DataPathReply>()(v.object({ mode: v.picklist(['inline', 'workers', 'adaptive']), workers: Opt(IntFrom(1)), inlineBatchBytes: Opt(UInt) })),
  'rdma.dataPathStats': command<W.DataPathStatsReply>()(NoBody),
  // the server tells a layout-lease holder (src/verbs/remote-verbs-lease.ts)
  'lease.break': notice(v.object({ server: Opt(v.string()), file: Name, stags: v.array(Key), deadlineMs: Ms, op: Opt(v.string()) })),
  'lease.revoked': notice(v.object({ server: Opt(v.string()), file: Name, stags: v.array(Key), qps: UInt })),

  // ---- the server's filesystem (a local process on the server host) ----
  'fs.create': command<{ ino: number }>()(v.object({ name: Name, dax: Opt(v.boolean()) })),
  'fs.write': command<{ written: number }>()(v.object({ name: Name, offset: UInt, data: Bytes })),
  'fs.read': command<Uint8Array>()(v.object({ name: Name, offset: UInt, length: UInt })),
  // waitMs: a wait for busy DAX pages (or a lease break) is interrupted after that long: EINTR (src/server/server-fs.ts)
  'fs.truncate': command<Empty>()(v.object({ name: Name, size: UInt, waitMs: Opt(UInt) })),
  'fs.punch': command<Empty>()(v.object({ name: Name, offset: UInt, length: UInt, waitMs: Opt(UInt) })),
  // interrupt every truncate / punch waiting on the file (a signal to the waiting process): they fail EINTR
  'fs.interrupt': command<{ interrupted: number }>()(Named),
  'fs.fallocate': command<Empty>()(v.object({ name: Name, mode: Opt(UInt), offset: UInt, length: UInt })),
  'fs.fsync': command<FsyncResult>()(Named),
  'fs.unlink': command<Empty>()(Named),
  'fs.stat': command<Stat>()(Named),
  'fs.extents': command<Extent[]>()(Named),
  'fs.list': command<string[]>()(NoBody),
  // storage faults on the server's device: fsync EIO, RDMA FLUSH EIO, ENOSPC (src/server/storage-fault-commands.ts)
  'fs.faults': command<W.FsFaultsReply>()(StorageFaultsBody),
  // layout leases, F_SETLEASE(F_LAYOUT) / F_UNLCK, held by the node that asks
  'fs.lease': command<W.LeaseGrant>()(File),
  'fs.unlease': command<Empty>()(File),

  // ---- the server's memory: file MRs, pins, ODP, inspection ----
  'verbs.mr.regFile': command<W.RemoteMr>()(v.object(FileReg)),
  'verbs.mr.advise': command<{ pages: number; async: boolean }>()(v.object({ stag: Key, advice: UInt, flags: Opt(UInt), sgList: Opt(v.array(v.object({ offset: UInt, length: UInt }))), offset: Opt(UInt), length: Opt(UInt) })),
  'mem.stats': command<W.MemStatsReply>()(NoBody),
  'mem.pinCounts': command<W.PinCountsReply>()(FileRange),
  'mem.odpQuery': command<OdpQuery & { kind: string; file?: string }>()(Stag),
  'mem.odpInvalidate': command<{ pages: number; seq: number }>()(v.object({ stag: Key, offset: Opt(UInt), length: Opt(UInt), how: Opt(v.picklist(['unmap', 'migrate', 'dontneed'])) })),
  'mem.leases': command<LeaseInfo[]>()(NoBody),
  // ref: a plain page reference (get_page, FOLL_GET) instead of a FOLL_PIN pin (src/server/short-term-pins.ts)
  'mem.pinPages': command<{ handle: number; frames: number[] }>()(v.object({ file: Name, offset: UInt, length: UInt, write: Opt(v.boolean()), ref: Opt(v.boolean()) })),
  'mem.unpinPages': command<Empty>()(v.object({ handle: UInt })),
  /** TEST ONLY: free a file's blocks behind its MRs' backs (the unsafe case the oracle measures). */
  'test.freeBehindMr': command<{ blocks: number[] }>()(FileRange),

  // ---- raw ZeroMQ baseline for bench --baseline (src/host/baseline-service.ts) ----
  'baseline.listen': command<W.BaselineListenReply>()(BaselineShape),
  // serverKey: with CURVE, the serving node's public key (baseline.listen's reply)
  'baseline.run': command<W.BaselineRunResult>()(v.object({ ...BaselineShape.entries, endpoint: Name, serverKey: Opt(Name), window: IntFrom(1), timeoutMs: Opt(Ms) })),
  'baseline.received': command<number[]>()(v.object({ tokens: v.array(UInt) })),
  'baseline.close': command<W.BaselineCloseReply>()(v.object({ token: UInt })),
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
