import type { Mr } from '../memory/stag.ts'
import type { MwBind } from '../verbs/mw.ts'
import type { WqeKindValue, WrOpcodeInfo } from './wr-opcodes.ts'

/** struct ibv_sge */
export interface Sge {
  addr: number
  length: number
  lkey: number
}

/** struct ibv_send_wr, the fields this emulator implements. */
export interface SendWr {
  wrId?: number
  opcode: number
  sgList?: Sge[]
  /** ibv_send_flags; SIGNALED is implied when the QP was created with sqSigAll. */
  sendFlags?: number
  /** Immediate data (WRITE_WITH_IMM, SEND_WITH_IMM). */
  imm?: number
  /** Remote VA and rkey (RDMA ops, atomics, FLUSH, ATOMIC_WRITE). */
  remoteAddr?: number
  rkey?: number
  /** CMP_AND_SWP compare value, or FETCH_AND_ADD add value. */
  compareAdd?: bigint
  /** CMP_AND_SWP swap value. */
  swap?: bigint
  /**
   * FLUSH (ibv_wr_flush): bytes to flush at remoteAddr, selectivity level
   * (0 = the range) and placement type (1 global visibility, 2 persistence; default 2).
   * FLUSH carries no local data, so it has no SGEs.
   */
  flush?: { length: number; sel?: number; plt?: number }
  /** LOCAL_INV and SEND_WITH_INV: the rkey to invalidate (ibv_send_wr.invalidate_rkey). */
  invalidateRkey?: number
  /** REG_MR (ib_reg_wr): the MR from allocMr, its new key (same index, any key byte) and access. */
  reg?: { mr: Mr; key: number; access: number }
  /** BIND_MW (ibv_send_wr.bind_mw): the window, its new rkey and the bind info. */
  bindMw?: MwBind
}

/** struct ibv_recv_wr */
export interface RecvWr {
  wrId?: number
  sgList?: Sge[]
}

/** A resolved local scatter/gather element: region plus offset inside it. */
export interface LocalSeg {
  mr: Mr
  off: number
  len: number
}

export interface SendWqe {
  wr: SendWr
  wrId: number
  /** The WR opcode's table entry, and its kind (kept beside it: the hot paths switch on it). */
  op: WrOpcodeInfo
  kind: WqeKindValue
  signaled: boolean
  segs: LocalSeg[]
  /** Total message length. */
  length: number
  firstPsn: number
  lastPsn: number
  npkts: number
  /** Packets of a WRITE/SEND acknowledged so far; response packets of a READ received so far. */
  done: number
  /** A local protection error found at post time; completes the WQE with this status. */
  localError: number
  /** Why a local operation (REG_MR, LOCAL_INV, BIND_MW) failed, for logs. */
  localWhy?: string
}

export interface RecvWqe {
  wrId: number
  segs: LocalSeg[]
  length: number
}

/** A minimal growable FIFO with O(1) shift, indexable by absolute position. */
export class Fifo<T> {
  private items: T[] = []
  private start = 0
  /** Absolute index of the first item. */
  base = 0
  get length(): number {
    return this.items.length - this.start
  }
  /** Absolute index one past the last item. */
  get end(): number {
    return this.base + this.length
  }
  push(x: T): void {
    this.items.push(x)
  }
  peek(): T | undefined {
    return this.items[this.start]
  }
  at(abs: number): T | undefined {
    const i = abs - this.base
    return i >= 0 && i < this.length ? this.items[this.start + i] : undefined
  }
  shift(): T | undefined {
    if (this.start >= this.items.length) return undefined
    const x = this.items[this.start]
    this.start++
    this.base++
    if (this.start > 1024 && this.start * 2 > this.items.length) {
      this.items = this.items.slice(this.start)
      this.start = 0
    }
    return x
  }
  clear(): T[] {
    const rest = this.items.slice(this.start)
    this.base += rest.length
    this.items = []
    this.start = 0
    return rest
  }
}
