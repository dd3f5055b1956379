import type { PacketInit } from '../../fabric/codec.ts'
import type { FrameMemoryDesc } from '../memory/frame-memory.ts'

/**
 * What crosses between the main thread and a data-path worker: one task is
 * one batch of memory operations of one QP, taken from one received train.
 *
 * Ops are rows of a Float64Array (OP_FIELDS numbers each) so a batch of
 * hundreds of packets is one small message; WRITE payloads are copied into
 * a staging SharedArrayBuffer rather than sent one by one. Responses the
 * worker builds (READ data, atomic ACKs) come back encoded, back to back in
 * one transferred buffer.
 */
export const OpKind = { WRITE: 0, READ_RESPOND: 1, ATOMIC: 2, ATOMIC_WRITE: 3, FLUSH: 4 } as const

/** Fields of one op row. */
export const F = {
  KIND: 0,
  /** Region serial (Mr.serial); its descriptor travels in DataPathTask.mems. */
  REGION: 1,
  OFF: 2,
  LEN: 3,
  /** PSN of the request (for the NAK when the region died in the meantime). */
  PSN: 4,
  /** WRITE: where the payload sits in the staging buffer (or the transferred train). */
  STAGE: 5,
} as const
export const OP_FIELDS = 6

/** Per-op data that does not fit a number row (responses to encode, atomic operands). */
export interface OpExtra {
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
  ops: Float64Array
  /** Sparse, by op index. */
  extras: Array<OpExtra | undefined>
  stage: SharedArrayBuffer | undefined
  /** Instead of staging: the received train itself, transferred (WRITE STAGE offsets index it). */
  train: ArrayBuffer | undefined
  /**
   * The QP's lane (unique per QP). After an ODP fault the worker needs the
   * main thread for, it holds the lane: later tasks of the lane come back
   * `skipped` until one arrives with `resume`.
   */
  lane?: number
  resume?: boolean
}

export interface DataPathResult {
  /** Index of the first op whose region was gone or could not be faulted in (nothing from it on was done), or -1. */
  failedAt: number
  /**
   * Index of the first op that needs an ODP major fault only the main thread
   * can serve (nothing from it on was done; the main thread finishes the
   * batch), or -1.
   */
  faultAt: number
  /** The lane was held by an earlier fault: nothing was done. */
  skipped?: boolean
  /** A transferred train handed back (faultAt / skipped), for the main thread to finish from. */
  train?: ArrayBuffer
  /** Main thread: the result of finishing the batch from op `extraFrom` on. */
  extra?: DataPathResult
  extraFrom?: number
  /** Encoded responses, back to back. */
  out: ArrayBuffer | undefined
  /** Per op index: [offset, length] of its response in `out` (length 0: none). */
  outAt: Int32Array | undefined
  /** Atomic original value per op, by op index. */
  origs: Array<bigint | undefined>
}
