/**
 * The fabric's Transport interface (the nats.js model): the protocol core
 * (control plane, RC engine) only sees this, so the same code runs over the
 * real ZeroMQ fabric and over the in-process loopback used by unit tests.
 *
 * A frame is a list of parts, sent and delivered atomically (a ZeroMQ
 * multipart message). Part 0 is the frame header (see fabric/frame.ts); the
 * rest are either IBA packets (a packet train) or one msgpackr body.
 */
export type FramePart = Uint8Array

export type PeerState = 'up' | 'down'

export interface PeerInfo {
  id: string
  state: PeerState
  /** Endpoint we connected to (undefined for peers that only connected to us). */
  endpoint?: string
  /** Date.now() of the last frame received from this peer. */
  lastSeen: number
}

export interface TransportEvents {
  frame: (from: string, parts: FramePart[]) => void
  peer: (info: PeerInfo) => void
  error: (err: Error) => void
}

export interface Transport {
  /** This node's id (also its ZeroMQ routing id). */
  readonly id: string
  /** The bound endpoint after start() (port 0 resolved), e.g. tcp://127.0.0.1:40123. */
  readonly endpoint: string
  /** Bind and start receiving. */
  start(): Promise<void>
  /** Open an outbound connection to a peer (idempotent). */
  connect(peerId: string, endpoint: string): void
  /** Queue a frame for a peer: over our connection to it, else back over its connection to us. */
  send(peerId: string, parts: FramePart[]): void
  /** Known peers and whether they are up. */
  peers(): PeerInfo[]
  on<E extends keyof TransportEvents>(event: E, listener: TransportEvents[E]): this
  off<E extends keyof TransportEvents>(event: E, listener: TransportEvents[E]): this
  /** Close all sockets; pending sends are dropped. */
  close(): Promise<void>
}
