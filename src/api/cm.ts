/**
 * Connection setup the rdma_cm way, by node id and port, over the engine's
 * connection manager (src/verbs/cm.ts): the passive side listens, the active
 * side connects, the two exchange QP numbers, PSNs, MTU and read/atomic
 * depths, and each QP is walked RESET -> INIT -> RTR -> RTS for the caller.
 */
import { EmuError, ErrorCodes } from '../errors.ts'
import { Params } from '../params.ts'
import { CM_QP_ACCESS, type ConnectionManager as EngineCm, type ConnectOptions as EngineConnectOptions, type ConnectRequest } from '../verbs/cm.ts'
import { QpState } from '../verbs/constants.ts'
import type { Qp } from '../verbs/qp.ts'
import type { Context, CQ, PD, QP, QpCap } from './verbs.ts'

export type { ConnectRequest }

/** What a new connection's QP is made of; anything left out is made for it. */
export interface QpChoice {
  /** The PD of the QP (default: a new PD per connection on the active side, one PD per listener on the passive side). */
  pd?: PD
  /** Send CQ (default: a new CQ per connection, also its receive CQ). */
  cq?: CQ
  /** Receive CQ (default: `cq`). */
  recvCq?: CQ
  /** Entries of the CQ made when `cq` is not given. */
  cqe?: number
  cap?: Partial<QpCap>
  sqSigAll?: boolean
  /** Remote access rights of the QP (default: REMOTE_WRITE | REMOTE_READ | REMOTE_ATOMIC, as rdma_cm grants). */
  qpAccessFlags?: number
  /**
   * Called with the new QP in INIT before the connection is established: the
   * place to post receives (rdma_create_qp, then ibv_post_recv, before
   * rdma_accept or rdma_connect). On the active side it runs again if a
   * refused connection is retried (the QP was reset).
   */
  prepare?: (qp: QP) => void | Promise<void>
}

/** rdma_listen's options: how each accepted connection's QP is made. */
export interface ListenOptions extends QpChoice {
  /** rdma_accept's private data for the peer, or a function of its request. */
  privateData?: unknown
  /** Decide on a request (rdma_get_cm_event CONNECT_REQUEST): throw to reject it; the active side's connect then fails with that error. */
  onRequest?: (req: ConnectRequest, from: string) => void | Promise<void>
}

/** rdma_connect's options: the QP, rdma_conn_param and the active side's QP attributes. */
export interface ConnectOptions extends QpChoice, EngineConnectOptions {
  /** An existing QP (in RESET or INIT) to connect instead of a new one. */
  qp?: QP
  /** How long a refused connection (no listener on the port yet) is retried (ms); 0: fail at once with ECONNREFUSED. */
  retryMs?: number
}

/** One side of an established RC connection (an rdma_cm_id after ESTABLISHED). */
export class Connection {
  /** The connected QP, in RTS. */
  readonly qp: QP
  /** The node at the other end. */
  readonly peer: string
  /** The peer's QP number. */
  readonly remoteQpn: number
  /** The private data the other side sent (rdma_conn_param.private_data). */
  readonly privateData: unknown
  /** Resolves when the peer disconnects (RDMA_CM_EVENT_DISCONNECTED); the QP is then in ERR. */
  readonly disconnected: Promise<void>
  private readonly cm: EngineCm
  private notifyDisconnected!: () => void

  constructor(cm: EngineCm, qp: QP, peer: string, remoteQpn: number, privateData: unknown) {
    this.cm = cm
    this.qp = qp
    this.peer = peer
    this.remoteQpn = remoteQpn
    this.privateData = privateData
    this.disconnected = new Promise((r) => (this.notifyDisconnected = r))
  }

  get pd(): PD {
    return this.qp.pd
  }
  /** The send CQ. */
  get cq(): CQ {
    return this.qp.sendCq
  }
  get recvCq(): CQ {
    return this.qp.recvCq
  }

  /** rdma_disconnect: both QPs go to ERR (outstanding WRs flush with WR_FLUSH_ERR). The QP stays until destroyed. */
  async disconnect(timeoutMs?: number): Promise<void> {
    await this.cm.disconnect(this.qp.raw, timeoutMs)
    this.notifyDisconnected()
  }

  /** @internal the peer disconnected. */
  peerDisconnected(): void {
    this.notifyDisconnected()
  }
}

/**
 * A listening port (rdma_listen). Accepted connections come out of accept()
 * or `for await (const conn of listener)`, already established.
 */
export class Listener implements AsyncIterable<Connection> {
  readonly port: number
  private readonly queue: Connection[] = []
  private readonly waiters: Array<{ resolve: (c: Connection | undefined) => void; timer?: NodeJS.Timeout }> = []
  private closed = false
  private readonly onClose: () => void

  constructor(port: number, onClose: () => void) {
    this.port = port
    this.onClose = onClose
  }

  /** @internal an established connection. */
  push(conn: Connection): void {
    const w = this.waiters.shift()
    if (w) {
      clearTimeout(w.timer)
      w.resolve(conn)
    } else this.queue.push(conn)
  }

  /** The next established connection (rdma_get_cm_event ESTABLISHED); rejects TIMEOUT after `timeoutMs` (default: wait forever), EINVAL once closed. */
  async accept(timeoutMs?: number): Promise<Connection> {
    const c = await this.nextOrEnd(timeoutMs)
    if (!c) throw new EmuError(ErrorCodes.EINVAL, `listener on port ${this.port} is closed`)
    return c
  }

