/**
 * What every Transport shares: typed listeners, the peer table with its
 * up/down state, and heartbeats. Subclasses move bytes (`sendParts`) and hand
 * received frames to `deliver()`.
 */
import { Params } from '../src/params.ts'
import { EmuError, ErrorCodes } from '../src/errors.ts'
import { heartbeatFrame, isHeartbeat } from './frame.ts'
import type { FramePart, PeerInfo, Transport, TransportEvents } from './transport.ts'

export interface HeartbeatOptions {
  /** How often to send a heartbeat to every known peer (ms). */
  heartbeatIntervalMs?: number
  /** A peer with no frame for this long goes down (ms). */
  heartbeatTimeoutMs?: number
}

export interface TransportCounters {
  framesIn: number
  framesOut: number
  heartbeatsIn: number
  heartbeatsOut: number
  /** Frames dropped: send queue full, destination gone. */
  dropped: number
  /** Sends that failed in the socket (e.g. peer unreachable). */
  sendErrors: number
  /** Exceptions thrown by 'frame' listeners (caught, never crash the loop). */
  listenerErrors: number
}

interface PeerEntry {
  info: PeerInfo
  /** We opened a connection to it (else it only connected to us). */
  connected: boolean
}

type Listeners = { [E in keyof TransportEvents]: Set<TransportEvents[E]> }

export abstract class TransportBase implements Transport {
  readonly id: string
  abstract readonly endpoint: string
  readonly counters: TransportCounters = {
    framesIn: 0, framesOut: 0, heartbeatsIn: 0, heartbeatsOut: 0, dropped: 0, sendErrors: 0, listenerErrors: 0,
  }
  protected readonly heartbeatIntervalMs: number
  protected readonly heartbeatTimeoutMs: number
  protected closed = false
  private readonly peerTable = new Map<string, PeerEntry>()
  private readonly listeners: Listeners = { frame: new Set(), peer: new Set(), error: new Set() }
  private timer: NodeJS.Timeout | undefined
  private lastTick = 0

  constructor(id: string, opts: HeartbeatOptions = {}) {
    if (!id) throw new EmuError(ErrorCodes.TRANSPORT, 'transport id must be a non-empty string')
    this.id = id
    this.heartbeatIntervalMs = opts.heartbeatIntervalMs ?? Params.heartbeatIntervalMs
    this.heartbeatTimeoutMs = opts.heartbeatTimeoutMs ?? Params.heartbeatTimeoutMs
  }

  abstract start(): Promise<void>
  abstract close(): Promise<void>
  /** Move one frame towards a peer known to the table. */
  protected abstract sendParts(peer: string, parts: FramePart[], connected: boolean): void
  /** Hook: a connect() for a peer not connected before. */
  protected abstract openConnection(peerId: string, endpoint: string): void

  connect(peerId: string, endpoint: string): void {
    if (this.closed) throw new EmuError(ErrorCodes.TRANSPORT, `${this.id}: transport closed`)
    if (peerId === this.id) throw new EmuError(ErrorCodes.TRANSPORT, `${this.id}: cannot connect to itself`)
    const entry = this.peerTable.get(peerId)
    if (entry?.connected) return
    this.openConnection(peerId, endpoint)
    if (entry) {
      entry.connected = true
      entry.info.endpoint = endpoint
    } else {
      this.peerTable.set(peerId, { connected: true, info: { id: peerId, state: 'down', endpoint, lastSeen: 0 } })
    }
  }

  send(peerId: string, parts: FramePart[]): void {
    if (this.closed) throw new EmuError(ErrorCodes.TRANSPORT, `${this.id}: transport closed`)
    const entry = this.peerTable.get(peerId)
    if (!entry) throw new EmuError(ErrorCodes.TRANSPORT, `${this.id}: unknown peer "${peerId}" (not connected, never heard from)`)
    this.counters.framesOut++
    this.sendParts(peerId, parts, entry.connected)
  }

  peers(): PeerInfo[] {
    return [...this.peerTable.values()].map((e) => ({ ...e.info }))
  }

  on<E extends keyof TransportEvents>(event: E, listener: TransportEvents[E]): this {
    ;(this.listeners[event] as Set<TransportEvents[E]>).add(listener)
    return this
  }

  off<E extends keyof TransportEvents>(event: E, listener: TransportEvents[E]): this {
    ;(this.listeners[event] as Set<TransportEvents[E]>).delete(listener)
    return this
  }

  /** Start the heartbeat timer (subclasses call this from start()). */
  protected startHeartbeats(): void {
    if (this.timer || this.heartbeatIntervalMs <= 0) return
    this.timer = setInterval(() => this.tick(), this.heartbeatIntervalMs)
    // Heartbeats alone must not keep a process alive.
    this.timer.unref()
  }

  protected stopHeartbeats(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = undefined
  }

  private tick(): void {
    if (this.closed) return
    const now = Date.now()
    // If our own event loop was stalled (GC, CPU starvation), frames that
    // arrived meanwhile are still queued unread: judge silence next tick.
    const stalled = this.lastTick > 0 && now - this.lastTick > 2 * this.heartbeatIntervalMs
    this.lastTick = now
    for (const entry of this.peerTable.values()) {
      const { info } = entry
      if (!stalled && info.state === 'up' && now - info.lastSeen > this.heartbeatTimeoutMs) this.setState(info, 'down')
      // Only peers we can reach: ones we connected to, or ones that reached
      // us and are still up (a departed one, like a finished `bench --attach`,
      // would only earn a send error every tick; it speaks first if it returns).
      if (entry.connected || (info.lastSeen > 0 && info.state === 'up')) {
        this.counters.heartbeatsOut++
        try {
          this.sendParts(info.id, heartbeatFrame(), entry.connected)
        } catch (err) {
          this.emitError(err as Error)
        }
      }
    }
  }

  /** Subclasses call this for every frame received from `from`. Never throws. */
  protected deliver(from: string, parts: FramePart[]): void {
    if (this.closed) return
    let entry = this.peerTable.get(from)
    if (!entry) {
      entry = { connected: false, info: { id: from, state: 'down', lastSeen: 0 } }
      this.peerTable.set(from, entry)
    }
    entry.info.lastSeen = Date.now()
    if (entry.info.state !== 'up') this.setState(entry.info, 'up')
    if (isHeartbeat(parts)) {
      this.counters.heartbeatsIn++
      return
    }
    this.counters.framesIn++
    for (const listener of this.listeners.frame) {
      try {
        listener(from, parts)
      } catch (err) {
        this.counters.listenerErrors++
        this.emitError(err as Error)
      }
    }
  }

  /**
   * Mark a peer down at once, without waiting for the heartbeat timeout: the
   * loopback hub saw it close, or the launcher said its process is gone
   * (`peer.gone`). Its next frame brings it up again (a restarted node).
   */
  markDown(peerId: string): void {
    const entry = this.peerTable.get(peerId)
    if (entry && entry.info.state !== 'down') this.setState(entry.info, 'down')
  }

  /** Report a non-fatal error to 'error' listeners (none registered: ignored). */
  protected emitError(err: Error): void {
    for (const listener of this.listeners.error) {
      try {
        listener(err)
      } catch {
        // An error listener that throws must not take the fabric down.
      }
    }
  }

  private setState(info: PeerInfo, state: PeerInfo['state']): void {
    info.state = state
    const snapshot = { ...info }
    for (const listener of this.listeners.peer) {
      try {
        listener(snapshot)
      } catch (err) {
        this.counters.listenerErrors++
        this.emitError(err as Error)
      }
    }
  }
}
