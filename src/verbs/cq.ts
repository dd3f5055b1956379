import { EmuError, ErrorCodes } from '../errors.ts'
import { Params } from '../params.ts'
import { CqNotify, firesNotify, type CompChannel } from './comp-channel.ts'

/** struct ibv_wc, the fields users read. */
export interface Wc {
  wrId: number
  status: number
  opcode: number
  /** Bytes received (RECV) or transferred (READ); 0 otherwise. */
  byteLen: number
  /** Immediate data in host order, when wcFlags has WITH_IMM. */
  immData?: number
  qpNum: number
  srcQp: number
  wcFlags: number
  vendorErr?: number
  /** ibv_wc.invalidated_rkey, when wcFlags has WITH_INV (a SEND_WITH_INV received). */
  invalidatedRkey?: number
}

/** enum ibv_wc_flags */
export const WcFlags = { GRH: 1, WITH_IMM: 2, IP_CSUM_OK: 4, WITH_INV: 8 } as const

/**
 * Completion queue. poll() is the ibv_poll_cq analogue; next() resolves with
 * the next completion for callers that would rather await than spin.
 */
export class Cq {
  readonly depth: number
  private readonly entries: Wc[] = []
  private head = 0
  private readonly waiters: Array<{ resolve: (wc: Wc) => void; reject: (err: Error) => void; deadline: number; timeoutMs: number }> = []
  private timer: NodeJS.Timeout | undefined
  private timerDeadline = 0
  /** Completions lost because the CQ was full (each raised IBV_EVENT_CQ_ERR). */
  overflows = 0
  /** The device's handle for this CQ (the `cqn` of its async events). */
  cqn = 0
  /**
   * Called with a completion the CQ had no room for (rxe_cq_post's full
   * queue): the device raises CQ_ERR and moves the completion's QP to ERR.
   */
  onOverrun?: (wc: Wc) => void

  constructor(depth: number) {
    if (!Number.isInteger(depth) || depth < 1) throw new EmuError(ErrorCodes.EINVAL, `CQ depth must be a positive integer, got ${depth}`)
    this.depth = depth
  }

  get count(): number {
    return this.entries.length - this.head
  }

  /** The completion channel its events go to (ibv_create_cq's channel). */
  channel?: CompChannel
  /** Armed notification (CqNotify): reqNotify() arms, the next matching completion fires and disarms. */
  private notifyArmed = 0

  /**
   * ibv_req_notify_cq: arm for the next completion, or with `solicitedOnly`
   * the next solicited (or unsuccessful receive) one. EINVAL without a channel.
   */
  reqNotify(solicitedOnly = false): void {
    if (!this.channel) throw new EmuError(ErrorCodes.EINVAL, 'req_notify_cq on a CQ created without a completion channel')
    // rxe_req_notify_cq: a NEXT_COMP arm is not weakened to SOLICITED.
    if (this.notifyArmed !== CqNotify.NEXT_COMP) this.notifyArmed = solicitedOnly ? CqNotify.SOLICITED : CqNotify.NEXT_COMP
  }

  /**
   * Called by the engine. `solicited`: the BTH SE bit of the message it
   * completes (rxe_cq_post). False when the CQ is full (rxe_cq_post's
   * -EBUSY): the completion is lost, counted and reported through onOverrun,
   * and no completion event fires.
   */
  push(wc: Wc, solicited = false): boolean {
    const w = this.waiters.shift()
    if (!w && this.count >= this.depth) {
      this.overflows++
      this.onOverrun?.(wc)
      return false
    }
    if (this.notifyArmed && firesNotify(this.notifyArmed, solicited)) {
      this.notifyArmed = 0
      queueMicrotask(() => this.channel?.notify(this))
    }
    if (w) {
      if (this.waiters.length === 0) this.timer?.unref()
      w.resolve(wc)
      return true
    }
    this.entries.push(wc)
    return true
  }

  /** Up to `max` completions, oldest first. */
  poll(max = 16): Wc[] {
    const n = Math.min(max, this.count)
    const out = this.entries.slice(this.head, this.head + n)
    this.head += n
    if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries.splice(0, this.head)
      this.head = 0
    }
    return out
  }

  /**
   * The next completion; rejects with TIMEOUT after `timeoutMs`.
   *
   * One timer per CQ serves every waiter's deadline: it is armed for the
   * earliest deadline and left alone when a waiter is served in time (a
   * closed loop awaits one completion per operation, and creating and
   * clearing a timer each time costs more than the rest of the wait). It
   * keeps the process alive only while someone waits.
   */
  next(timeoutMs: number = Params.cqWaitTimeoutMs): Promise<Wc> {
    const ready = this.poll(1)
    if (ready.length) return Promise.resolve(ready[0]!)
    return new Promise((resolve, reject) => {
      const deadline = performance.now() + timeoutMs
      this.waiters.push({ resolve, reject, deadline, timeoutMs })
      this.armTimer(deadline)
    })
  }

  private armTimer(deadline: number): void {
    if (this.timer && this.timerDeadline <= deadline) {
      this.timer.ref()
      return
    }
    if (this.timer) clearTimeout(this.timer)
    this.timerDeadline = deadline
    this.timer = setTimeout(this.expire, Math.max(1, deadline - performance.now()))
  }

  private readonly expire = (): void => {
    this.timer = undefined
    const now = performance.now()
    let earliest = Infinity
    for (let i = 0; i < this.waiters.length; ) {
      const w = this.waiters[i]!
      if (w.deadline <= now) {
        this.waiters.splice(i, 1)
        w.reject(new EmuError(ErrorCodes.TIMEOUT, `no completion within ${w.timeoutMs} ms`))
      } else {
        earliest = Math.min(earliest, w.deadline)
        i++
      }
    }
    if (earliest < Infinity) this.armTimer(earliest)
  }

  /** Await `n` completions. */
  async take(n: number, timeoutMs: number = Params.cqWaitTimeoutMs): Promise<Wc[]> {
    const out: Wc[] = []
    const deadline = Date.now() + timeoutMs
    while (out.length < n) out.push(await this.next(Math.max(1, deadline - Date.now())))
    return out
  }
}
