import { EmuError, ErrorCodes } from '../errors.ts'
import { Params } from '../params.ts'
import type { Mr } from '../memory/stag.ts'
import { SendFlags, WcOpcode, WcStatus, WrOpcode } from './constants.ts'
import type { Wc } from './cq.ts'
import type { Qp } from './qp.ts'

/**
 * perftest's latency ping-pong (run_iter_lat_write and run_iter_lat_send in
 * perftest's src/perftest_resources.c), one side of it. Both sides of a
 * write_lat or send_lat run this loop on their own QP; the client starts.
 *
 * - write: the side sets the last byte of its send area to its send count
 *   (perftest's `*post_buf = (char)++scnt`) and RDMA WRITEs the area into the
 *   peer's receive area; the peer spins on the last byte of its receive area
 *   (`while (*poll_buf != (char)rcnt)`) and, on the new value, writes back.
 * - send: a SEND; the peer polls its receive CQ and answers with a SEND.
 *   Each side keeps `recvDepth` receives posted into its receive area.
 *
 * The client times each round trip from its post to the answer it sees; the
 * latency figure is half of it (perftest's convention). The server answers
 * `count` times (with `durationMs` on the client, until it is stopped). The
 * loop ends when the iterations are done, on `signal` (verbs.workload.stop),
 * on a completion in error, or when no answer comes within `answerTimeoutMs`.
 */
export interface PingPongSpec {
  role: 'client' | 'server'
  verb: 'write' | 'send'
  /** Round trips to run; with `durationMs`, the most to run. */
  count: number
  /** Client: stop starting round trips after this long (perftest -D). */
  durationMs?: number
  /** Bytes per message (>= 1 for write: the last byte carries the count). */
  size: number
  /** This host's MR holding the send area and the receive area (they may coincide). */
  localStag: number
  sendOffset: number
  recvOffset: number
  /** write: the peer's receive area (address and rkey). */
  remoteAddr?: number
  rkey?: number
  /** send: receives kept posted (default PINGPONG_RECV_DEPTH). */
  recvDepth?: number
  /** How long to wait for one answer before giving up (default Params.workloadCompletionTimeoutMs). */
  answerTimeoutMs?: number
}

export interface PingPongResult {
  /** Round trips completed (client), answers sent (server). */
  completed: number
  /** Messages this side posted. */
  posted: number
  /** Messages this side received (write: values seen in its receive area; send: receive completions). */
  received: number
  stopped: boolean
  stopReason?: string
  /** True when an answer did not come within answerTimeoutMs. */
  timedOut: boolean
  errors: number
  firstError?: number
  elapsedMs: number
  /** Client: each round trip in µs (post to answer seen). Server: empty. */
  latenciesUs: number[]
}

/** Receives each side keeps posted in a send ping-pong (one is outstanding at a time). */
export const PINGPONG_RECV_DEPTH = 16

const nextTick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

