/**
 * Memory windows (rxe_mw.c; ibv_alloc_mw, ibv_bind_mw, IBV_WR_BIND_MW,
 * IBV_WR_LOCAL_INV and SEND_WITH_INV of a window's rkey). A window is a
 * range of a registered MR with its own rkey and remote access rights. A
 * type 2 window is bound by a BIND_MW work request on a QP of its PD and is
 * then usable only through that QP; a type 1 window is bound with
 * ibv_bind_mw (the same work request, posted for the program) and is usable
 * by any QP of the PD. An rkey whose index lies in the window range names a
 * window (rxe's rkey_is_mw); every other rkey names an MR.
 */
import { EmuError, ErrorCodes } from '../errors.ts'
import { MrCheck, MrState, type LookupResult, type Mr } from '../memory/stag.ts'
import { randomInt } from 'node:crypto'
import { Access } from './constants.ts'

/** Window indices: the upper half of the 24-bit index space (MRs count up from 1). */
export const MW_INDEX_BASE = 0x800000
const MW_INDEX_MAX = 0xffffff

/** enum rxe_mw_state */
export const MwState = { INVALID: 0, FREE: 1, VALID: 2 } as const

/** Rights a window may grant (ib_uverbs_bind_mw access: remote rights and ZERO_BASED). */
const MW_ACCESS = Access.REMOTE_READ | Access.REMOTE_WRITE | Access.REMOTE_ATOMIC | Access.ZERO_BASED

export interface Mw {
  readonly index: number
  /** Index << 8 | key; a bind may change the key byte. */
  rkey: number
  readonly pd: number
  readonly type: 1 | 2
  state: number
  access: number
  /** Start of the window in the MR's address space, and its length. */
  addr: number
  length: number
  mr?: Mr
  /** Type 2: the QP that bound it, the only one it serves. */
  qpn?: number
}

/** ibv_mw_bind_info plus the window and new rkey of a BIND_MW work request. */
export interface MwBind {
  mw: Mw
  /** The window's rkey after the bind: the same index, any key byte (type 2). */
  rkey: number
  /** The MR bound over; absent (or length 0) unbinds. */
  mr?: Mr
  addr: number
  length: number
  /** Access of the window (REMOTE_READ, REMOTE_WRITE, REMOTE_ATOMIC, ZERO_BASED). */
  access: number
}

/** True when `rkey` names a window (rxe rkey_is_mw). */
export function rkeyIsMw(rkey: number): boolean {
  return rkey >>> 8 >= MW_INDEX_BASE
}

/** The device's windows. */
export class MwTable {
  private readonly byIndex = new Map<number, Mw>()
  /** Windows bound over each MR (rxe mr->num_mw). */
  private readonly bound = new WeakMap<Mr, number>()
  private nextIndex = MW_INDEX_BASE

  get size(): number {
    return this.byIndex.size
  }

  /** ibv_alloc_mw: a type 2 window starts FREE (unbound), a type 1 VALID with no range. */
  alloc(pd: number, type: 1 | 2 = 2): Mw {
    if (type !== 1 && type !== 2) throw new EmuError(ErrorCodes.EINVAL, `memory window type ${String(type)}: 1 or 2`)
    const index = this.allocIndex()
    const mw: Mw = { index, rkey: ((index << 8) | randomInt(256)) >>> 0, pd, type, state: type === 2 ? MwState.FREE : MwState.VALID, access: 0, addr: 0, length: 0 }
    this.byIndex.set(index, mw)
    return mw
  }

  /** ibv_dealloc_mw: the rkey stops resolving at once. */
  dealloc(mw: Mw): void {
    if (this.byIndex.get(mw.index) !== mw) throw new EmuError(ErrorCodes.EINVAL, 'memory window is not allocated')
    this.unbind(mw)
    mw.state = MwState.INVALID
    this.byIndex.delete(mw.index)
  }

  /** True while a window of `pd` is allocated (ibv_dealloc_pd waits for none). */
  inPd(pd: number): boolean {
    for (const mw of this.byIndex.values()) if (mw.pd === pd) return true
    return false
  }

  /** Windows currently bound over `mr` (its deregistration and invalidation wait for none). */
  boundOver(mr: Mr): number {
    return this.bound.get(mr) ?? 0
  }

  byRkey(rkey: number): Mw | undefined {
    const mw = this.byIndex.get(rkey >>> 8)
    return mw && mw.rkey === rkey >>> 0 ? mw : undefined
  }

