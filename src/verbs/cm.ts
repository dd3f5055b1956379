import { randomInt } from 'node:crypto'
import { EmuError, ErrorCodes } from '../errors.ts'
import { Params } from '../params.ts'
import type { ControlPlane } from '../../fabric/control-plane.ts'
import { Access, QpState } from './constants.ts'
import type { ConnectReply, ConnectRequest } from '../../fabric/node-message-types.ts'
import type { RdmaDevice } from './device.ts'
import type { Qp } from './qp.ts'

/**
 * Connection set-up over the control plane, the rdma_cm way: the passive
 * side listens on a port, the active side connects; the two exchange QPN,
 * starting PSN, path MTU and read/atomic depths, and each walks its QP
 * RESET -> INIT -> RTR -> RTS.
 */
export type { ConnectReply, ConnectRequest }

/** What a listener's accept callback returns: a fresh QP in RESET and optional reply data. */
export interface Acceptance {
  qp: Qp
  privateData?: unknown
}

export type AcceptFn = (req: ConnectRequest, from: string) => Acceptance | Promise<Acceptance>

/**
 * Default remote rights of a connected QP: rdma_cm grants read/write/atomic;
 * the emulator's CM adds both FLUSH rights (which the responder checks, as
 * rxe's check_qp_attr_access does), where on Linux an application enables
 * them with ibv_modify_qp.
 */
export const CM_QP_ACCESS = Access.REMOTE_WRITE | Access.REMOTE_READ | Access.REMOTE_ATOMIC | Access.FLUSH_GLOBAL | Access.FLUSH_PERSISTENT

export interface ConnectOptions {
  mtu?: number
  initiatorDepth?: number
  responderResources?: number
  /** QP attributes for the active side (timeout, retryCnt, rnrRetry, minRnrTimer). */
  timeout?: number
  retryCnt?: number
  rnrRetry?: number
  minRnrTimer?: number
  qpAccessFlags?: number
  privateData?: unknown
  /** Control-plane timeout for the exchange (ms). */
  timeoutMs?: number
}

export class ConnectionManager {
  private readonly device: RdmaDevice
  private readonly control: ControlPlane
  private readonly listeners = new Map<number, AcceptFn>()
  private readonly dreqTimers = new Set<NodeJS.Timeout>()
  private closed = false
  /** Called when a peer disconnects one of our QPs. */
  onDisconnect?: (qp: Qp, from: string) => void

  constructor(device: RdmaDevice, control: ControlPlane) {
    this.device = device
    this.control = control
    control.handle('cm.connect', (body: ConnectRequest, from: string) => this.onConnect(body, from))
    control.handle('cm.disconnect', (body: { qpn: number }, from: string) => {
      const qp = device.qp(body.qpn)
      if (!qp || qp.attr.destNode !== from) throw new EmuError(ErrorCodes.ENOENT, `no QP ${body.qpn} connected to ${from}`)
      qp.toError(`disconnected by ${from}`)
      this.onDisconnect?.(qp, from)
      return {}
    })
  }

  listen(port: number, accept: AcceptFn): void {
    if (!Number.isInteger(port) || port < 0 || port > 0xffff) throw new EmuError(ErrorCodes.EINVAL, `bad port ${port}`)
    if (this.listeners.has(port)) throw new EmuError(ErrorCodes.EBUSY, `port ${port} already has a listener`)
    this.listeners.set(port, accept)
  }

  unlisten(port: number): void {
    this.listeners.delete(port)
  }

  private async onConnect(req: ConnectRequest, from: string): Promise<ConnectReply> {
    const accept = this.listeners.get(req.port)
    if (!accept) throw new EmuError(ErrorCodes.ECONNREFUSED, `connection refused: no listener on port ${req.port}`)
    const { qp, privateData } = await accept(req, from)
    const mtu = Math.min(req.mtu, qp.attr.pathMtu)
    const psn = randomInt(Params.psnMask + 1)
    qp.modify({ qpState: QpState.INIT, pkeyIndex: 0, portNum: Params.portNum, qpAccessFlags: qp.attr.qpAccessFlags || CM_QP_ACCESS })
    qp.modify({
      qpState: QpState.RTR, destNode: from, destQpNum: req.qpn, rqPsn: req.psn, pathMtu: mtu,
      maxDestRdAtomic: req.initiatorDepth, minRnrTimer: qp.attr.minRnrTimer,
    })
    qp.modify({
      qpState: QpState.RTS, sqPsn: psn, maxRdAtomic: Math.min(req.responderResources, Params.maxQpRdAtomic),
      timeout: qp.attr.timeout, retryCnt: qp.attr.retryCnt, rnrRetry: qp.attr.rnrRetry,
    })
    return { qpn: qp.qpNum, psn, mtu, initiatorDepth: req.responderResources, responderResources: req.initiatorDepth, privateData }
  }

