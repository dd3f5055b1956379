/**
 * Raw zeromq.js messaging between two node processes, the yardstick of
 * `rdma-emu bench --baseline`: the same two processes, the same message size
 * and window as the emulated run, but plain ZeroMQ messages instead of IBA
 * packets, so the ratio says how near the emulator gets to the fabric it
 * sits on.
 *
 * One exchange ("stream") is a DEALER bound by the serving node and a DEALER
 * connected by the driving node:
 * - `baseline.listen` (serving node): bind on HOST:0, return the endpoint and a
 *   token. The socket answers a hello, then receives `count` requests of
 *   `reqBytes`; it answers each with `respBytes` (respEvery 1: ping-pong,
 *   reads, atomics) or, with respBytes 0, sends a credit (the cumulative count,
 *   8 bytes) every `respEvery` requests and after the last one (streaming).
 * - `baseline.run` (driving node): connect, keep up to `window` requests
 *   unanswered until `count` are answered, and return the elapsed time and
 *   every request's send-to-answer time.
 * - `baseline.close` (serving node): close the socket; returns what it received.
 * - `baseline.received` (serving node): requests received so far per stream.
 * Sockets have linger 0; every send is awaited before the next (zeromq.js
 * allows one pending send per socket) and no sent buffer is ever changed.
 */
import { Dealer } from 'zeromq'
import { EmuError, ErrorCodes } from '../errors.ts'
import { Params } from '../params.ts'
import type { NodeContext } from './node-context.ts'
import { endpointPort, tcpEndpoint } from '../config/endpoint.ts'
import type { CurveSocketOptions } from '../../fabric/zmq-transport.ts'
import type { BaselineCloseReply, BaselineListenReply, BaselineRunResult, BaselineShape } from '../../fabric/node-message-types.ts'

const HELLO = Buffer.from('baseline-hello')

/** A stream's socket; with CURVE on the fabric, a CURVE socket like the fabric's (`curve`: its options). */
function newDealer(curve: CurveSocketOptions): Dealer {
  return new Dealer({ ...curve, linger: 0, sendHighWaterMark: Params.zmqHighWaterMark, receiveHighWaterMark: Params.zmqHighWaterMark })
}

interface Served {
  socket: Dealer
  received: number
  badSize: number
  timer: NodeJS.Timeout
}

export function attachBaseline(ctx: NodeContext): void {
  const served = new Map<number, Served>()
  const driving = new Set<Dealer>()
  let nextToken = 1
  // Bound where the node binds; handed out at the address the node advertises.
  const nc = ctx.nodeConfig
  const bindAt = nc.transport === 'tcp' ? (nc.bind === '*' ? 'tcp://*:0' : tcpEndpoint(nc.bind, 0)) : 'tcp://127.0.0.1:0'
  const reachAt = nc.transport === 'tcp' ? nc.advertise : '127.0.0.1'

  const closeServed = (token: number): BaselineCloseReply => {
    const s = served.get(token)
    if (!s) throw new EmuError(ErrorCodes.ENOENT, `baseline: no stream ${token} on ${ctx.id}`)
    served.delete(token)
    clearTimeout(s.timer)
    s.socket.close()
    return { received: s.received, badSize: s.badSize }
  }

  ctx.control.handle('baseline.listen', async (body): Promise<BaselineListenReply> => {
    // The message table checked the shape (count, reqBytes, respBytes, respEvery).
    const shape: BaselineShape = body
    const socket = newDealer(ctx.transport.curveServerOptions())
    try {
      await socket.bind(bindAt)
    } catch (err) {
      socket.close()
      throw new EmuError(ErrorCodes.TRANSPORT, `baseline: cannot bind ${bindAt}: ${(err as Error).message}`)
    }
    const token = nextToken++
    const s: Served = { socket, received: 0, badSize: 0, timer: setTimeout(() => served.has(token) && closeServed(token), Params.baselineIdleCloseMs) }
    s.timer.unref()
    served.set(token, s)
    void serve(s, shape).catch((err) => {
      if (!socket.closed) ctx.log.warn({ err: (err as Error).message }, 'baseline stream failed')
    })
    const endpoint = tcpEndpoint(reachAt, endpointPort(socket.lastEndpoint!)!)
    const serverKey = ctx.transport.publicKey
    return serverKey ? { token, endpoint, serverKey } : { token, endpoint }
  })

  ctx.control.handle('baseline.close', (b) => closeServed(b.token))
  // Progress of open streams: requests received so far (for a progress bar).
  ctx.control.handle('baseline.received', (b) => b.tokens.map((t) => served.get(t)?.received ?? 0))

  ctx.control.handle('baseline.run', async (b): Promise<BaselineRunResult> => {
    const shape: BaselineShape = b
    const socket = newDealer(ctx.transport.curveClientOptions(b.serverKey))
    driving.add(socket)
    // A stalled exchange ends by closing the socket, which fails the pending receive.
    const timer = setTimeout(() => socket.close(), b.timeoutMs ?? 120_000)
    try {
      socket.connect(b.endpoint)
      return await drive(socket, shape, b.window)
    } catch (err) {
      if (socket.closed) throw new EmuError(ErrorCodes.TIMEOUT, `baseline.run: no answer from ${b.endpoint} in time`)
      throw err
    } finally {
      clearTimeout(timer)
      driving.delete(socket)
      if (!socket.closed) socket.close()
    }
  })

  ctx.onShutdown(() => {
    for (const token of [...served.keys()]) closeServed(token)
    for (const socket of driving) socket.close()
  })
}

