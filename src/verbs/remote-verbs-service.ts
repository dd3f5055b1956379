import { EmuError, ErrorCodes } from '../errors.ts'
import type { ControlHandler, ControlPlane } from '../../fabric/control-plane.ts'
import type { Caller } from '../../fabric/control-auth.ts'
import type { NodeBody, NodeMessageTable, VerbsCommand } from '../../fabric/node-messages.ts'
import type { RemoteMr, RemoteSge } from '../../fabric/node-message-types.ts'

export type { RemoteMr, RemoteSge }
import type { Mr } from '../memory/stag.ts'
import type { ConnectionManager } from './cm.ts'
import type { Wc } from './cq.ts'
import type { RdmaDevice } from './device.ts'
import type { Qp } from './qp.ts'
import type { Srq } from './srq.ts'
import { localBytesFor, runWorkload, type WorkloadReceiver } from './workload.ts'
import { Access } from './constants.ts'
import { runPingPong } from './pingpong.ts'
import { Params } from '../params.ts'
import { LeaseAgent, type RunningWorkload } from './remote-verbs-lease.ts'

/**
 * The application side of a host, driven over the control plane: what a
 * server program would do with libibverbs (allocate a PD, register memory,
 * listen, post receives, poll completions, read its own buffers). Tests,
 * benchmarks and scenarios use it through RemoteVerbs. Every object is
 * owned by the peer that asked for it and released when that peer goes.
 *
 * This host as the application of a server's file MRs ("an STag for
 * storage"): `server.lease` / `server.unlease` / `server.regFile` /
 * `server.deregMr` ask a server node, as this host, for a layout lease and a
 * file MR (`server.regFile` passes the MR's `mapping`, 'shared' or 'private',
 * on to the server's verbs.mr.regFile); the lease agent (src/verbs/remote-verbs-lease.ts) answers the
 * server's lease-break notices ('comply' by default, `lease.mode` 'ignore' for
 * a holder that does not), `lease.status` shows what it did. `workload.stop`
 * stops a running workload early (it reports how far it got).
 *
 * `mr.reg` / `mr.dereg` go through the host's MR backend: by default the
 * device's own regMr / deregMr over private buffers; a server host sets its
 * RAM-arena backend (pinned frames, src/server/) before it reports ready.
 */

/** verbs.listen: a CM listener whose accepted QPs get this PD, CQ depth, caps and access. */
export type ListenSpec = NodeBody<'verbs.listen'>


export function mrInfo(mr: Mr): RemoteMr {
  return { stag: mr.stag, iova: mr.iova, length: mr.length, pd: mr.pd, access: mr.access }
}

/**
 * Where `verbs.mr.reg` memory comes from and how `verbs.mr.dereg` lets it go.
 * Arguments come straight from the request body: a backend checks them.
 */
export interface MrBackend {
  /** Register `length` bytes of fresh memory in `pd` for `owner` (the asking peer). */
  reg(pd: number, length: number, access: number, iova: number | undefined, owner: string): RemoteMr
  /** Deregister the MR with this STag, asked by `from`. */
  dereg(stag: number, from: string): void
}

export class RemoteVerbsService {
  private readonly device: RdmaDevice
  private readonly cm: ConnectionManager
  private readonly pdOwner = new Map<number, string>()
  /** PDs `connect` allocated, one per QP it made. */
  private readonly connectPds = new Set<number>()
  /** CM ports listened on through `listen`, and who asked. */
  private readonly listenerOwner = new Map<number, string>()
  /** The SRQ a listener's accepted QPs share (listen with `srq`), by port; receives posted to each. */
  private readonly listenSrqs = new Map<number, { srq: Srq; posted: number }>()
  /** Running workloads by QP number. */
  private readonly workloads = new Map<number, RunningWorkload>()
  /** Reaction to layout-lease breaks of the servers this host uses. */
  readonly lease: LeaseAgent
  /** The device's plain regMr / deregMr, unless the host sets its own (setMrBackend). */
  private mrBackend: MrBackend