  /**
   * Execute a bind for a QP (`pd`, `qpn`) (rxe_check_bind_mw then
   * rxe_do_bind_mw). Returns undefined on success, else why it failed (the
   * WR completes with MW_BIND_ERR).
   */
  bind(pd: number, qpn: number, b: MwBind): string | undefined {
    const mw = this.byIndex.get(b.mw.index)
    if (mw !== b.mw || mw.state === MwState.INVALID) return 'window not allocated'
    if ((b.rkey >>> 8) !== mw.index) return 'new rkey changes the window index'
    if (mw.type === 2) {
      if (mw.state !== MwState.FREE) return 'type 2 window is already bound (o10-37.2.30)'
      if (mw.pd !== pd) return "window's PD differs from the QP's (o10-37.2.31)"
    } else if (b.access & Access.ZERO_BASED) {
      return 'type 1 windows cannot be zero based'
    }
    if ((b.access & ~MW_ACCESS) !== 0) return `bad window access 0x${b.access.toString(16)}`
    const mr = b.length > 0 ? b.mr : undefined
    if (b.length > 0 && !mr) return 'bind of a length without an MR'
    if (mr) {
      if (mr.state !== MrState.VALID) return 'MR is not valid'
      if (mr.pd !== pd) return "MR's PD differs from the QP's"
      if (!(mr.access & Access.MW_BIND)) return 'MR lacks MW_BIND access (o10-37.2.34)'
      if (mr.access & Access.ZERO_BASED) return 'MR is zero based'
      if (b.access & (Access.REMOTE_WRITE | Access.REMOTE_ATOMIC) && !(mr.access & Access.LOCAL_WRITE)) return 'remote write or atomic window over an MR without LOCAL_WRITE (o10-37.2.40)'
      if (!Number.isInteger(b.addr) || !Number.isInteger(b.length) || b.length < 0 || b.addr < mr.iova || b.addr + b.length > mr.iova + mr.length) return 'window outside the MR (o10-37.2.42)'
    }
    this.unbind(mw)
    mw.rkey = b.rkey >>> 0
    mw.access = b.access
    mw.addr = mr ? b.addr : 0
    mw.length = mr ? b.length : 0
    mw.state = MwState.VALID
    if (mr) {
      mw.mr = mr
      this.bound.set(mr, this.boundOver(mr) + 1)
    }
    if (mw.type === 2) mw.qpn = qpn
    return undefined
  }

  /**
   * LOCAL_INV or SEND_WITH_INV of a window's rkey (rxe_invalidate_mw): a
   * type 2 window goes back to FREE. Returns why it failed, or undefined.
   */
  invalidate(rkey: number): string | undefined {
    const mw = this.byIndex.get(rkey >>> 8)
    if (!mw) return 'no window with that index'
    if (mw.rkey !== rkey >>> 0) return 'rkey does not match the window'
    if (mw.type === 1) return 'type 1 windows cannot be invalidated'
    this.unbind(mw)
    mw.state = MwState.FREE
    return undefined
  }

  /**
   * Resolve a window rkey for a remote access through QP `qpn` of `pd`
   * (rxe_lookup_mw, then the range and the MR under it).
   */
  lookup(rkey: number, pd: number, qpn: number, access: number, va: number, len: number): LookupResult {
    const mw = this.byRkey(rkey)
    if (!mw) return { status: MrCheck.BAD_KEY, offset: 0 }
    if (mw.pd !== pd || (mw.type === 2 && mw.qpn !== qpn)) return { status: MrCheck.BAD_PD, offset: 0 }
    if ((mw.access & access) !== access) return { status: MrCheck.BAD_ACCESS, offset: 0 }
    if (mw.state !== MwState.VALID || mw.length === 0 || !mw.mr) return { status: MrCheck.BAD_STATE, offset: 0 }
    const mr = mw.mr
    if (mr.state !== MrState.VALID) return { status: MrCheck.BAD_STATE, offset: 0 }
    const start = mw.access & Access.ZERO_BASED ? mw.addr + va : va
    if (!(start >= mw.addr) || len < 0 || start + len > mw.addr + mw.length) return { status: MrCheck.OUT_OF_BOUNDS, offset: 0 }
    return { status: MrCheck.OK, mr, offset: start - mr.iova }
  }

  private unbind(mw: Mw): void {
    if (mw.mr) {
      const n = this.boundOver(mw.mr) - 1
      if (n > 0) this.bound.set(mw.mr, n)
      else this.bound.delete(mw.mr)
    }
    mw.mr = undefined
    mw.qpn = undefined
    mw.access = 0
    mw.addr = 0
    mw.length = 0
  }

  private allocIndex(): number {
    for (let tries = 0; tries <= MW_INDEX_MAX - MW_INDEX_BASE; tries++) {
      const i = this.nextIndex
      this.nextIndex = this.nextIndex >= MW_INDEX_MAX ? MW_INDEX_BASE : this.nextIndex + 1
      if (!this.byIndex.has(i)) return i
    }
    throw new EmuError(ErrorCodes.ENOMEM, 'no free memory window index')
  }
}
