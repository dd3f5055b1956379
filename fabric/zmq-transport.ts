/**
 * The real fabric: ZeroMQ over tcp (or ipc).
 *
 * Each transport binds one ROUTER socket; peers that connect to us arrive
 * there, identified by their routing id (= their node id). For each peer we
 * connect to we open a DEALER whose routing id is our own id, so the peer's
 * ROUTER knows who is talking. send(peer) uses our DEALER to that peer when we
 * connected to it, else replies through the ROUTER to the peer's routing id.
 * The ROUTER is `mandatory`, so a frame for an unreachable routing id fails
 * (EHOSTUNREACH, counted) instead of vanishing silently.
 *
 * One connection per pair: when both nodes have connected to each other, both
 * directions use the connection the node with the smaller id opened (its
 * DEALER, the other's ROUTER), so replies travel back over the connection the
 * requests came on, as in a plain DEALER/ROUTER exchange. A TCP connection
 * used in one direction only costs every message a separate ACK segment; a
 * round trip over one connection was 10-20 us faster here.
 *
 * Ordering: frames to one peer go through one socket and one FIFO queue, so
 * they arrive in order. The socket for a peer is switched at most once: when
 * the first frame from a smaller-id peer arrives on our ROUTER (before that
 * peer is up here, so only heartbeats can have taken the other way), or when
 * a peer first answered through the ROUTER is later connected to.
 *
 * Addresses: the ROUTER binds `bind` (an IP address or a wildcard); peers are
 * dialled at the endpoint connect() names (their advertised address, which
 * may be a hostname: libzmq resolves it, IPv4 only). Sockets on an IPv6
 * endpoint ([addr]) get ZMQ_IPV6.
 */
import { Dealer, Router } from 'zeromq'
import { Params } from '../src/params.ts'
import { EmuError, ErrorCodes } from '../src/errors.ts'
import { SendQueue } from './send-queue.ts'
import { registerZapDomain, unregisterZapDomain, type ZapCounters } from './zap-handler.ts'
import { TransportBase, type HeartbeatOptions } from './transport-base.ts'
import type { FramePart } from './transport.ts'

export interface ZmqTransportOptions extends HeartbeatOptions {
  /** Endpoint to bind: tcp://HOST:PORT (port 0 picks a free port) or ipc://PATH. */
  bind: string
  /** ZeroMQ send/receive high-water mark, also the bound of each send queue. */
  highWaterMark?: number
  /** ZeroMQ linger on close (ms). */
  lingerMs?: number
  /** CURVE on every socket (absent: plain ZeroMQ, as before). */
  curve?: TransportCurve
}

/**
 * CURVE for a transport: our key pair, the public key of each peer we
 * connect to (its ROUTER is a CURVE server with that key), and the ZAP check
 * that admits clients to our ROUTER by their public key.
 */
export interface TransportCurve {
  publicKey: string
  secretKey: string
  /** The Z85 public key of peer `id`'s ROUTER; undefined: no key known, the connection is refused. */
  serverKeyOf(id: string): string | undefined
  /** May the client with this raw public key connect to our ROUTER? */
  allow(clientKey: Uint8Array): boolean
}

let zapDomains = 0

/** The CURVE options of a zeromq.js socket (ZMQ_CURVE_SERVER, _PUBLICKEY, _SECRETKEY, _SERVERKEY, ZMQ_ZAP_DOMAIN). */
export interface CurveSocketOptions {
  curveServer?: boolean
  curvePublicKey?: string
  curveSecretKey?: string
  curveServerKey?: string
  zapDomain?: string
}

interface Outbound {
  socket: Dealer
  queue: SendQueue
}

export class ZmqTransport extends TransportBase {
  private readonly opts: Required<Pick<ZmqTransportOptions, 'bind' | 'highWaterMark' | 'lingerMs'>>
  private readonly curve: TransportCurve | undefined
  private zapDomain: string | undefined
  /** CURVE clients our ROUTER admitted and refused (ZAP), while CURVE is on. */
  zap: ZapCounters | undefined
  private router: Router | undefined
  private routerQueue: SendQueue | undefined
  private readonly outbound = new Map<string, Outbound>()
  /** Routing-id frames of peers we answer through the ROUTER, built once (never mutated). */
  private readonly routingIds = new Map<string, Buffer>()
  /** Routing ids received so far and their decoded node ids (see senderOf). */
  private readonly knownSenders: Array<{ bytes: Uint8Array; id: string }> = []
  private bound = ''
  /** Peers whose frames arrived on our ROUTER (they opened a connection to us). */
  private readonly reachedUs = new Set<string>()

