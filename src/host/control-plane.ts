/**
 * Request/response and one-way messages over a Transport's CONTROL frames,
 * plus the hand-off of DATA frames (packet trains) to the data path.
 *
 * Wire shape of a control message (msgpackr, see fabric/frame.ts):
 *   request:  { t, id, body }         expects a reply
 *   reply:    { t, re, body } | { t, re, err: { code, message } }
 *   notify:   { t, body }             one-way
 */
import type { Logger } from 'pino'
import { controlFrame, dataFrame, parseFrame, trainFrame } from '../../fabric/frame.ts'
import type { FramePart, Transport } from '../../fabric/transport.ts'
import { EmuError, ErrorCodes, type ErrorCode } from '../errors.ts'
import { Params } from '../params.ts'

export interface ControlMessage {
  t: string
  id?: number
  re?: number
  body?: unknown
  err?: { code: string; message: string }
}

export type ControlHandler = (body: any, from: string) => unknown | Promise<unknown>
export type DataListener = (from: string, packets: Uint8Array[]) => void

export interface ControlPlaneOptions {
  log?: Logger
  /** Default request timeout (ms); Params.controlTimeoutMs when absent. */
  defaultTimeoutMs?: number
}

export interface ControlCounters {
  /** Malformed frames or messages, dropped. */
  badFrames: number
  requestsSent: number
  requestsReceived: number
  repliesSent: number
  notifySent: number
  notifyReceived: number
  /** Requests that timed out waiting for a reply. */
  timeouts: number
  /** Replies that carried an error. */
  remoteErrors: number
  /** Replies matching no pending request (late after a timeout, or spoofed). */
  unmatchedReplies: number
  /** Requests and notifications for a type with no handler. */
  unhandled: number
  dataFramesIn: number
  dataFramesOut: number
}

interface Pending {
  peer: string
  type: string
  resolve: (body: any) => void
  reject: (err: Error) => void
  timer: NodeJS.Timeout
}

export class ControlPlane {
  readonly transport: Transport
  readonly counters: ControlCounters = {
    badFrames: 0, requestsSent: 0, requestsReceived: 0, repliesSent: 0, notifySent: 0, notifyReceived: 0,
    timeouts: 0, remoteErrors: 0, unmatchedReplies: 0, unhandled: 0, dataFramesIn: 0, dataFramesOut: 0,
  }
  private readonly log: Logger | undefined
  private readonly defaultTimeoutMs: number
  private readonly handlers = new Map<string, ControlHandler>()
  private readonly dataListeners: DataListener[] = []
  private readonly pending = new Map<number, Pending>()
  private nextId = 1

  constructor(transport: Transport, opts: ControlPlaneOptions = {}) {
    this.transport = transport
    this.log = opts.log
    this.defaultTimeoutMs = opts.defaultTimeoutMs ?? Params.controlTimeoutMs
    transport.on('frame', (from, parts) => this.onFrame(from, parts))
    transport.on('error', (err) => this.log?.debug({ err }, 'transport error'))
  }

  /** Register the handler for a message type; its return value is the reply body. */
  handle(type: string, handler: ControlHandler): void {
    this.handlers.set(type, handler)
  }

