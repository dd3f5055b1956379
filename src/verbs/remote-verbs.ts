import type { NodeBody, NodeReply, VerbsCommand } from '../../fabric/node-messages.ts'
import type { ControlPlane } from '../../fabric/control-plane.ts'
import { Params } from '../params.ts'
import type { Wc } from './cq.ts'
import type { QpAttr } from './qp.ts'
import type { ListenSpec } from './remote-verbs-service.ts'
import type { FileMapping, LeaseMode, LeaseStatus, RemoteMr, RemoteSge } from '../../fabric/node-message-types.ts'
import type { SendWr } from '../engine/wqe.ts'
import type { ConnectOptions } from './cm.ts'
import type { WorkloadResult, WorkloadSpec } from './workload.ts'
import type { PingPongResult, PingPongSpec } from './pingpong.ts'

/** Client of RemoteVerbsService: drive another host's verbs over the control plane. */
export class RemoteVerbs {
  constructor(
    readonly control: ControlPlane,
    readonly node: string,
    readonly timeoutMs?: number,
  ) {}

  private call<K extends VerbsCommand>(type: K, body?: NodeBody<`verbs.${K}`>, timeoutMs?: number): Promise<NodeReply<`verbs.${K}`>> {
    // One generic path for every verbs.* command: the table has checked K, body and reply types above.
    const request = this.control.request as (peer: string, type: string, body: unknown, timeoutMs?: number) => Promise<NodeReply<`verbs.${K}`>>
    return request.call(this.control, this.node, `verbs.${type}`, body, timeoutMs ?? this.timeoutMs)
  }