  constructor(device: RdmaDevice, cm: ConnectionManager, control: ControlPlane) {
    this.device = device
    this.cm = cm
    this.lease = new LeaseAgent({ device, control, workloads: () => this.workloads.values() })
    this.mrBackend = {
      reg: (pd, length, access, iova, owner) => mrInfo(device.regMr(pd, length, access, { iova, owner })),
      dereg: (stag) => device.deregMr(this.mr(stag)),
    }
    const h = <K extends VerbsCommand>(type: K, fn: ControlHandler<NodeMessageTable, `verbs.${K}`>): void => control.handle(`verbs.${type}`, fn)
    h('pd.alloc', (_b, from) => {
      const pd = device.allocPd()
      this.pdOwner.set(pd, from)
      return { pd }
    })
    h('pd.dealloc', (b) => {
      device.deallocPd(b.pd)
      this.pdOwner.delete(b.pd)
      return {}
    })
    h('mr.reg', (b, from) => this.mrBackend.reg(b?.pd, b?.length, b?.access, b?.iova, from))
    // Commands on an MR by STag: only its owner, the launcher or an admin key (fabric/control-auth.ts).
    const owned = (stag: number, caller: Caller | undefined, type: string): Mr => {
      const mr = this.mr(stag)
      control.auth?.mrAccess(caller, mr.owner, type, stag)
      return mr
    }
    h('mr.rereg', (b, _from, caller) => {
      const mr = owned(b.stag, caller, 'verbs.mr.rereg')
      device.reregMr(mr, { access: b.access, pd: b.pd })
      return mrInfo(mr)
    })
    h('mr.dereg', (b, from, caller) => {
      if (control.auth?.enforce) owned(b.stag, caller, 'verbs.mr.dereg')
      this.mrBackend.dereg(b?.stag, from)
      return {}
    })
    h('mem.write', (b, _from, caller) => {
      const mr = owned(b.stag, caller, 'verbs.mem.write')
      this.checkRange(mr, b.offset, b.data.length)
      mr.memory.copyIn(b.offset, b.data)
      return {}
    })
    h('mem.read', (b, _from, caller) => {
      const mr = owned(b.stag, caller, 'verbs.mem.read')
      this.checkRange(mr, b.offset, b.length)
      const out = new Uint8Array(b.length)
      mr.memory.copyOut(b.offset, out, 0, b.length)
      return out
    })
    h('listen', (b, owner) => {
      // `srq`: one shared receive queue for every QP this listener accepts (perftest --use-srq).
      const shared = b.srq ? { srq: device.createSrq(b.pd, { maxWr: b.srq.maxWr }), posted: 0 } : undefined
      try {
        cm.listen(b.port, (_req, from) => {
          const sendCq = device.createCq(b.cqDepth)
          const recvCq = device.createCq(b.cqDepth)
          const qp = device.createQp({ pd: b.pd, sendCq, recvCq, cap: b.cap, owner: from, srq: shared?.srq })
          if (b.qpAccessFlags !== undefined) qp.attr.qpAccessFlags = b.qpAccessFlags
          return { qp, privateData: { listenerOwner: owner } }
        })
      } catch (err) {
        if (shared) device.destroySrq(shared.srq)
        throw err
      }
      this.listenerOwner.set(b.port, owner)
      if (shared) this.listenSrqs.set(b.port, shared)
      return shared ? { srqn: shared.srq.srqn } : {}
    })
    h('unlisten', (b) => {
      cm.unlisten(b.port)
      this.listenerOwner.delete(b.port)
      this.dropListenSrq(b.port)
      return {}
    })
    h('srq.postRecv', (b) => {
      const shared = this.listenSrq(b.port)
      shared.srq.postRecv(b.wrs.map((w) => ({ wrId: w.wrId, sgList: w.sgList.map((s) => this.sge(s)) })))
      shared.posted += b.wrs.length
      return {}
    })
    h('srq.query', (b) => {
      const shared = this.listenSrq(b.port)
      return { srqn: shared.srq.srqn, posted: shared.posted, left: shared.srq.count, taken: shared.posted - shared.srq.count }
    })
    h('qp.postRecv', (b) => {
      const qp = this.qp(b.qpn)
      qp.postRecv(b.wrs.map((w) => ({ wrId: w.wrId, sgList: w.sgList.map((s) => this.sge(s)) })))
      return {}
    })
    h('qp.postSend', (b) => {
      const qp = this.qp(b.qpn)
      this.lease.checkPost(qp, b.wrs)
      qp.postSend(b.wrs.map((w) => ({ ...w, sgList: (w.sgList ?? []).map((s) => this.sge(s)) })))
      return {}
    })
    h('qp.query', (b) => this.qp(b.qpn).query())
    h('qp.modify', (b) => {
      this.qp(b.qpn).modify(b.attr)
      return {}
    })
    h('cq.poll', async (b) => {
      const qp = this.qp(b.qpn)
      const cq = b.which === 'recv' ? qp.recvCq : qp.sendCq
      const out: Wc[] = cq.poll(b.max ?? 64)
      const min = b.min ?? 0
      const deadline = Date.now() + (b.waitMs ?? 0)
      while (out.length < min && Date.now() < deadline) {
        try {
          out.push(await cq.next(Math.max(1, deadline - Date.now())))
        } catch {
          break
        }
      }
      return out
    })
    h('connect', async (b, from) => {
      const pd = device.allocPd()
      this.pdOwner.set(pd, from)
      this.connectPds.add(pd)
      const cq = device.createCq(b.cqDepth)
      const qp = device.createQp({ pd, sendCq: cq, cap: b.cap, owner: from })
      const rep = await cm.connect(qp, b.node, b.port, b.options)
      return { qpn: qp.qpNum, pd, remoteQpn: rep.qpn }
    })
    // rdma_disconnect + destroy of a QP made by `connect`: both ends go to ERR
    // (the remote one is destroyed by its CM), this one is destroyed, and the
    // PD `connect` allocated for it is freed when nothing else uses it.
    h('disconnect', async (b) => {
      const qp = this.qp(b.qpn)
      await cm.disconnect(qp)
      device.destroyQp(qp)
      if (this.connectPds.has(qp.pd)) {
        try {
          device.deallocPd(qp.pd)
          this.pdOwner.delete(qp.pd)
          this.connectPds.delete(qp.pd)
        } catch {
          // Still in use (an MR registered in it): it stays.
        }
      }
      return {}
    })
    h('workload', async (b, from) => {
      const qp = this.qp(b.qpn)
      if (typeof b.spec !== 'object' || b.spec === null) throw new EmuError(ErrorCodes.EINVAL, 'spec must be a workload spec')
      if (this.workloads.has(qp.qpNum)) throw new EmuError(ErrorCodes.EBUSY, `a workload already runs on QP ${qp.qpNum}`)
      this.lease.checkPost(qp, [b.spec])
      // The workload's own buffer: local only (READ and atomic results land in it).
      const local = device.regMr(qp.pd, Math.max(b.localBytes, localBytesFor(b.spec)), Access.LOCAL_WRITE, { owner: from })
      const ctl = new AbortController()
      const run: RunningWorkload = { qp, rkey: b.spec.rkey >>> 0, stop: (why) => ctl.abort(why), done: Promise.resolve() }
      try {
        const p = runWorkload(qp, qp.sendCq, local, b.spec, { signal: ctl.signal, receiver: b.spec.recv && this.peerReceiver(control, qp, b.spec.recv) })
        run.done = p
        this.workloads.set(qp.qpNum, run)
        // The buffer's keys go back too (bench prints them, as perftest's local address line).
        return { ...(await p), localMr: { stag: local.stag, iova: local.iova } }
      } finally {
        if (this.workloads.get(qp.qpNum) === run) this.workloads.delete(qp.qpNum)
        device.deregMr(local)
      }
    })
    // One side of a latency ping-pong (write_lat, send_lat) over an MR of this
    // host: the server's side answers each message, the client's times the
    // round trips. Bounded: the iterations, workload.stop, or `timeoutMs`.
    h('pingpong', async (b) => {
      const qp = this.qp(b.qpn)
      if (this.workloads.has(qp.qpNum)) throw new EmuError(ErrorCodes.EBUSY, `a workload already runs on QP ${qp.qpNum}`)
      const local = this.mr(b.spec.localStag)
      if (b.spec.rkey !== undefined) this.lease.checkPost(qp, [{ rkey: b.spec.rkey }])
      const ctl = new AbortController()
      const timer = setTimeout(() => ctl.abort(`timed out after ${b.timeoutMs} ms`), b.timeoutMs ?? Params.workloadTimeoutMs)
      const run: RunningWorkload = { qp, rkey: (b.spec.rkey ?? 0) >>> 0, stop: (why) => ctl.abort(why), done: Promise.resolve() }
      try {
        const p = runPingPong(qp, local, b.spec, ctl.signal)
        run.done = p
        this.workloads.set(qp.qpNum, run)
        return await p
      } finally {
        clearTimeout(timer)
        if (this.workloads.get(qp.qpNum) === run) this.workloads.delete(qp.qpNum)
      }
    })
    // Stop a running workload early: it posts nothing more, and its own
    // request answers once the outstanding operations have completed.
    h('workload.stop', (b) => {
      const w = this.workloads.get(b?.qpn)
      if (!w) return { stopped: false }
      w.stop('stopped by request')
      return { stopped: true }
    })

    // ---- this host as the application of a server's file MRs ----
    const node = (v: unknown): string => {
      if (typeof v !== 'string' || v.length === 0) throw new EmuError(ErrorCodes.EINVAL, 'node must be a node id')
      return v
    }
    h('server.lease', (b) => control.request(node(b?.node), 'fs.lease', { file: b.file }))
    h('server.unlease', (b) => control.request(node(b?.node), 'fs.unlease', { file: b.file }))
    // The registration as the server takes it (mapping included: 'shared' or 'private', checked by the message table).
    h('server.regFile', (b) => {
      const { node: target, ...reg } = b ?? ({} as typeof b)
      return control.request(node(target), 'verbs.mr.regFile', reg)
    })
    h('server.deregMr', (b) => control.request(node(b?.node), 'verbs.mr.dereg', { stag: b.stag }))
    h('lease.mode', (b) => ({ mode: this.lease.setMode(b?.mode) }))
    h('lease.status', () => this.lease.status())
    h('qps', () => [...device.allQps()].map((q) => ({ qpn: q.qpNum, state: q.state, destNode: q.attr.destNode, destQpNum: q.attr.destQpNum, owner: q.owner })))
    h('counters', () => ({ ...device.counters, mrs: device.mrs.size }))
  }