  /**
   * Send a request and wait for the reply body. Rejects EmuError(TIMEOUT)
   * after `timeoutMs`, EmuError(<remote code>) when the handler failed, and
   * EmuError(TRANSPORT) when the frame cannot be sent.
   */
  request<T = unknown>(peer: string, type: string, body?: unknown, timeoutMs?: number): Promise<T> {
    const id = this.nextId++
    const ms = timeoutMs ?? this.defaultTimeoutMs
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id)
        this.counters.timeouts++
        reject(new EmuError(ErrorCodes.TIMEOUT, `${peer}: no reply to "${type}" within ${ms} ms`, { peer, type }))
      }, ms)
      this.pending.set(id, { peer, type, resolve, reject, timer })
      const msg: ControlMessage = { t: type, id }
      if (body !== undefined) msg.body = body
      try {
        this.transport.send(peer, controlFrame(msg))
        this.counters.requestsSent++
      } catch (err) {
        clearTimeout(timer)
        this.pending.delete(id)
        reject(asEmuError(err, ErrorCodes.TRANSPORT))
      }
    })
  }

  /** One-way message: no reply, no delivery guarantee beyond the transport's. */
  notify(peer: string, type: string, body?: unknown): void {
    const msg: ControlMessage = { t: type }
    if (body !== undefined) msg.body = body
    this.transport.send(peer, controlFrame(msg))
    this.counters.notifySent++
  }

  /** Receive every DATA frame (packet train) as its list of packets. */
  onData(listener: DataListener): void {
    this.dataListeners.push(listener)
  }

  /** Send a packet train to a peer in one DATA frame. */
  sendData(peer: string, packets: Uint8Array[]): void {
    this.transport.send(peer, dataFrame(packets))
    this.counters.dataFramesOut++
  }

  /** Send a train laid out by buildTrain() in one DATA frame. */
  sendTrain(peer: string, train: Uint8Array): void {
    this.transport.send(peer, trainFrame(train))
    this.counters.dataFramesOut++
  }

  /** Reject every pending request (the transport is going away). */
  cancelAll(reason = 'control plane closed'): void {
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer)
      this.pending.delete(id)
      p.reject(new EmuError(ErrorCodes.TRANSPORT, `${p.peer}: "${p.type}" cancelled: ${reason}`))
    }
  }

  private onFrame(from: string, parts: FramePart[]): void {
    let frame
    try {
      frame = parseFrame(parts)
    } catch (err) {
      this.counters.badFrames++
      this.log?.debug({ from, err: (err as Error).message }, 'bad frame dropped')
      return
    }
    if (frame.kind === 'data') {
      this.counters.dataFramesIn++
      for (const listener of this.dataListeners) {
        try {
          listener(from, frame.packets)
        } catch (err) {
          this.log?.error({ from, err }, 'data listener failed')
        }
      }
      return
    }
    if (frame.kind === 'heartbeat') return
    const msg = frame.msg
    if (!isControlMessage(msg)) {
      this.counters.badFrames++
      this.log?.debug({ from }, 'malformed control message dropped')
      return
    }
    if (msg.re !== undefined) this.onReply(from, msg)
    else void this.onRequest(from, msg)
  }

  private onReply(from: string, msg: ControlMessage): void {
    const p = this.pending.get(msg.re!)
    if (!p || p.peer !== from) {
      this.counters.unmatchedReplies++
      return
    }
    this.pending.delete(msg.re!)
    clearTimeout(p.timer)
    if (msg.err) {
      this.counters.remoteErrors++
      p.reject(new EmuError(msg.err.code as ErrorCode, msg.err.message, { peer: from, type: p.type, remote: true }))
    } else {
      p.resolve(msg.body)
    }
  }

  private async onRequest(from: string, msg: ControlMessage): Promise<void> {
    const isRequest = msg.id !== undefined
    if (isRequest) this.counters.requestsReceived++
    else this.counters.notifyReceived++
    const handler = this.handlers.get(msg.t)
    let reply: ControlMessage
    if (!handler) {
      this.counters.unhandled++
      this.log?.debug({ from, type: msg.t }, 'no handler')
      if (!isRequest) return
      reply = { t: msg.t, re: msg.id!, err: { code: ErrorCodes.EOPNOTSUPP, message: `no handler for "${msg.t}" on ${this.transport.id}` } }
    } else {
      try {
        const body = await handler(msg.body, from)
        if (!isRequest) return
        reply = { t: msg.t, re: msg.id! }
        if (body !== undefined) reply.body = body
      } catch (err) {
        const e = asEmuError(err, ErrorCodes.INTERNAL)
        if (e.code === ErrorCodes.INTERNAL) this.log?.error({ from, type: msg.t, err }, 'handler failed')
        if (!isRequest) return
        reply = { t: msg.t, re: msg.id!, err: { code: e.code, message: e.message } }
      }
    }
    try {
      this.transport.send(from, controlFrame(reply))
      this.counters.repliesSent++
    } catch (err) {
      this.log?.warn({ from, type: msg.t, err: (err as Error).message }, 'reply not sent')
    }
  }
}

function isControlMessage(msg: unknown): msg is ControlMessage {
  if (typeof msg !== 'object' || msg === null) return false
  const m = msg as Record<string, unknown>
  if (typeof m.t !== 'string') return false
  if (m.id !== undefined && typeof m.id !== 'number') return false
  if (m.re !== undefined && typeof m.re !== 'number') return false
  if (m.err !== undefined) {
    const e = m.err as Record<string, unknown> | null
    if (typeof e !== 'object' || e === null || typeof e.code !== 'string' || typeof e.message !== 'string') return false
  }
  return true
}

function asEmuError(err: unknown, fallback: ErrorCode): EmuError {
  if (err instanceof EmuError) return err
  const message = err instanceof Error ? err.message : String(err)
  return new EmuError(fallback, message, { cause: err })
}