  constructor(id: string, opts: ZmqTransportOptions) {
    super(id, opts)
    this.opts = {
      bind: opts.bind,
      highWaterMark: opts.highWaterMark ?? Params.zmqHighWaterMark,
      lingerMs: opts.lingerMs ?? Params.zmqLingerMs,
    }
    this.curve = opts.curve
    // A peer that went down may come back without a connection to us.
    this.on('peer', (info) => {
      if (info.state === 'down') this.reachedUs.delete(info.id)
    })
  }

  get endpoint(): string {
    return this.bound
  }

  async start(): Promise<void> {
    if (this.router) return
    // The ZAP handler runs before the ROUTER binds: no client is ever admitted unchecked.
    let curveServer: CurveSocketOptions = {}
    if (this.curve) {
      const curve = this.curve
      this.zapDomain = `rdma-emu/${process.pid}/${++zapDomains}/${this.id}`
      this.zap = await registerZapDomain(this.zapDomain, (key) => curve.allow(key))
      curveServer = { curveServer: true, curvePublicKey: curve.publicKey, curveSecretKey: curve.secretKey, zapDomain: this.zapDomain }
    }
    const router = new Router({
      ...curveServer,
      routingId: this.id,
      mandatory: true,
      ipv6: isIpv6(this.opts.bind),
      // A node restarted under the same id takes over its routing id.
      handover: true,
      linger: this.opts.lingerMs,
      sendHighWaterMark: this.opts.highWaterMark,
      receiveHighWaterMark: this.opts.highWaterMark,
    })
    try {
      await router.bind(this.opts.bind)
    } catch (err) {
      router.close()
      this.dropZap()
      throw new EmuError(ErrorCodes.TRANSPORT, `cannot bind ${this.opts.bind}: ${(err as Error).message}`, { cause: err })
    }
    this.router = router
    this.bound = router.lastEndpoint ?? this.opts.bind
    this.routerQueue = new SendQueue(router, this.opts.highWaterMark, (err) => this.sendFailed(err))
    void this.receiveLoop(router, (msg) => {
      // ROUTER prepends the sender's routing id.
      if (msg.length < 2) return
      const from = this.senderOf(msg.shift()!)
      if (!this.reachedUs.has(from)) this.reachedUs.add(from)
      this.deliver(from, msg)
    })
    this.startHeartbeats()
  }

  protected openConnection(peerId: string, endpoint: string): void {
    let curveClient: CurveSocketOptions = {}
    if (this.curve) {
      const serverKey = this.curve.serverKeyOf(peerId)
      if (!serverKey) throw new EmuError(ErrorCodes.TRANSPORT, `${this.id}: no CURVE public key known for peer "${peerId}"`)
      curveClient = { curveServerKey: serverKey, curvePublicKey: this.curve.publicKey, curveSecretKey: this.curve.secretKey }
    }
    const socket = new Dealer({
      ...curveClient,
      routingId: this.id,
      ipv6: isIpv6(endpoint),
      linger: this.opts.lingerMs,
      sendHighWaterMark: this.opts.highWaterMark,
      receiveHighWaterMark: this.opts.highWaterMark,
    })
    socket.connect(endpoint)
    const queue = new SendQueue(socket, this.opts.highWaterMark, (err) => this.sendFailed(err))
    this.outbound.set(peerId, { socket, queue })
    // Frames on a DEALER come from the one peer it is connected to.
    void this.receiveLoop(socket, (msg) => this.deliver(peerId, msg))
  }