export async function runPingPong(qp: Qp, local: Mr, spec: PingPongSpec, signal?: AbortSignal): Promise<PingPongResult> {
  const { count, size, verb } = spec
  if (!Number.isInteger(count) || count < 0) throw new EmuError(ErrorCodes.EINVAL, `count must be a non-negative integer, got ${count}`)
  if (verb === 'write' && !(size >= 1)) throw new EmuError(ErrorCodes.EINVAL, 'a write ping-pong needs size >= 1 (the last byte carries the count)', { field: 'size' })
  if (verb === 'write' && (spec.remoteAddr === undefined || spec.rkey === undefined)) throw new EmuError(ErrorCodes.EINVAL, 'a write ping-pong needs remoteAddr and rkey', { field: 'rkey' })
  for (const off of [spec.sendOffset, spec.recvOffset]) {
    if (!Number.isInteger(off) || off < 0 || off + size > local.length) throw new EmuError(ErrorCodes.EINVAL, `area ${off}+${size} outside the local MR of ${local.length} bytes`, { field: 'localStag' })
  }
  const client = spec.role === 'client'
  const answerTimeoutMs = spec.answerTimeoutMs ?? Params.workloadCompletionTimeoutMs
  const depth = Math.max(1, spec.recvDepth ?? PINGPONG_RECV_DEPTH)
  const sendCq = qp.sendCq
  const recvCq = qp.recvCq
  const byte = new Uint8Array(1)
  const lastByte = (off: number): number => {
    local.memory.copyOut(off + size - 1, byte, 0, 1)
    return byte[0]!
  }
  const latenciesUs: number[] = []
  let posted = 0
  let received = 0
  let sendsDone = 0
  let recvsPosted = 0
  let errors = 0
  let firstError: number | undefined
  let timedOut = false
  const t0 = performance.now()
  const deadline = spec.durationMs === undefined ? Infinity : t0 + spec.durationMs
  const timed = spec.durationMs !== undefined

  const fail = (status: number): void => {
    errors++
    firstError ??= status
  }
  // A completion of this QP: the answer's receive (send) or one of our own sends.
  const take = (w: Wc): void => {
    if (w.status !== WcStatus.SUCCESS) fail(w.status)
    else if (w.opcode === WcOpcode.RECV) received++
    else sendsDone++
  }
  const drain = (): void => {
    for (const w of sendCq.poll(64)) take(w)
    if (recvCq !== sendCq) for (const w of recvCq.poll(64)) take(w)
  }
  const postRecvs = (): void => {
    const want = timed ? received + depth : Math.min(count, received + depth)
    const wrs = []
    for (; recvsPosted < want; recvsPosted++) wrs.push({ wrId: recvsPosted, sgList: [{ addr: local.iova + spec.recvOffset, length: size, lkey: local.stag }] })
    if (wrs.length) qp.postRecv(wrs)
  }
  const post = (): void => {
    posted++
    if (verb === 'write') {
      // perftest's `*post_buf = (char)++scnt`: the count rides in the last byte.
      byte[0] = posted & 0xff
      local.memory.copyIn(spec.sendOffset + size - 1, byte)
    }
    qp.postSend({
      wrId: posted, opcode: verb === 'write' ? WrOpcode.RDMA_WRITE : WrOpcode.SEND, sendFlags: SendFlags.SIGNALED,
      sgList: [{ addr: local.iova + spec.sendOffset, length: size, lkey: local.stag }],
      ...(verb === 'write' ? { remoteAddr: spec.remoteAddr!, rkey: spec.rkey! } : {}),
    })
  }
  // Wait for the peer's message number `n`: spin on the byte (write) or on the receive CQ (send).
  const awaitMessage = async (n: number): Promise<boolean> => {
    const giveUp = performance.now() + answerTimeoutMs
    for (;;) {
      drain()
      if (errors) return false
      if (verb === 'write' ? lastByte(spec.recvOffset) === (n & 0xff) : received >= n) {
        if (verb === 'write') received = n
        return true
      }
      if (signal?.aborted) return false
      if (performance.now() > giveUp) {
        timedOut = true
        return false
      }
      if (verb === 'send') {
        // The receive CQ wakes us: no spin needed to see a completion as it is pushed.
        try {
          take(await recvCq.next(Math.max(1, giveUp - performance.now())))
        } catch {
          // timed out: the loop notices
        }
      } else {
        await nextTick()
      }
    }
  }

  if (verb === 'send') postRecvs()
  for (;;) {
    if (client) {
      if (posted >= count || performance.now() >= deadline || signal?.aborted || errors) break
      const tPost = performance.now()
      post()
      if (!(await awaitMessage(posted))) break
      latenciesUs.push((performance.now() - tPost) * 1000)
    } else {
      if ((!timed && posted >= count) || signal?.aborted || errors) break
      if (!(await awaitMessage(posted + 1))) break
      post()
    }
    if (verb === 'send') postRecvs()
  }
  // Our own sends complete (an error completion is always posted), bounded.
  const giveUp = performance.now() + answerTimeoutMs
  while (sendsDone + errors < posted && performance.now() < giveUp) {
    drain()
    if (sendsDone + errors < posted) {
      try {
        take(await sendCq.next(Math.max(1, giveUp - performance.now())))
      } catch {
        break
      }
    }
  }
  const stopped = signal?.aborted === true
  return {
    completed: client ? latenciesUs.length : posted, posted, received, stopped,
    ...(stopped ? { stopReason: String(signal!.reason ?? 'stopped') } : {}),
    timedOut, errors, ...(firstError !== undefined ? { firstError } : {}),
    elapsedMs: performance.now() - t0, latenciesUs,
  }
}