  /**
   * A checked workload's SENDs land in receives on the peer's QP: posted
   * there (all into `sge`, a buffer of the peer's) and polled over the control plane.
   */
  private peerReceiver(control: ControlPlane, qp: Qp, sge: RemoteSge): WorkloadReceiver {
    const peer = qp.attr.destNode
    const qpn = qp.attr.destQpNum
    return {
      post: async (n) => {
        await control.request(peer, 'verbs.qp.postRecv', { qpn, wrs: Array.from({ length: n }, () => ({ wrId: 0, sgList: [sge] })) })
      },
      poll: async () => (await control.request(peer, 'verbs.cq.poll', { qpn, which: 'recv', max: 4096 })).filter((w) => w.status === 0).length,
    }
  }

  /**
   * Serve `mr.reg` / `mr.dereg` from `backend` instead of the device's plain
   * buffers. Call while attaching, before the node reports ready.
   */
  setMrBackend(backend: MrBackend): void {
    this.mrBackend = backend
  }

  /** Release everything `peer` owned: its QPs go to ERR and are destroyed, its MRs deregistered, its listeners removed. */
  releaseOwner(peer: string): { qps: number; mrs: number } {
    let qps = 0
    let mrs = 0
    for (const [port, owner] of [...this.listenerOwner]) {
      if (owner !== peer) continue
      this.cm.unlisten(port)
      this.listenerOwner.delete(port)
      this.dropListenSrq(port)
    }
    for (const qp of [...this.device.allQps()]) {
      if (qp.owner === peer || qp.attr.destNode === peer) {
        qp.toError(`owner ${peer} gone`)
        if (qp.owner === peer) {
          this.device.destroyQp(qp)
          qps++
        }
      }
    }
    for (const mr of [...this.device.mrs.all()]) {
      if (mr.owner === peer) {
        this.device.deregMr(mr, 'owner-gone')
        mrs++
      }
    }
    return { qps, mrs }
  }

