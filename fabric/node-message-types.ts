/**
 * The data types that travel in the node's control messages: what a reply
 * or a notice carries. They live beside the message table
 * (fabric/node-messages.ts) so that both ends import them from the wire,
 * not from each other's implementation. Types owned by a lower layer (file
 * stat, ODP query, work completions) are imported from that layer.
 */
import type { LeaseCounters, PolicyCounters, ServerMemoryStats, StorageFaultStats } from '../src/memory/index.ts'
import type { Policy, Role } from '../src/config/defaults.ts'
import type { PeerInfo } from './transport.ts'
import type { FaultRulesReport } from './fault-rules.ts'

// ---- cluster start-up and node inspection (launcher protocol) ----

export interface HelloBody {
  id: string
  role: Role
  pid: number
  endpoint: string
}

export interface PeerEndpoint {
  id: string
  role: Role
  endpoint: string
}

export interface HelloReply {
  peers: PeerEndpoint[]
}

export interface ReadyBody {
  id: string
  pid: number
  endpoint: string
}

export interface PingPeerBody {
  peer: string
  /** Measured round trips (default 100). */
  count?: number
  /** Unmeasured round trips first (default 10). */
  warmup?: number
  /** Payload bytes carried each way (default 8). */
  size?: number
}

/** Round-trip time statistics, in microseconds. */
export interface RttStats {
  count: number
  minUs: number
  avgUs: number
  p50Us: number
  p99Us: number
  maxUs: number
}

export type PingPeerReply = RttStats & { from: string; to: string }

/** A node's own view of itself (`stats`). */
/** `proc.cpu`: the node process's CPU time so far (process.cpuUsage()) and its clock. */
export interface ProcCpuReply {
  pid: number
  userUs: number
  systemUs: number
  /** performance.timeOrigin + performance.now() of the node, ms. */
  atMs: number
}

/** `auth.counters`: what the node's authorisation refused (by command, by caller) and, with CURVE, its ZAP decisions. */
export interface AuthCountersReply {
  curve: boolean
  refused: number
  byType: Record<string, number>
  byCaller: Record<string, number>
  /** CURVE clients admitted to and refused at the node's ROUTER. */
  zap?: { accepted: number; refused: number }
}

export interface NodeStatsReply {
  id: string
  role: Role
  pid: number
  uptimeMs: number
  endpoint: string
  peers: PeerInfo[]
  control: Record<string, number>
  transport: Record<string, number>
  rssBytes: number
}

// ---- verbs driven over the control plane ----

/** A memory region as the control plane reports it. */
export interface RemoteMr {
  stag: number
  iova: number
  length: number
  pd: number
  access: number
}

/**
 * The kind of mapping a file MR stands for: the mmap(2) the application
 * registered. 'shared' (MAP_SHARED, the default): the NIC reads and writes the
 * file's own pages; under policy upstream a writable one is refused EFAULT on a
 * page-cached file (mm/gup.c check_vma_flags: the mapping needs dirty tracking,
 * mm/mmap.c vma_needs_dirty_tracking). 'private' (MAP_PRIVATE): a writable
 * registration breaks COW first (FOLL_WRITE -> mm/memory.c do_wp_page), so the
 * pins hold anonymous copies and the file never sees the NIC's writes; a
 * read-only one pins the file's pages. FS-DAX is EOPNOTSUPP under upstream
 * either way (src/server/mr-registration.ts).
 */
export type FileMapping = 'shared' | 'private'

/** A scatter/gather element named by MR: bytes [offset, offset+length) of the MR `stag`. */
export interface RemoteSge {
  stag: number
  offset: number
  length: number
}

/** What rdma_cm exchanges: rdma_conn_param plus the QP's address. */
export interface ConnectReply {
  qpn: number
  psn: number
  mtu: number
  /** Initiator depth (our max_rd_atomic) and responder resources (our max_dest_rd_atomic). */
  initiatorDepth: number
  responderResources: number
  privateData?: unknown
}

export interface ConnectRequest extends ConnectReply {
  port: number
}

// ---- layout leases ----

export type LeaseMode = 'comply' | 'ignore'

/** `lease.break`: the server breaks the holder's layout lease (the SIGIO analogue). */
export interface LeaseBreakNotice {
  server?: string
  file: string
  stags: number[]
  /** Time the holder has before revocation (ms, from when the server sent it). */
  deadlineMs: number
  op?: string
}

/** `lease.revoked`: the break time ran out and the server took the MRs away. */
export interface LeaseRevokedNotice {
  server?: string
  file: string
  stags: number[]
  qps: number
}

