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
import { buildTrain, controlFrame, parseFrame, trainFrame } from './frame.ts'
import { TrainLedger } from './train-ledger.ts'
import type { FramePart, Transport } from './transport.ts'
import { EmuError, ErrorCodes, type ErrorCode } from '../src/errors.ts'
import { Params } from '../src/params.ts'
import type { FaultRuleSet } from './fault-rules.ts'
import { BodyChecker, type BodyArgs, type BodyOf, type Command, type CommandType, type MessageTable, type ReplyOf } from './message-schema.ts'
import { NodeMessages, type NodeMessageTable } from './node-messages.ts'
import type { Caller, ControlAuth } from './control-auth.ts'

export interface ControlMessage {
  t: string
  id?: number
  re?: number
  body?: unknown
  /** A failed request: the error's code and message, and the field at fault for ERR_BAD_MESSAGE. */
  err?: { code: string; message: string; field?: string }
  /** With CURVE: the sender's key name and its token for the receiver (fabric/control-auth.ts). */
  k?: string
  a?: Uint8Array
}

/** What a handler of message `K` returns: the command's reply, nothing for a notice. */
export type HandlerResult<M extends MessageTable, K extends keyof M> = M[K] extends Command ? ReplyOf<M, K> : void
/** `caller`: who sent it, when the control plane authorises (ControlPlaneOptions.auth). */
export type ControlHandler<M extends MessageTable = NodeMessageTable, K extends keyof M = keyof M> = (body: BodyOf<M, K>, from: string, caller?: Caller) => HandlerResult<M, K> | Promise<HandlerResult<M, K>>
type AnyHandler = (body: unknown, from: string, caller?: Caller) => unknown
/** Receives a DATA frame's packets; `icrc`: each ends in its 4-byte ICRC (a DATA_ICRC frame, fabric/frame.ts). */
export type DataListener = (from: string, packets: Uint8Array[], icrc: boolean) => void

export interface ControlPlaneOptions {
  log?: Logger
  /** Default request timeout (ms); Params.controlTimeoutMs when absent. */
  defaultTimeoutMs?: number
  /** The message table bodies are checked against (default: the node's, fabric/node-messages.ts). */
  messages?: MessageTable
  /** Sign our requests (CURVE) and, when it enforces, authorise the ones we receive. */
  auth?: ControlAuth
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
  /** Requests and notifications whose body did not match the message table (refused ERR_BAD_MESSAGE). */
  badBodies: number
  dataFramesIn: number
  dataFramesOut: number
}

interface Pending {
  peer: string
  type: string
  resolve: (body: never) => void
  reject: (err: Error) => void
  /** performance.now() after which the request times out. */
  deadline: number
  timeoutMs: number
}

/**
 * The control plane over one transport, typed by a message table `M`: the
 * type names what may be sent, what its body holds and what comes back.
 */
export class ControlPlane<M extends MessageTable = NodeMessageTable> {
  readonly transport: Transport
  readonly counters: ControlCounters = {
    badFrames: 0, requestsSent: 0, requestsReceived: 0, repliesSent: 0, notifySent: 0, notifyReceived: 0,
    timeouts: 0, remoteErrors: 0, unmatchedReplies: 0, unhandled: 0, badBodies: 0, dataFramesIn: 0, dataFramesOut: 0,
  }
  private readonly log: Logger | undefined
  /** Who may do what (absent: every request is served, as in the in-process tests). */
  readonly auth: ControlAuth | undefined
  private readonly defaultTimeoutMs: number
  private readonly handlers = new Map<string, AnyHandler>()
  private readonly checker: BodyChecker
  private readonly dataListeners: DataListener[] = []
  private readonly pending = new Map<number, Pending>()
  private readonly trains = new TrainLedger()
  private nextId = 1
  /**
   * One timer for all pending requests, armed for the earliest deadline (a
   * timer per request cost a setTimeout and a clearTimeout on every round
   * trip). Referenced only while a request is pending, like the per-request
   * timers it replaces, so an idle control plane never keeps a process alive.
   */
  private timer: NodeJS.Timeout | undefined
  private timerAt = Infinity
  private timerRefed = false
  private readonly sweep = (): void => this.expire()
  /**
   * The node's fault rules (fabric/fault-rules.ts), applied to the control
   * frames it sends to other nodes: requests and notices whose type a rule
   * names are dropped or delayed; a partition drops every control frame of
   * the link, replies included (a request then times out, as it would).
   * Heartbeats never pass here, and '@' peers (the launcher) are never matched.
   */
  faults?: FaultRuleSet
  /** Control frames held back by a delay rule, sent when their timer fires. */
  private readonly delayed = new Set<NodeJS.Timeout>()