  private listenSrq(port: number): { srq: Srq; posted: number } {
    const shared = this.listenSrqs.get(port)
    if (!shared) throw new EmuError(ErrorCodes.ENOENT, `no SRQ on listener port ${port} (listen with srq)`)
    return shared
  }

  /** Destroy a listener's SRQ once no QP uses it (a QP still connected keeps it until it is destroyed). */
  private dropListenSrq(port: number): void {
    const shared = this.listenSrqs.get(port)
    if (!shared) return
    this.listenSrqs.delete(port)
    if (shared.srq.users.size === 0) this.device.destroySrq(shared.srq)
    else {
      // Its QPs go with their connections; the SRQ goes with the last of them.
      const users = shared.srq.users
      const timer = setInterval(() => {
        if (users.size > 0 && !shared.srq.destroyed) return
        clearInterval(timer)
        if (!shared.srq.destroyed) this.device.destroySrq(shared.srq)
      }, 100)
      timer.unref()
    }
  }

  private mr(stag: number): Mr {
    const mr = this.device.mrs.byStag(stag)
    if (!mr) throw new EmuError(ErrorCodes.ENOENT, `no MR with stag 0x${(stag >>> 0).toString(16)}`)
    return mr
  }

  private qp(qpn: number): Qp {
    const qp = this.device.qp(qpn)
    if (!qp) throw new EmuError(ErrorCodes.ENOENT, `no QP ${qpn}`)
    return qp
  }

  private sge(s: RemoteSge): { addr: number; length: number; lkey: number } {
    const mr = this.mr(s.stag)
    return { addr: mr.iova + s.offset, length: s.length, lkey: mr.stag }
  }

  private checkRange(mr: Mr, offset: number, length: number): void {
    if (!Number.isInteger(offset) || !Number.isInteger(length) || offset < 0 || length < 0 || offset + length > mr.length) {
      throw new EmuError(ErrorCodes.EINVAL, `range ${offset}+${length} outside MR of ${mr.length} bytes`)
    }
  }
}