  private nextOrEnd(timeoutMs?: number): Promise<Connection | undefined> {
    const queued = this.queue.shift()
    if (queued) return Promise.resolve(queued)
    if (this.closed) return Promise.resolve(undefined)
    return new Promise((resolve, reject) => {
      const w: { resolve: (c: Connection | undefined) => void; timer?: NodeJS.Timeout } = { resolve }
      if (timeoutMs !== undefined) {
        w.timer = setTimeout(() => {
          this.waiters.splice(this.waiters.indexOf(w), 1)
          reject(new EmuError(ErrorCodes.TIMEOUT, `no connection on port ${this.port} within ${timeoutMs} ms`))
        }, timeoutMs)
      }
      this.waiters.push(w)
    })
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Connection> {
    for (;;) {
      const c = await this.nextOrEnd()
      if (!c) return
      yield c
    }
  }

  /** Stop listening (rdma_destroy_id of the listening id); iterators end. Established connections stay. */
  close(): void {
    if (this.closed) return
    this.closed = true
    this.onClose()
    for (const w of this.waiters.splice(0)) {
      clearTimeout(w.timer)
      w.resolve(undefined)
    }
  }
}

/** The rdma_cm of one host: listen on ports, connect to other hosts' ports. */
export class ConnectionManager {
  /** The engine's connection manager. */
  readonly raw: EngineCm
  private readonly context: Context
  private readonly byQp = new Map<Qp, Connection>()

  constructor(context: Context, cm: EngineCm) {
    this.context = context
    this.raw = cm
    const previous = cm.onDisconnect
    cm.onDisconnect = (qp, from) => {
      previous?.(qp, from)
      this.byQp.get(qp)?.peerDisconnected()
    }
  }

  /** rdma_listen on `port` (0-65535, one listener per port: EBUSY otherwise). */
  listen(port: number, opts: ListenOptions = {}): Listener {
    let listenerPd = opts.pd
    const listener = new Listener(port, () => this.raw.unlisten(port))
    this.raw.listen(port, async (req, from) => {
      await opts.onRequest?.(req, from)
      listenerPd ??= this.context.allocPd()
      const qp = await this.makeQp({ ...opts, pd: listenerPd })
      const privateData = typeof opts.privateData === 'function' ? (opts.privateData as (r: ConnectRequest) => unknown)(req) : opts.privateData
      const conn = new Connection(this.raw, qp, from, req.qpn, req.privateData)
      this.track(conn)
      // The engine walks the QP to RTS once this returns; the connection is
      // handed out after that (or dropped when the walk failed).
      setImmediate(() => {
        if (qp.state === QpState.RTS) listener.push(conn)
        else this.untrack(conn)
      })
      return { qp: qp.raw, privateData }
    })
    return listener
  }

  /**
   * rdma_resolve_addr + rdma_resolve_route + rdma_connect to `node`:`port`;
   * resolves with the established connection (its QP in RTS). A refused
   * connection (nobody listens there yet) is retried for `retryMs`, then
   * fails with EmuError(ECONNREFUSED); a listener's rejection fails it with
   * the listener's error.
   */
  async connect(node: string, port: number, opts: ConnectOptions = {}): Promise<Connection> {
    const qp = opts.qp ?? (await this.makeQp(opts, false))
    const deadline = Date.now() + (opts.retryMs ?? Params.cmConnectRetryMs)
    for (let first = true; ; first = false) {
      if (!first || opts.qp) await this.toInit(qp, opts)
      try {
        const rep = await this.raw.connect(qp.raw, node, port, opts)
        const conn = new Connection(this.raw, qp, node, rep.qpn, rep.privateData)
        this.track(conn)
        return conn
      } catch (err) {
        if ((err as EmuError).code !== ErrorCodes.ECONNREFUSED || Date.now() >= deadline) throw err
        await new Promise((r) => setTimeout(r, Params.cmRetryIntervalMs))
      }
    }
  }

  private track(conn: Connection): void {
    this.byQp.set(conn.qp.raw, conn)
    void conn.disconnected.then(() => this.untrack(conn))
  }

  private untrack(conn: Connection): void {
    if (this.byQp.get(conn.qp.raw) === conn) this.byQp.delete(conn.qp.raw)
  }

  /** A new QP as `o` says; in INIT (prepared) unless `init` is false. */
  private async makeQp(o: QpChoice, init = true): Promise<QP> {
    const pd = o.pd ?? this.context.allocPd()
    const sendCq = o.cq ?? this.context.createCq(o.cqe ?? Params.defaultCqDepth)
    const qp = pd.createQp({ sendCq, recvCq: o.recvCq ?? sendCq, cap: o.cap, sqSigAll: o.sqSigAll })
    if (init || o.prepare) await this.toInit(qp, o)
    return qp
  }

  private async toInit(qp: QP, o: QpChoice): Promise<void> {
    if (qp.state === QpState.INIT) return
    qp.modify({ qpState: QpState.INIT, pkeyIndex: 0, portNum: Params.portNum, qpAccessFlags: o.qpAccessFlags ?? CM_QP_ACCESS })
    await o.prepare?.(qp)
  }
}