  constructor(transport: Transport, opts: ControlPlaneOptions = {}) {
    this.transport = transport
    this.log = opts.log
    this.auth = opts.auth
    this.defaultTimeoutMs = opts.defaultTimeoutMs ?? Params.controlTimeoutMs
    this.checker = new BodyChecker(opts.messages ?? NodeMessages)
    transport.on('frame', (from, parts) => this.onFrame(from, parts))
    transport.on('error', (err) => this.log?.debug({ err }, 'transport error'))
    transport.on('peer', (info) => {
      if (info.state !== 'down') return
      this.trains.forget(info.id)
      // A peer that is gone will not answer: its requests fail now, not at their timeout.
      this.cancelPeer(info.id, 'peer down')
    })
  }

  /**
   * Register the handler for a message type; its return value is the reply
   * body. One handler per type: a second registration is a wiring bug
   * (EEXIST), never a silent replacement.
   */
  handle<K extends keyof M & string>(type: K, handler: ControlHandler<M, K>): void {
    if (this.handlers.has(type)) throw new EmuError(ErrorCodes.EEXIST, `a handler for "${type}" is already registered on ${this.transport.id}`)
    this.handlers.set(type, handler as AnyHandler)
  }

  /** Remove the handler of a message type (a service detaching). */
  unhandle(type: keyof M & string): void {
    this.handlers.delete(type)
  }

  /**
   * Send a request and wait for the reply body. Rejects EmuError(TIMEOUT)
   * after `timeoutMs`, EmuError(<remote code>) when the handler failed, and
   * EmuError(TRANSPORT) when the frame cannot be sent.
   */
  request<K extends CommandType<M>>(peer: string, type: K, ...args: BodyArgs<M, K, [timeoutMs?: number]>): Promise<ReplyOf<M, K>> {
    const [body, timeoutMs] = args as [unknown, number | undefined]
    const id = this.nextId++
    const ms = timeoutMs ?? this.defaultTimeoutMs
    return new Promise<ReplyOf<M, K>>((resolve, reject) => {
      const deadline = performance.now() + ms
      this.pending.set(id, { peer, type, resolve, reject, deadline, timeoutMs: ms })
      if (deadline < this.timerAt) this.armTimer(deadline)
      else if (!this.timerRefed) {
        this.timer!.ref()
        this.timerRefed = true
      }
      const msg: ControlMessage = { t: type, id }
      if (body !== undefined) msg.body = body
      this.sign(peer, msg)
      try {
        this.sendControl(peer, msg, type)
        this.counters.requestsSent++
      } catch (err) {
        this.settled(id)
        reject(asEmuError(err, ErrorCodes.TRANSPORT))
      }
    })
  }

  /** One-way message: no reply, no delivery guarantee beyond the transport's. */
  notify<K extends keyof M & string>(peer: string, type: K, ...args: BodyArgs<M, K>): void {
    const [body] = args as [unknown]
    const msg: ControlMessage = { t: type }
    if (body !== undefined) msg.body = body
    this.sign(peer, msg)
    this.sendControl(peer, msg, type)
    this.counters.notifySent++
  }