  /**
   * Connect `qp` to a listener on `node`:`port`; resolves once the QP is in
   * RTS. The QP is in RESET, or in INIT with receives already posted (as
   * after rdma_create_qp); on failure it is back in RESET.
   */
  async connect(qp: Qp, node: string, port: number, o: ConnectOptions = {}): Promise<ConnectReply> {
    if (qp.state !== QpState.RESET && qp.state !== QpState.INIT) throw new EmuError(ErrorCodes.EINVAL, 'connect needs a QP in RESET or INIT')
    const psn = randomInt(Params.psnMask + 1)
    const mtu = o.mtu ?? qp.attr.pathMtu
    if (!(Params.mtus as readonly number[]).includes(mtu)) throw new EmuError(ErrorCodes.EINVAL, `mtu must be one of ${Params.mtus.join(', ')}, got ${mtu}`)
    const depth = o.initiatorDepth ?? Params.defaultMaxRdAtomic
    const resources = o.responderResources ?? Params.defaultMaxRdAtomic
    qp.modify({ qpState: QpState.INIT, pkeyIndex: 0, portNum: Params.portNum, qpAccessFlags: o.qpAccessFlags ?? CM_QP_ACCESS })
    const req: ConnectRequest = { port, qpn: qp.qpNum, psn, mtu, initiatorDepth: depth, responderResources: resources, privateData: o.privateData }
    let rep: ConnectReply
    try {
      rep = await this.control.request(node, 'cm.connect', req, o.timeoutMs)
    } catch (err) {
      qp.modify({ qpState: QpState.RESET })
      throw err
    }
    qp.modify({
      qpState: QpState.RTR, destNode: node, destQpNum: rep.qpn, rqPsn: rep.psn, pathMtu: rep.mtu,
      maxDestRdAtomic: resources, minRnrTimer: o.minRnrTimer ?? qp.attr.minRnrTimer,
    })
    qp.modify({
      qpState: QpState.RTS, sqPsn: psn, maxRdAtomic: Math.min(depth, rep.responderResources, Params.maxQpRdAtomic),
      timeout: o.timeout ?? qp.attr.timeout, retryCnt: o.retryCnt ?? qp.attr.retryCnt, rnrRetry: o.rnrRetry ?? qp.attr.rnrRetry,
    })
    return rep
  }

  /**
   * rdma_disconnect: both QPs go to ERR (outstanding WRs flush). The request
   * to the peer (the CM's DREQ) is waited for once; when it gets no answer
   * (a partition, a paused peer) it is sent again in the background, every
   * cmDreqTimeoutMs up to cmDreqTries times, as the IB CM retries a DREQ, so
   * the peer's QP is torn down once it can be reached.
   */
  async disconnect(qp: Qp, timeoutMs?: number): Promise<void> {
    const node = qp.attr.destNode
    const qpn = qp.attr.destQpNum
    qp.toError('disconnected')
    if (!node) return
    if (await this.sendDreq(node, qpn, timeoutMs ?? Params.cmDreqTimeoutMs)) return
    let tries = 1
    const again = (): void => {
      const t = setTimeout(() => {
        this.dreqTimers.delete(t)
        void this.sendDreq(node, qpn, Params.cmDreqTimeoutMs).then((answered) => {
          if (!answered && ++tries < Params.cmDreqTries && !this.closed) again()
        })
      }, Params.cmDreqTimeoutMs)
      t.unref()
      this.dreqTimers.add(t)
    }
    again()
  }

  /** Send one DREQ; true when the peer answered (done, or it has no such QP any more). */
  private async sendDreq(node: string, qpn: number, timeoutMs: number): Promise<boolean> {
    try {
      await this.control.request(node, 'cm.disconnect', { qpn }, timeoutMs)
      return true
    } catch (err) {
      return !(err instanceof EmuError && err.code === ErrorCodes.TIMEOUT)
    }
  }

  /** Stop retrying disconnect requests (the host is closing). */
  close(): void {
    this.closed = true
    for (const t of this.dreqTimers) clearTimeout(t)
    this.dreqTimers.clear()
  }
}
