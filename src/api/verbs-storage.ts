/**
 * The verbs storage stacks use, in the shape of pyverbs: shared receive
 * queues (`SRQ`, pyverbs `SRQ`), memory windows (`MW`, pyverbs `MW`), and
 * the work requests that fast-register an MR, bind a window and invalidate
 * either (IBV_WR_REG_MR as the kernel's ib_reg_wr, IBV_WR_BIND_MW,
 * IBV_WR_LOCAL_INV, IBV_WR_SEND_WITH_INV). The PD, QP and Context methods
 * that create them live in ./verbs.ts; the engine's objects in src/verbs.
 */
import type { RegionMemory } from '../memory/region-memory.ts'
import type { Mr } from '../memory/stag.ts'
import type { RecvWr, SendWr } from '../engine/wqe.ts'
import { WrOpcode } from '../verbs/constants.ts'
import type { RdmaDevice } from '../verbs/device.ts'
import type { Mw } from '../verbs/mw.ts'
import type { Srq, SrqAttr } from '../verbs/srq.ts'

export type { SrqAttr }

/** What SRQ and MW need of their PD (./verbs.ts PD). */
export interface PdLike {
  readonly handle: number
  readonly context: { readonly raw: RdmaDevice }
}

/** Something with an rkey and an lkey: an MR wrapper (./verbs.ts MR) or the engine's Mr. */
type MrLike = { readonly raw: Mr } | Mr

function rawMr(mr: MrLike): Mr {
  return 'raw' in mr ? mr.raw : mr
}

/**
 * A shared receive queue (`struct ibv_srq` from ibv_create_srq; pyverbs
 * `SRQ`). QPs created with `srq` in their init attributes take their
 * receives from it; post receives here, not on those QPs.
 */
export class SRQ {
  readonly pd: PdLike
  /** The engine's queue. */
  readonly raw: Srq

  constructor(pd: PdLike, srq: Srq) {
    this.pd = pd
    this.raw = srq
  }

  /** The SRQ number (ibv_srq's srq_num; SRQ_LIMIT_REACHED events carry it as `srqn`). */
  get srqn(): number {
    return this.raw.srqn
  }
  /** Receive WQEs posted and not yet consumed. */
  get count(): number {
    return this.raw.count
  }

  /** ibv_post_srq_recv: one WR or a list. ENOMEM when full, EINVAL for an SGE outside a local-writable MR of the PD. */
  postRecv(wr: RecvWr | RecvWr[]): void {
    this.raw.postRecv(wr)
  }

  /**
   * ibv_modify_srq: `srqLimit` (IBV_SRQ_LIMIT) arms the limit event: when
   * fewer WQEs are left, one SRQ_LIMIT_REACHED async event, and the limit
   * is disarmed (0) until armed again; `maxWr` (IBV_SRQ_MAX_WR) resizes.
   */
  modify(attr: { maxWr?: number; srqLimit?: number }): void {
    this.raw.modify(attr)
  }

  /** ibv_query_srq: maxWr, maxSge, srqLimit. */
  query(): SrqAttr {
    return this.raw.query()
  }

  /** ibv_destroy_srq. EBUSY while a QP uses it. */
  destroy(): void {
    if (this.raw.destroyed) return
    this.pd.context.raw.destroySrq(this.raw)
  }
}

/**
 * A memory window (`struct ibv_mw` from ibv_alloc_mw; pyverbs `MW`). Bind a
 * type 2 window with a BIND_MW work request (bindWr) on a QP of its PD; its
 * rkey then reaches [addr, addr+length) of the MR, with the window's
 * rights, through that QP only. LOCAL_INV or a peer's SEND_WITH_INV of the
 * rkey unbinds it.
 */
export class MW {
  readonly pd: PdLike
  /** The engine's window. */
  readonly raw: Mw

  constructor(pd: PdLike, mw: Mw) {
    this.pd = pd
    this.raw = mw
  }

  /** ibv_mw.rkey (its key byte changes with each bind). */
  get rkey(): number {
    return this.raw.rkey
  }
  /** IBV_MW_TYPE_1 or IBV_MW_TYPE_2. */
  get type(): 1 | 2 {
    return this.raw.type
  }
  /** True while bound (rxe RXE_MW_STATE_VALID with a range). */
  get bound(): boolean {
    return this.raw.length > 0
  }

  /**
   * The IBV_WR_BIND_MW work request binding this window over `mr`'s
   * [addr, addr+length) with `access` (REMOTE_READ, REMOTE_WRITE,
   * REMOTE_ATOMIC, ZERO_BASED). The new rkey keeps the index and takes
   * `keyByte` (default: the next key). Post it on a QP of the window's PD;
   * a refused bind completes with MW_BIND_ERR.
   */
  bindWr(o: { mr: MrLike; addr: number; length: number; access: number; keyByte?: number; wrId?: number; sendFlags?: number }): SendWr & { rkey: number } {
    const key = (o.keyByte ?? this.raw.rkey + 1) & 0xff
    const rkey = ((this.raw.rkey & ~0xff) | key) >>> 0
    const wr: SendWr = {
      wrId: o.wrId, opcode: WrOpcode.BIND_MW, sendFlags: o.sendFlags,
      bindMw: { mw: this.raw, rkey, mr: rawMr(o.mr), addr: o.addr, length: o.length, access: o.access },
    }
    return { ...wr, rkey }
  }

  /** ibv_dealloc_mw. */
  dealloc(): void {
    this.pd.context.raw.deallocMw(this.raw)
  }
}

/**
 * ib_map_mr_sg for an MR from `pd.allocMr(maxPages)`: the memory the next
 * REG_MR maps at `iova`. Returns the pages it spans (EINVAL beyond maxPages).
 */
export function mapMrSg(mr: { readonly raw: Mr; readonly pd: PdLike }, buffer: Uint8Array | RegionMemory, iova: number): number {
  return mr.pd.context.raw.mapMrSg(mr.raw, buffer, iova)
}

/** The IBV_WR_REG_MR work request (ib_reg_wr) validating a fast-register MR with `access` and a new key byte. */
export function regMrWr(mr: MrLike, o: { access: number; keyByte?: number; wrId?: number; sendFlags?: number }): SendWr & { key: number } {
  const raw = rawMr(mr)
  const key = ((raw.stag & ~0xff) | ((o.keyByte ?? raw.stag + 1) & 0xff)) >>> 0
  return { wrId: o.wrId, opcode: WrOpcode.REG_MR, sendFlags: o.sendFlags, reg: { mr: raw, key, access: o.access }, key }
}

/** The IBV_WR_LOCAL_INV work request invalidating `rkey` (a fast-register MR's or a type 2 window's). */
export function localInvWr(rkey: number, o: { wrId?: number; sendFlags?: number } = {}): SendWr {
  return { wrId: o.wrId, opcode: WrOpcode.LOCAL_INV, invalidateRkey: rkey >>> 0, sendFlags: o.sendFlags }
}
