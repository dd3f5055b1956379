/**
 * Shared receive queues (rxe_srq.c, ibv_create_srq / ibv_post_srq_recv /
 * ibv_modify_srq / ibv_query_srq). QPs created with an SRQ take their
 * receive WQEs from it instead of their own receive queue. When the count of
 * WQEs left falls below an armed limit, the SRQ raises SRQ_LIMIT_REACHED
 * once and disarms (rxe_resp.c get_srq_wqe); ibv_modify_srq with srq_limit
 * arms it again.
 */
import { EmuError, ErrorCodes } from '../errors.ts'
import { Params } from '../params.ts'
import { MrCheck, type MrTable } from '../memory/stag.ts'
import { Fifo, type LocalSeg, type RecvWqe, type RecvWr } from '../engine/wqe.ts'
import { Access } from './constants.ts'
import { AsyncEventType, type AsyncEventQueue } from './async-events.ts'

/** ibv_srq_attr */
export interface SrqAttr {
  maxWr: number
  maxSge: number
  /** Armed limit: an event when fewer WQEs than this are left; 0 = disarmed. */
  srqLimit: number
}

/** What an SRQ needs from its device. */
export interface SrqHost {
  readonly mrs: MrTable
  readonly asyncEvents: AsyncEventQueue
}

/** A shared receive queue of one PD. */
export class Srq {
  readonly srqn: number
  readonly pd: number
  private readonly host: SrqHost
  private readonly rq = new Fifo<RecvWqe>()
  private attr: SrqAttr
  /** QPs using it (for destroy's EBUSY). */
  readonly users = new Set<number>()
  destroyed = false

  constructor(host: SrqHost, srqn: number, pd: number, init: Partial<SrqAttr> = {}) {
    this.host = host
    this.srqn = srqn
    this.pd = pd
    const maxWr = init.maxWr ?? Params.defaultMaxRecvWr
    const maxSge = init.maxSge ?? Params.defaultMaxSge
    checkInt('maxWr', maxWr, 1, Params.maxQpCap)
    checkInt('maxSge', maxSge, 1, Params.maxQpCap)
    const srqLimit = init.srqLimit ?? 0
    // rxe_srq_chk_init: the limit cannot exceed the queue size.
    checkInt('srqLimit', srqLimit, 0, maxWr)
    this.attr = { maxWr, maxSge, srqLimit }
  }

  /** WQEs posted and not yet taken. */
  get count(): number {
    return this.rq.length
  }

  /** ibv_query_srq */
  query(): SrqAttr {
    return { ...this.attr }
  }

  /**
   * ibv_modify_srq: `srqLimit` arms the limit event (IBV_SRQ_LIMIT); `maxWr`
   * resizes (IBV_SRQ_MAX_WR), never below the WQEs queued (rxe_srq_chk_attr).
   */
  modify(change: { maxWr?: number; srqLimit?: number }): void {
    this.check()
    const maxWr = change.maxWr ?? this.attr.maxWr
    checkInt('maxWr', maxWr, 1, Params.maxQpCap)
    if (maxWr < this.rq.length) throw new EmuError(ErrorCodes.EINVAL, `maxWr ${maxWr} is below the ${this.rq.length} WQEs queued`)
    if (change.srqLimit !== undefined) {
      checkInt('srqLimit', change.srqLimit, 0, maxWr)
    }
    this.attr.maxWr = maxWr
    if (change.srqLimit !== undefined) this.attr.srqLimit = change.srqLimit
  }

  /** ibv_post_srq_recv: the SGEs are checked against the SRQ's PD. ENOMEM when full. */
  postRecv(wr: RecvWr | RecvWr[]): void {
    this.check()
    const wrs = Array.isArray(wr) ? wr : [wr]
    if (this.rq.length + wrs.length > this.attr.maxWr) throw new EmuError(ErrorCodes.ENOMEM, `SRQ ${this.srqn} full (max_wr ${this.attr.maxWr})`)
    const wqes = wrs.map((w): RecvWqe => {
      const sges = w.sgList ?? []
      if (sges.length > this.attr.maxSge) throw new EmuError(ErrorCodes.EINVAL, `${sges.length} SGEs exceed the SRQ's max_sge ${this.attr.maxSge}`)
      const segs: LocalSeg[] = []
      let length = 0
      for (const s of sges) {
        if (s.length === 0) continue
        const r = this.host.mrs.lookup(s.lkey, this.pd, Access.LOCAL_WRITE, s.addr, s.length)
        if (r.status !== MrCheck.OK) throw new EmuError(ErrorCodes.EINVAL, `SRQ receive SGE lkey 0x${s.lkey.toString(16)} does not cover ${s.length} writable bytes at 0x${s.addr.toString(16)}`)
        segs.push({ mr: r.mr!, off: r.offset, len: s.length })
        length += s.length
      }
      return { wrId: w.wrId ?? 0, segs, length }
    })
    for (const w of wqes) this.rq.push(w)
  }

  /**
   * The responder takes the next WQE (rxe get_srq_wqe). Below the armed
   * limit: SRQ_LIMIT_REACHED, once; the limit is disarmed until modified.
   */
  take(): RecvWqe | undefined {
    if (this.destroyed) return undefined
    const w = this.rq.shift()
    if (w && this.attr.srqLimit > 0 && this.rq.length < this.attr.srqLimit) {
      const limit = this.attr.srqLimit
      this.attr.srqLimit = 0
      this.host.asyncEvents.push({ type: AsyncEventType.SRQ_LIMIT_REACHED, srqn: this.srqn, reason: `${this.rq.length} WQEs left, limit ${limit}` })
    }
    return w
  }

  /** ibv_destroy_srq: EBUSY while a QP uses it. */
  destroy(): void {
    if (this.users.size) throw new EmuError(ErrorCodes.EBUSY, `SRQ ${this.srqn} is used by ${this.users.size} QP(s)`)
    this.destroyed = true
    this.rq.clear()
  }

  private check(): void {
    if (this.destroyed) throw new EmuError(ErrorCodes.EINVAL, `SRQ ${this.srqn} is destroyed`)
  }
}

function checkInt(name: string, v: number, lo: number, hi: number): void {
  if (!Number.isInteger(v) || v < lo || v > hi) throw new EmuError(ErrorCodes.EINVAL, `${name} must be an integer ${lo}-${hi}, got ${v}`)
}