  /** With CURVE: our key name and token for `peer` on a request or notice. */
  private sign(peer: string, msg: ControlMessage): void {
    const tok = this.auth?.tokenFor(peer)
    if (tok) {
      msg.k = tok.k
      msg.a = tok.a
    }
  }

  /** Receive every DATA frame (packet train) as its list of packets. */
  onData(listener: DataListener): void {
    this.dataListeners.push(listener)
  }

  /** Send a packet train to a peer in one DATA frame. */
  sendData(peer: string, packets: Uint8Array[]): void {
    this.sendTrain(peer, buildTrain(packets))
  }

  /** Send a train laid out by buildTrain() (or buildIcrcTrain(), with `icrc`) in one DATA frame. */
  sendTrain(peer: string, train: Uint8Array, icrc = false): void {
    this.transport.send(peer, trainFrame(train, this.trains.echoFor(peer), icrc))
    this.trains.sent(peer, train)
    this.counters.dataFramesOut++
  }

  /** Reject every pending request (the transport is going away). */
  /** Fail every request still waiting for a reply from `peer` (EmuError(TRANSPORT)). */
  cancelPeer(peer: string, reason: string): void {
    for (const [id, p] of this.pending) {
      if (p.peer !== peer) continue
      this.pending.delete(id)
      p.reject(new EmuError(ErrorCodes.TRANSPORT, `${p.peer}: "${p.type}" cancelled: ${reason}`))
    }
  }

  cancelAll(reason = 'control plane closed'): void {
    for (const [id, p] of this.pending) {
      this.pending.delete(id)
      p.reject(new EmuError(ErrorCodes.TRANSPORT, `${p.peer}: "${p.type}" cancelled: ${reason}`))
    }
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
    this.timerAt = Infinity
    this.timerRefed = false
    for (const t of this.delayed) clearTimeout(t)
    this.delayed.clear()
  }

  /**
   * Send a control frame through the fault rules: `type` for a request or
   * notice (matched against the rules' `control.messages`), undefined for a
   * reply (only a partition stops it). A dropped frame is silently gone.
   */
  private sendControl(peer: string, msg: ControlMessage, type: string | undefined): void {
    const rules = this.faults
    if (rules && rules.size > 0) {
      const fate = rules.controlFate(peer, type)
      if (fate === 'drop') return
      if (fate > 0) {
        const frame = controlFrame(msg)
        const timer = setTimeout(() => {
          this.delayed.delete(timer)
          try {
            this.transport.send(peer, frame)
          } catch (err) {
            this.log?.debug({ peer, type: msg.t, err: (err as Error).message }, 'delayed control frame not sent')
          }
        }, fate)
        this.delayed.add(timer)
        return
      }
    }
    this.transport.send(peer, controlFrame(msg))
  }

  private armTimer(at: number): void {
    if (this.timer) clearTimeout(this.timer)
    this.timerAt = at
    this.timer = setTimeout(this.sweep, Math.max(1, Math.ceil(at - performance.now())))
    this.timerRefed = true
  }

  /** Forget a pending request; once none is left the timer stops holding the process. */
  private settled(id: number): void {
    this.pending.delete(id)
    if (this.pending.size === 0 && this.timerRefed) {
      this.timer!.unref()
      this.timerRefed = false
    }
  }