  protected sendParts(peer: string, parts: FramePart[], connected: boolean): void {
    let ok: boolean
    // Our DEALER when we opened a connection, unless the peer has one to us and its id is the smaller.
    if (connected && !(peer < this.id && this.reachedUs.has(peer))) {
      ok = this.outbound.get(peer)!.queue.push(parts)
    } else {
      if (!this.routerQueue) throw new EmuError(ErrorCodes.TRANSPORT, `${this.id}: transport not started`)
      let rid = this.routingIds.get(peer)
      if (!rid) this.routingIds.set(peer, (rid = Buffer.from(peer, 'utf8')))
      ok = this.routerQueue.push(parts.length === 1 ? [rid, parts[0]!] : parts.length === 2 ? [rid, parts[0]!, parts[1]!] : [rid, ...parts])
    }
    if (!ok) this.counters.dropped++
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.stopHeartbeats()
    this.routerQueue?.close()
    for (const { socket, queue } of this.outbound.values()) {
      queue.close()
      socket.close()
    }
    this.outbound.clear()
    this.router?.close()
    this.router = undefined
    this.dropZap()
  }

  /**
   * Socket options that make another socket of this process a CURVE server
   * like our ROUTER (same key, same ZAP check), or a CURVE client of a server
   * with `serverKey`; {} without CURVE. For sockets beside the fabric's
   * (bench --baseline's raw streams).
   */
  curveServerOptions(): CurveSocketOptions {
    if (!this.curve || !this.zapDomain) return {}
    return { curveServer: true, curvePublicKey: this.curve.publicKey, curveSecretKey: this.curve.secretKey, zapDomain: this.zapDomain }
  }

  curveClientOptions(serverKey: string | undefined): CurveSocketOptions {
    if (!this.curve) return {}
    if (!serverKey) throw new EmuError(ErrorCodes.EINVAL, `${this.id}: CURVE is on and no server key was given`)
    return { curveServerKey: serverKey, curvePublicKey: this.curve.publicKey, curveSecretKey: this.curve.secretKey }
  }

  /** Our CURVE public key (undefined without CURVE). */
  get publicKey(): string | undefined {
    return this.curve?.publicKey
  }

  /** Whether CURVE is on for this transport's sockets. */
  get secure(): boolean {
    return this.curve !== undefined
  }

  private dropZap(): void {
    if (this.zapDomain) unregisterZapDomain(this.zapDomain)
    this.zapDomain = undefined
  }

  /**
   * The node id behind a routing-id frame. Every ROUTER message starts with
   * one, so the ids seen so far are matched byte by byte in JS before paying
   * for a UTF-8 decode (a native call) per message.
   */
  private senderOf(rid: Buffer): string {
    const known = this.knownSenders
    outer: for (let i = 0; i < known.length; i++) {
      const k = known[i]!
      if (k.bytes.length !== rid.length) continue
      for (let j = 0; j < rid.length; j++) if (k.bytes[j] !== rid[j]) continue outer
      return k.id
    }
    const id = rid.toString('utf8')
    if (known.length < Params.zmqKnownSenders) known.push({ bytes: Uint8Array.from(rid), id })
    return id
  }

  private sendFailed(err: Error): void {
    this.counters.sendErrors++
    this.emitError(new EmuError(ErrorCodes.TRANSPORT, `${this.id}: send failed: ${err.message}`, { cause: err }))
  }

  /** Receive until the socket closes; an error in one message never ends the loop. */
  private async receiveLoop(socket: Router | Dealer, onMessage: (msg: Buffer[]) => void): Promise<void> {
    while (!this.closed && !socket.closed) {
      let msg: Buffer[]
      try {
        msg = await socket.receive()
      } catch (err) {
        if (this.closed || socket.closed) return
        this.emitError(err as Error)
        // Back off a little so a persistent error cannot spin the CPU.
        await new Promise((resolve) => setTimeout(resolve, 10))
        continue
      }
      try {
        onMessage(msg)
      } catch (err) {
        this.emitError(err as Error)
      }
      // Wait for the next frame only after the continuations this one woke
      // up have run: a request issued in reply to a reply (the usual
      // ping-pong) then leaves before we re-arm the socket, not after.
      await undefined
    }
  }
}

/** tcp://[ADDR]:PORT: libzmq sockets are IPv4-only unless ZMQ_IPV6 is set. */
function isIpv6(endpoint: string): boolean {
  return endpoint.startsWith('tcp://[')
}
