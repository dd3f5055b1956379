/**
 * Completion channels and CQ notification (ibv_create_comp_channel,
 * ibv_req_notify_cq, ibv_get_cq_event, ibv_ack_cq_events; rxe_cq.c
 * rxe_cq_post and rxe_req_notify_cq). A CQ created on a channel is armed by
 * reqNotify(): the next completion (or, solicited-only, the next solicited
 * or unsuccessful receive completion) puts one event for the CQ on the
 * channel and disarms it. A program awaits getCqEvent(), polls the CQ, and
 * acknowledges the events it took.
 */
import { EmuError, ErrorCodes } from '../errors.ts'

/** What a channel knows of a CQ (the Cq class implements it). */
export interface NotifiedCq {
  /** The channel its events go to. */
  readonly channel?: CompChannel
}

/** ibv_req_notify_cq's solicited_only: 0 = any completion (IB_CQ_NEXT_COMP), 1 = solicited (IB_CQ_SOLICITED). */
export const CqNotify = { NONE: 0, NEXT_COMP: 1, SOLICITED: 2 } as const
export type CqNotifyValue = (typeof CqNotify)[keyof typeof CqNotify]

/**
 * Whether a completion posted with `solicited` fires a CQ armed `notify`
 * (rxe_cq_post: NEXT_COMP always, SOLICITED only when the completion is).
 */
export function firesNotify(notify: number, solicited: boolean): boolean {
  return notify === CqNotify.NEXT_COMP || (notify === CqNotify.SOLICITED && solicited)
}

/** struct ibv_comp_channel */
export class CompChannel {
  private readonly events: NotifiedCq[] = []
  private readonly waiters: Array<(cq: NotifiedCq) => void> = []
  /** Events delivered and not yet acknowledged, per CQ (ibv_destroy_cq waits for them in libibverbs). */
  private readonly unacked = new Map<NotifiedCq, number>()
  private closed = false

  /** Called by a CQ whose armed notification fired. */
  notify(cq: NotifiedCq): void {
    if (this.closed) return
    const w = this.waiters.shift()
    if (w) return w(cq)
    this.events.push(cq)
  }

  /** ibv_get_cq_event: the CQ of the next event; rejects with TIMEOUT after `timeoutMs`. */
  getCqEvent<T extends NotifiedCq>(timeoutMs: number): Promise<T> {
    if (this.closed) return Promise.reject(new EmuError(ErrorCodes.EINVAL, 'completion channel is destroyed'))
    const ev = this.events.shift()
    if (ev) return Promise.resolve(this.took(ev) as T)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const k = this.waiters.indexOf(take)
        if (k >= 0) this.waiters.splice(k, 1)
        reject(new EmuError(ErrorCodes.TIMEOUT, `no CQ event within ${timeoutMs} ms`))
      }, timeoutMs)
      const take = (cq: NotifiedCq): void => {
        clearTimeout(timer)
        resolve(this.took(cq) as T)
      }
      this.waiters.push(take)
    })
  }

  /** Events waiting on the channel (not yet taken by getCqEvent). */
  get pending(): number {
    return this.events.length
  }

  /** ibv_ack_cq_events: acknowledge `n` events taken for `cq`. EINVAL for more than were taken. */
  ackCqEvents(cq: NotifiedCq, n = 1): void {
    const have = this.unacked.get(cq) ?? 0
    if (!Number.isInteger(n) || n < 0 || n > have) throw new EmuError(ErrorCodes.EINVAL, `ack of ${n} CQ events, ${have} unacknowledged`)
    if (have - n === 0) this.unacked.delete(cq)
    else this.unacked.set(cq, have - n)
  }

  /** Events taken for `cq` and not acknowledged. */
  unackedEvents(cq: NotifiedCq): number {
    return this.unacked.get(cq) ?? 0
  }

  /** ibv_destroy_comp_channel. */
  destroy(): void {
    this.closed = true
    this.events.length = 0
  }

  private took(cq: NotifiedCq): NotifiedCq {
    this.unacked.set(cq, (this.unacked.get(cq) ?? 0) + 1)
    return cq
  }
}