  async allocPd(): Promise<number> {
    return (await this.call('pd.alloc')).pd
  }
  async deallocPd(pd: number): Promise<void> {
    await this.call('pd.dealloc', { pd })
  }
  regMr(pd: number, length: number, access: number, iova?: number): Promise<RemoteMr> {
    return this.call('mr.reg', { pd, length, access, iova })
  }
  reregMr(stag: number, change: { access?: number; pd?: number }): Promise<RemoteMr> {
    return this.call('mr.rereg', { stag, ...change })
  }
  async deregMr(stag: number): Promise<void> {
    await this.call('mr.dereg', { stag })
  }
  /**
   * ibv_advise_mr on an ODP MR of a server: advice IBV_ADVISE_MR_ADVICE_PREFETCH (0),
   * PREFETCH_WRITE (1) or PREFETCH_NO_FAULT (2); flags IB_UVERBS_ADVISE_MR_FLAG_FLUSH (1)
   * waits until the pages are mapped. Ranges are MR offsets (default: the whole MR).
   */
  adviseMr(stag: number, advice: number, flags = 0, sgList?: Array<{ offset: number; length: number }>): Promise<{ pages: number; async: boolean }> {
    return this.call('mr.advise', { stag, advice, flags, sgList })
  }
  async write(stag: number, offset: number, data: Uint8Array): Promise<void> {
    await this.call('mem.write', { stag, offset, data })
  }
  async read(stag: number, offset: number, length: number): Promise<Uint8Array> {
    return new Uint8Array(await this.call('mem.read', { stag, offset, length }))
  }
  /** A CM listener; with `srq`, its accepted QPs share one SRQ (its number in the reply). */
  listen(spec: ListenSpec): Promise<{ srqn?: number }> {
    return this.call('listen', spec)
  }
  /** Post receives to the SRQ of the listener on `port` (listen with `srq`). */
  async postSrqRecv(port: number, wrs: Array<{ wrId: number; sgList: RemoteSge[] }>): Promise<void> {
    await this.call('srq.postRecv', { port, wrs })
  }
  /** The SRQ of the listener on `port`: receives posted to it, left in it, and taken by its QPs. */
  querySrq(port: number): Promise<{ srqn: number; posted: number; left: number; taken: number }> {
    return this.call('srq.query', { port })
  }
  async unlisten(port: number): Promise<void> {
    await this.call('unlisten', { port })
  }
  async postRecv(qpn: number, wrs: Array<{ wrId: number; sgList: RemoteSge[] }>): Promise<void> {
    await this.call('qp.postRecv', { qpn, wrs })
  }
  async postSend(qpn: number, wrs: Array<Omit<SendWr, 'sgList'> & { sgList?: RemoteSge[] }>): Promise<void> {
    await this.call('qp.postSend', { qpn, wrs })
  }
  queryQp(qpn: number): Promise<QpAttr & { stateName: string }> {
    return this.call('qp.query', { qpn })
  }
  async modifyQp(qpn: number, attr: Partial<QpAttr>): Promise<void> {
    await this.call('qp.modify', { qpn, attr })
  }
  /** Poll a QP's send or receive CQ, waiting up to waitMs for at least `min` completions. */
  pollCq(qpn: number, which: 'send' | 'recv', o: { max?: number; min?: number; waitMs?: number } = {}): Promise<Wc[]> {
    const wait = o.waitMs ?? 0
    return this.call('cq.poll', { qpn, which, ...o }, (this.timeoutMs ?? Params.controlTimeoutMs) + wait)
  }
  /** Have this host connect a new QP of its own to `node`:`port` (with `cap`, the QP's queue sizes). */
  connect(node: string, port: number, o: { cqDepth?: number; cap?: { maxSendWr?: number }; options?: ConnectOptions } = {}): Promise<{ qpn: number; pd: number; remoteQpn: number }> {
    return this.call('connect', { node, port, ...o })
  }
  /** Disconnect and destroy a QP made by connect() (the remote QP goes to ERR and is destroyed by its host). */
  async disconnect(qpn: number): Promise<void> {
    await this.call('disconnect', { qpn })
  }
  /** Run a closed-loop workload on one of this host's QPs (see src/verbs/workload.ts). */
  workload(qpn: number, localBytes: number, spec: WorkloadSpec, timeoutMs: number = Params.workloadTimeoutMs): Promise<WorkloadResult> {
    return this.call('workload', { qpn, localBytes, spec }, timeoutMs)
  }
  /**
   * Run one side of a latency ping-pong on one of this host's QPs (src/verbs/pingpong.ts);
   * `stopWorkload` ends it early. The loop gives up after `timeoutMs` (default Params.workloadTimeoutMs).
   */
  pingpong(qpn: number, spec: PingPongSpec, timeoutMs: number = Params.workloadTimeoutMs): Promise<PingPongResult> {
    return this.call('pingpong', { qpn, spec, timeoutMs }, timeoutMs + Params.controlTimeoutMs)
  }
  /** Stop this host's workload on QP `qpn` early; its workload() call then resolves with `stopped` set. */
  stopWorkload(qpn: number): Promise<{ stopped: boolean }> {
    return this.call('workload.stop', { qpn })
  }
  /** Have this host take the exclusive layout lease on `file` of server `node` (fs.lease as this host). */
  leaseFile(node: string, file: string, timeoutMs?: number): Promise<{ file: string; holder: string; breakTimeMs: number }> {
    return this.call('server.lease', { node, file }, timeoutMs)
  }
  /** Have this host release its layout lease on `file` of server `node` (fs.unlease as this host). */
  async unleaseFile(node: string, file: string, timeoutMs?: number): Promise<void> {
    await this.call('server.unlease', { node, file }, timeoutMs)
  }
  /**
   * Have this host register a file MR on server `node` (verbs.mr.regFile as
   * this host: the MR, its pins and its lease are this host's). `mapping` is
   * the mmap(2) the MR stands for: 'shared' (MAP_SHARED, the default; under
   * policy upstream a writable one over a page-cached file is EFAULT) or
   * 'private' (MAP_PRIVATE: a writable one pins copy-on-write copies, the file
   * never sees the NIC's writes). See FileMapping.
   */
  regServerFile(node: string, reg: { pd: number; file: string; offset: number; length: number; access: number; iova?: number; mapping?: FileMapping }, timeoutMs?: number): Promise<RemoteMr> {
    return this.call('server.regFile', { node, ...reg }, timeoutMs)
  }
  /** Have this host deregister one of its MRs on server `node`. */
  async deregServerMr(node: string, stag: number, timeoutMs?: number): Promise<void> {
    await this.call('server.deregMr', { node, stag }, timeoutMs)
  }
  /** How this host answers lease-break notices: 'comply' (default) or 'ignore'. */
  async setLeaseMode(mode: LeaseMode): Promise<void> {
    await this.call('lease.mode', { mode })
  }
  /** The lease-break notices this host got and what it did about them. */
  leaseStatus(): Promise<LeaseStatus> {
    return this.call('lease.status')
  }
  counters(): Promise<Record<string, number>> {
    return this.call('counters')
  }
}
