/**
 * In-process Transport for unit tests. Transports live on a LoopbackHub and
 * find each other by id; endpoints are `loopback://<id>`. Frames are
 * delivered asynchronously (setImmediate runs callbacks in FIFO order, so
 * frames arrive in send order) and are not copied: like ZeroMQ's zero-copy
 * send, a buffer must not be mutated after send(). Parts in the train pool
 * are the exception: the pool takes them back once the sender's view is
 * gone, so the receiver gets a copy. Peer state follows the
 * ZeroMQ transport: up on any frame, down after heartbeatTimeoutMs of silence,
 * and down at once when the other side closes.
 */
import { EmuError, ErrorCodes } from '../src/errors.ts'
import { TransportBase, type HeartbeatOptions } from './transport-base.ts'
import type { FramePart } from './transport.ts'
import { trainPool } from './train-pool.ts'

export class LoopbackHub {
  private readonly members = new Map<string, LoopbackTransport>()

  /** A transport registered on this hub under `id`. */
  create(id: string, opts: HeartbeatOptions = {}): LoopbackTransport {
    const existing = this.members.get(id)
    if (existing && !existing.isClosed) throw new EmuError(ErrorCodes.TRANSPORT, `loopback: id "${id}" already in use`)
    const transport = new LoopbackTransport(this, id, opts)
    this.members.set(id, transport)
    return transport
  }

  /** @internal the live transport with this id, if started. */
  lookup(id: string): LoopbackTransport | undefined {
    const t = this.members.get(id)
    return t && t.isStarted && !t.isClosed ? t : undefined
  }

  /** @internal tell every member that `id` closed. */
  closed(id: string): void {
    for (const member of this.members.values()) if (member.id !== id) member.peerClosed(id)
  }
}

export class LoopbackTransport extends TransportBase {
  private started = false

  constructor(private readonly hub: LoopbackHub, id: string, opts: HeartbeatOptions = {}) {
    super(id, opts)
  }

  get endpoint(): string {
    return `loopback://${this.id}`
  }

  get isStarted(): boolean {
    return this.started
  }

  get isClosed(): boolean {
    return this.closed
  }

  async start(): Promise<void> {
    if (this.started) return
    this.started = true
    this.startHeartbeats()
  }

  protected openConnection(): void {
    // Nothing to open: the hub routes by id.
  }

  protected sendParts(peer: string, sent: FramePart[]): void {
    const parts = sent.map((p) => (trainPool.isPooled(p) ? Uint8Array.from(p) : p))
    setImmediate(() => {
      const target = this.hub.lookup(peer)
      if (!target || this.closed) {
        this.counters.dropped++
        return
      }
      target.receive(this.id, parts)
    })
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.stopHeartbeats()
    this.hub.closed(this.id)
  }

  /** @internal */
  receive(from: string, parts: FramePart[]): void {
    this.deliver(from, parts)
  }

  /** @internal */
  peerClosed(id: string): void {
    this.markDown(id)
  }
}
