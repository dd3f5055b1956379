/**
 * Asynchronous events of a device (enum ibv_event_type, ibv_get_async_event):
 * the engine and the verbs objects raise them, the owning program reads them
 * (await next(), or poll()). Events nobody reads are kept up to `capacity`;
 * older ones are dropped and counted, as a full event queue would.
 */
import { EmuError, ErrorCodes } from '../errors.ts'

/** enum ibv_event_type (verbs.h values). */
export const AsyncEventType = {
  CQ_ERR: 0,
  QP_FATAL: 1,
  QP_REQ_ERR: 2,
  QP_ACCESS_ERR: 3,
  COMM_EST: 4,
  SQ_DRAINED: 5,
  PATH_MIG: 6,
  PATH_MIG_ERR: 7,
  DEVICE_FATAL: 8,
  PORT_ACTIVE: 9,
  PORT_ERR: 10,
  SRQ_ERR: 14,
  SRQ_LIMIT_REACHED: 15,
  QP_LAST_WQE_REACHED: 16,
} as const

export type AsyncEventTypeValue = (typeof AsyncEventType)[keyof typeof AsyncEventType]

/** struct ibv_async_event: the type and the object it is about. */
export interface AsyncEvent {
  type: AsyncEventTypeValue
  qpn?: number
  /** The CQ's handle (the owner's id for it). */
  cqn?: number
  srqn?: number
  /** Why (for logs and tests). */
  reason?: string
}

/**
 * The affiliated asynchronous error a responder fault raises on its QP
 * (IBTA 11.6.3.1; by RespFault name, src/engine/status.ts): an invalid
 * request is a Local Invalid Request Error (QP_REQ_ERR), an rkey or bounds
 * violation a Local Access Violation (QP_ACCESS_ERR), anything else a Local
 * Work Queue Catastrophic Error (QP_FATAL). Errors a requester learns from a
 * NAK are reported by its completion alone.
 */
export const RESP_FAULT_EVENT: Readonly<Record<string, AsyncEventTypeValue>> = {
  INVALID_REQUEST: AsyncEventType.QP_REQ_ERR,
  REMOTE_ACCESS: AsyncEventType.QP_ACCESS_ERR,
  REMOTE_OPERATIONAL: AsyncEventType.QP_FATAL,
}

export function asyncEventName(type: number): string {
  return Object.entries(AsyncEventType).find(([, v]) => v === type)?.[0] ?? `EVENT_${type}`
}

export class AsyncEventQueue {
  private readonly events: AsyncEvent[] = []
  private readonly waiters: Array<(ev: AsyncEvent) => void> = []
  /** Events dropped because nobody read them and the queue was full. */
  dropped = 0
  /** Every event raised, by name. */
  readonly counts: Record<string, number> = {}

  constructor(readonly capacity = 1024) {}

  /** Raise an event (the engine, the verbs objects). */
  push(ev: AsyncEvent): void {
    const name = asyncEventName(ev.type)
    this.counts[name] = (this.counts[name] ?? 0) + 1
    const w = this.waiters.shift()
    if (w) return w(ev)
    if (this.events.length >= this.capacity) {
      this.events.shift()
      this.dropped++
    }
    this.events.push(ev)
  }

  /** The events waiting, oldest first (ibv_get_async_event without blocking). */
  poll(max = Infinity): AsyncEvent[] {
    return this.events.splice(0, Math.min(max, this.events.length))
  }

  /** The next event; rejects with ETIMEDOUT after `timeoutMs`. */
  next(timeoutMs: number): Promise<AsyncEvent> {
    const ev = this.events.shift()
    if (ev) return Promise.resolve(ev)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const k = this.waiters.indexOf(take)
        if (k >= 0) this.waiters.splice(k, 1)
        reject(new EmuError(ErrorCodes.TIMEOUT, `no async event within ${timeoutMs} ms`))
      }, timeoutMs)
      const take = (e: AsyncEvent): void => {
        clearTimeout(timer)
        resolve(e)
      }
      this.waiters.push(take)
    })
  }
}
