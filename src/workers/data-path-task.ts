import type { PacketInit } from '../../fabric/codec.ts'
import type { FrameMemoryDesc } from '../memory/frame-memory.ts'

/**
 * What crosses between the main thread and a data-path worker: one task is
 * one batch of memory operations of one QP, taken from one received train.
 */
export const OpKind = { WRITE: 0, READ_RESPOND: 1, ATOMIC: 2, ATOMIC_WRITE: 3, FLUSH: 4 } as const

export interface WorkOp {
  k: number
  /** Region serial (see Mr.serial); its descriptor travels in DataPathTask.mems. */
  m: number
  off: number
  len: number
  /** PSN of the request, for the NAK when the region died in the meantime. */
  psn: number
  /** WRITE: the payload (its buffer is transferred, not copied). */
  data?: Uint8Array
  /** READ_RESPOND / ATOMIC: the response to fill and encode in the worker. */
  p?: PacketInit
  cas?: boolean
  /** ATOMIC: swap or add; ATOMIC_WRITE: the value. */
  a?: bigint
  /** ATOMIC: compare. */
  b?: bigint
}

export interface RegionRef {
  desc: FrameMemoryDesc
  /** Mr.live: 1 while registered. */
  live: Int32Array
}

export interface DataPathTask {
  mems: Array<[number, RegionRef]>
  ops: WorkOp[]
}

export interface DataPathResult {
  /** Index of the first op whose region was gone (nothing from it on was done), or -1. */
  failedAt: number
  /** Encoded response packet per op (READ_RESPOND, ATOMIC), by op index. */
  out: Array<Uint8Array | undefined>
  /** Atomic original value per op, by op index. */
  origs: Array<bigint | undefined>
}