export interface LeaseNoticeRecord {
  server: string
  file: string
  stags: number[]
  deadlineMs: number
  op?: string
  receivedAt: number
  mode: LeaseMode
  /** ignored; complying (in progress); released (MRs deregistered, lease given back); failed. */
  state: 'ignored' | 'complying' | 'released' | 'failed'
  workloadsStopped: number
  /** QPs whose outstanding WRs on the STags were waited for. */
  qpsDrained: number
  mrsDeregistered: number
  /** Time from the notice to the lease released (ms). */
  tookMs?: number
  error?: string
}

export interface LeaseRevocationRecord {
  server: string
  file: string
  stags: number[]
  qps: number
  receivedAt: number
}

/** `verbs.lease.status`: the notices a host got and what it did about them. */
export interface LeaseStatus {
  mode: LeaseMode
  notices: LeaseNoticeRecord[]
  revocations: LeaseRevocationRecord[]
  fenced: Record<string, number[]>
}

export interface LeaseGrant {
  file: string
  holder: string
  breakTimeMs: number
}

// ---- the server's memory ----

export interface MrCounts {
  file: number
  anon: number
  device: number
}

export interface PolicyStats extends PolicyCounters {
  name: Policy
  leaseBreakTimeMs: number
  /** Short-term pins (mem.pinPages) held now. */
  shortTermPins: number
  leases: LeaseCounters & {
    /** Leases held now, and of those being broken. */
    active: number
    breaking: number
    /** MRs invalidated and QPs moved to ERR by revocations. */
    revokedMrs: number
    revokedQps: number
    /** Holders told to shut down after a revocation (leaseRevokeKill). */
    holdersKilled: number
  }
}

export interface MemStatsReply extends ServerMemoryStats {
  mrs: MrCounts
  /** ODP counters, and how many live MRs are ODP. */
  odp: ServerMemoryStats['odp'] & { mrs: number }
  /** The pin policy and what it did. */
  policy: PolicyStats
}

/** `fs.faults`: the storage faults now in force, and how often each has struck since the server started. */
export type FsFaultsReply = StorageFaultStats

/** `peer.gone` (launcher -> every running node): node `id` is a process that is gone. */
export interface PeerGoneNotice {
  id: string
  /** The pid that exited. */
  pid?: number
  /** What ended it: kill, stop, restart, or crash (an exit nobody asked for). */
  cause?: string
}

/** `mem.pinCounts`: per page of a file range, its frame, pin count and refcount. */
export interface PinCountsReply {
  frames: number[]
  pins: number[]
  refcounts: number[]
}

/** How mem.odpInvalidate drops pages. */
export type OdpDropHow = 'unmap' | 'migrate' | 'dontneed'

// ---- the server's data path ----

export type DataPathMode = 'inline' | 'workers' | 'adaptive'

export interface DataPathReply {
  mode: DataPathMode
  workers: number
  inlineBatchBytes: number
}

/** The worker pool's counters (absent while the data path is inline and no pool was ever started). */
export interface DataPathWorkerCounters {
  tasks: number
  ops: number
  faults: number
  trainsHandedOver: number
  inlineBatches: number
  inlineOps: number
  offloadSwitches: number
  elu: number
  odpHandbacks: number
  odpSkipped: number
  odpHeldBatches: number
}

export type DataPathStatsReply = DataPathReply & { queueDepth: number } & Partial<DataPathWorkerCounters>

// ---- raw ZeroMQ baseline (bench --baseline) ----

export interface BaselineShape {
  /** Requests to answer after the hello. */
  count: number
  /** Bytes of each request. */
  reqBytes: number
  /** Bytes of each answer; 0 = credits every `respEvery` requests. */
  respBytes: number
  /** With respBytes 0: a credit every this many requests. */
  respEvery: number
}

export interface BaselineListenReply {
  token: number
  endpoint: string
  /** With CURVE: the serving socket's public key, for baseline.run. */
  serverKey?: string
}

export interface BaselineRunResult {
  elapsedMs: number
  /** Send-to-answer time of every request, microseconds, in order. */
  latenciesUs: number[]
  /** Problems seen by the driving side (wrong answer sizes ...). */
  problems: string[]
}

export interface BaselineCloseReply {
  /** Requests received after the hello. */
  received: number
  /** Requests whose size was not reqBytes. */
  badSize: number
}

// ---- netem-style fault rules of a node (fabric/fault-rules.ts, src/host/fabric-faults-service.ts) ----

/**
 * fabric.faults.counters: per rule (in force, or removed since the last
 * clear), per link it touched, its counters and its first decisions; and
 * the ICRC drops of the node's device (packets it received corrupted).
 */
export type FabricFaultCountersReply = FaultRulesReport & { icrcErrors: number }