/** The serving side of one stream: hello, then `count` requests, answered or credited. */
async function serve(s: Served, shape: BaselineShape): Promise<void> {
  const { socket } = s
  const [hello] = await socket.receive()
  await socket.send(hello!)
  const answer = shape.respBytes > 0 ? Buffer.alloc(shape.respBytes, 0xa5) : undefined
  while (s.received < shape.count) {
    const [msg] = await socket.receive()
    s.received++
    if (msg!.length !== shape.reqBytes) s.badSize++
    if (answer) {
      await socket.send(answer)
    } else if (s.received % shape.respEvery === 0 || s.received === shape.count) {
      // A fresh buffer per credit: a sent buffer is never changed.
      const credit = Buffer.alloc(8)
      credit.writeUInt32LE(s.received, 0)
      await socket.send(credit)
    }
  }
}

/** The driving side of one stream: up to `window` requests unanswered until `count` are answered. */
async function drive(socket: Dealer, shape: BaselineShape, window: number): Promise<BaselineRunResult> {
  const { count, reqBytes, respBytes } = shape
  await socket.send(HELLO)
  await socket.receive()
  const request = Buffer.alloc(reqBytes, 0x5a)
  const sentAt = new Float64Array(count)
  const latenciesUs = new Array<number>(count)
  const problems: string[] = []
  let sent = 0
  let answered = 0
  let wake: (() => void) | undefined
  const receiver = (async () => {
    while (answered < count) {
      const [msg] = await socket.receive()
      const now = performance.now()
      let upTo: number
      if (respBytes > 0) {
        if (msg!.length !== respBytes && problems.length < 5) problems.push(`answer ${answered} has ${msg!.length} bytes, expected ${respBytes}`)
        upTo = answered + 1
      } else {
        upTo = msg!.length >= 4 ? msg!.readUInt32LE(0) : answered
        if (upTo <= answered || upTo > sent) {
          problems.push(`credit for ${upTo} requests after ${answered} answered and ${sent} sent`)
          throw new EmuError(ErrorCodes.INTERNAL, problems.at(-1)!)
        }
      }
      for (; answered < upTo; answered++) latenciesUs[answered] = (now - sentAt[answered]!) * 1000
      const w = wake
      wake = undefined
      w?.()
    }
  })()
  receiver.catch(() => {})
  const t0 = performance.now()
  while (sent < count) {
    if (sent - answered >= window) {
      await Promise.race([new Promise<void>((r) => (wake = r)), receiver])
      continue
    }
    sentAt[sent++] = performance.now()
    await socket.send(request)
  }
  await receiver
  return { elapsedMs: performance.now() - t0, latenciesUs, problems }
}