  /** The timer fired: time out every request past its deadline, re-arm for the next. */
  private expire(): void {
    this.timer = undefined
    this.timerAt = Infinity
    this.timerRefed = false
    const now = performance.now()
    let next = Infinity
    for (const [id, p] of this.pending) {
      if (p.deadline <= now) {
        this.pending.delete(id)
        this.counters.timeouts++
        p.reject(new EmuError(ErrorCodes.TIMEOUT, `${p.peer}: no reply to "${p.type}" within ${p.timeoutMs} ms`, { peer: p.peer, type: p.type }))
      } else if (p.deadline < next) {
        next = p.deadline
      }
    }
    if (next !== Infinity) this.armTimer(next)
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
      this.trains.arrived(from, frame.echo)
      for (const listener of this.dataListeners) {
        try {
          listener(from, frame.packets, frame.icrc)
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
    else this.onRequest(from, msg)
  }

  private onReply(from: string, msg: ControlMessage): void {
    const p = this.pending.get(msg.re!)
    if (!p || p.peer !== from) {
      this.counters.unmatchedReplies++
      return
    }
    this.settled(msg.re!)
    if (msg.err) {
      this.counters.remoteErrors++
      const details: Record<string, unknown> = { peer: from, type: p.type, remote: true }
      if (typeof msg.err.field === 'string') details.field = msg.err.field
      p.reject(new EmuError(msg.err.code as ErrorCode, msg.err.message, details))
    } else {
      p.resolve(msg.body as never)
    }
  }

  /**
   * Run the handler of a request or notification. A handler that returns a
   * plain value is answered in the same turn (the reply leaves before the
   * receive loop waits for the next frame); only a promise costs a later turn.
   */
  private onRequest(from: string, msg: ControlMessage): void {
    const isRequest = msg.id !== undefined
    if (isRequest) this.counters.requestsReceived++
    else this.counters.notifyReceived++
    const handler = this.handlers.get(msg.t)
    if (!handler) {
      this.counters.unhandled++
      this.log?.debug({ from, type: msg.t }, 'no handler')
      if (isRequest) this.reply(from, msg, undefined, new EmuError(ErrorCodes.EOPNOTSUPP, `no handler for "${msg.t}" on ${this.transport.id}`))
      return
    }
    let result: unknown
    try {
      this.checker.check(msg.t, msg.body)
    } catch (err) {
      this.counters.badBodies++
      this.log?.debug({ from, type: msg.t, err: (err as Error).message }, 'malformed body refused')
      if (isRequest) this.reply(from, msg, undefined, err as EmuError)
      return
    }
    let caller: Caller | undefined
    try {
      if (this.auth) {
        caller = this.auth.caller(from, msg.k, msg.a)
        this.auth.checkCommand(caller, msg.t)
      }
      result = handler(msg.body, from, caller)
    } catch (err) {
      this.handlerFailed(from, msg, isRequest, err)
      return
    }
    if (isThenable(result)) {
      result.then(
        (body) => {
          if (isRequest) this.reply(from, msg, body)
        },
        (err) => this.handlerFailed(from, msg, isRequest, err),
      )
    } else if (isRequest) {
      this.reply(from, msg, result)
    }
  }

  private handlerFailed(from: string, msg: ControlMessage, isRequest: boolean, err: unknown): void {
    const e = asEmuError(err, ErrorCodes.INTERNAL)
    if (e.code === ErrorCodes.INTERNAL) this.log?.error({ from, type: msg.t, err }, 'handler failed')
    if (isRequest) this.reply(from, msg, undefined, e)
  }

  private reply(from: string, msg: ControlMessage, body: unknown, err?: EmuError): void {
    const reply: ControlMessage = err
      ? { t: msg.t, re: msg.id!, err: errorBody(err) }
      : { t: msg.t, re: msg.id! }
    if (!err && body !== undefined) reply.body = body
    try {
      this.sendControl(from, reply, undefined)
      this.counters.repliesSent++
    } catch (e) {
      this.log?.warn({ from, type: msg.t, err: (e as Error).message }, 'reply not sent')
    }
  }
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function'
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

function errorBody(err: EmuError): NonNullable<ControlMessage['err']> {
  const field = (err.details as { field?: unknown } | undefined)?.field
  return typeof field === 'string' ? { code: err.code, message: err.message, field } : { code: err.code, message: err.message }
}

function asEmuError(err: unknown, fallback: ErrorCode): EmuError {
  if (err instanceof EmuError) return err
  const message = err instanceof Error ? err.message : String(err)
  return new EmuError(fallback, message, { cause: err })
}
