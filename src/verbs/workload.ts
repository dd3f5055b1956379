import { EmuError, ErrorCodes } from '../errors.ts'
import { Params } from '../params.ts'
import type { Mr } from '../memory/stag.ts'
import { SendFlags, WcStatus, WrOpcode } from './constants.ts'
import type { Cq } from './cq.ts'
import type { Qp } from './qp.ts'
import type { SendWr } from '../engine/wqe.ts'
import type { HistoryOp } from '../check/history.ts'
import { runChecked } from './workload-checked.ts'
import type { WorkloadHistorySpec, WorkloadMixEntry, WorkloadSample } from './workload-plan.ts'

export type { WorkloadHistorySpec, WorkloadMixEntry, WorkloadSample } from './workload-plan.ts'
export { swapValue } from './workload-plan.ts'

/**
 * A closed-loop workload on one QP (the perftest loop): keep `window` WRs
 * outstanding until `count` have completed, every one signaled, and report
 * completion counts and per-operation latencies. With `durationMs` (perftest
 * -D) the loop stops posting once that much time has passed (or `count`
 * operations were posted, whichever comes first) and returns when the
 * outstanding ones have completed. Used by the remote `verbs.workload`
 * command, so a client host process can drive load itself.
 *
 * Early stop: when `opts.signal` is aborted (verbs.workload.stop, or a
 * layout-lease break on the MR the workload targets) no new operation is
 * posted; the loop returns once the outstanding ones have completed, with
 * `stopped` set and how far it got (`posted`, `completed`).
 *
 * Checked mode (`history` set; src/verbs/workload-checked.ts): a seeded mix
 * of operations, every WR recorded as a HistoryOp, FLUSHes every
 * `flushEvery` operations, counter samples every `sampleMs`; an error stops
 * posting and the loop drains the rest (it does not stop at the first error).
 */
export interface WorkloadSpec {
  opcode: number
  /** Operations to run; with `durationMs`, the most to run. */
  count: number
  /** Run for this long (ms) instead of until `count` operations completed. */
  durationMs?: number
  /** Outstanding WRs (perftest -t tx depth). */
  window: number
  /** Bytes per operation (8 for atomics). */
  size: number
  remoteAddr: number
  rkey: number
  /** Remote bytes the operations may spread over (each op at remoteAddr + (i*size) % span); default size. */
  span?: number
  compareAdd?: bigint
  swap?: bigint
  imm?: number

  // ---- checked mode (history set) ----
  /** Record every WR as a HistoryOp: where the records belong, and the run's clock. Turns checked mode on. */
  history?: WorkloadHistorySpec
  /** Operations drawn per operation by weight (default: the one of `opcode`). */
  mix?: WorkloadMixEntry[]
  /** Seed of the PRNG that draws operations and addresses (default 1). */
  seed?: number
  /** Bytes of each READ (multiple of 8; default size). WRITEs are `size` bytes (multiple of 8). */
  readSize?: number
  /** Bytes of each SEND (multiple of 8; default size). */
  sendSize?: number
  /**
   * Where the server's receives land, for `send` in the mix: an SGE of a
   * server MR (not the target range). The verbs.workload service posts
   * receives on the peer QP ahead of the SENDs and polls their completions.
   */
  recv?: { stag: number; offset: number; length: number }
  /** The FETCH_ADD words: `atomicSpan` (default 1) words at MR offset `atomicOffset` (8-aligned, outside the write/read range). */
  atomicOffset?: number
  atomicSpan?: number
  /** The CMP_SWAP words (default: the FETCH_ADD words). */
  casOffset?: number
  casSpan?: number
  /** FETCH_ADD addend (default 1). */
  addend?: bigint
  /** What the atomic words hold before the run (the first CMP_SWAP compare; default 0). */
  atomicInitial?: bigint
  /** Post an RDMA FLUSH over the range the workload touches after every N operations (default 0: none). */
  flushEvery?: number
  /** Its placement type: 1 global visibility, 2 persistence, 3 both (default 3; the MR needs the matching FLUSH rights). */
  flushPlt?: number
  /** Once posting stops, wait this long (ms) for the outstanding WRs (default 10000); the rest stay PENDING. */
  drainMs?: number
  /** Sample the device's requester counters every this many ms (default 50; 0: none). */
  sampleMs?: number
}

export interface WorkloadResult {
  completed: number
  /** Operations posted (== completed unless the loop ended on an error). */
  posted: number
  /** Stopped early through the abort signal (its reason in stopReason). */
  stopped: boolean
  stopReason?: string
  errors: number
  firstError?: number
  elapsedMs: number
  /** Post-to-completion time of every operation, in microseconds. */
  latenciesUs: number[]
  /** Atomic results (original values), when the opcode is an atomic. */
  atomicResults?: bigint[]

  // ---- checked mode ----
  /** Every WR posted, in posting order (wrId = index). */
  history?: HistoryOp[]
  samples?: WorkloadSample[]
  /** FLUSHes that completed successfully. */
  flushes?: number
  /** WRs posted that never completed within the drain time (status PENDING). */
  pending?: number
  /** Every posted WR completed (pending 0). */
  drained?: boolean
  /** Why posting ended: 'count reached', 'duration reached', the first error, 'stopped: ...', a post failure or a stall. */
  endReason?: string
  /** Completions beyond the first of a WR, and completions for no WR of this workload. */
  duplicateCompletions?: number
  strayCompletions?: number
  /** SENDs posted, and receive completions the peer's QP gave (successful ones) by the end. */
  sends?: number
  sendsReceived?: number
}

export interface WorkloadOptions {
  /** Abort to stop posting; the outstanding operations still complete. */
  signal?: AbortSignal
  /** Checked mode with `send` in the mix: posts `n` receives on the peer QP, and polls its receive CQ (returns the successful receive completions). */
  receiver?: WorkloadReceiver
}

export interface WorkloadReceiver {
  post(n: number): Promise<void>
  poll(): Promise<number>
}

/** Bytes of local buffer a workload needs (the verbs.workload service registers at least this much). */
export function localBytesFor(spec: WorkloadSpec): number {
  const slots = Math.max(1, Math.min(spec.window, spec.count))
  if (spec.history === undefined) return slots * spec.size
  const read = spec.mix ? spec.mix.some((m) => m.op === 'read') : spec.opcode === WrOpcode.RDMA_READ
  const write = spec.mix ? spec.mix.some((m) => m.op === 'write') : spec.opcode === WrOpcode.RDMA_WRITE
  const send = spec.mix?.some((m) => m.op === 'send') ?? false
  return slots * Math.max(8, write ? spec.size : 0, read ? spec.readSize ?? spec.size : 0, send ? spec.sendSize ?? spec.size : 0)
}

export async function runWorkload(qp: Qp, cq: Cq, local: Mr, spec: WorkloadSpec, opts: WorkloadOptions = {}): Promise<WorkloadResult> {
  const { count, window, size } = spec
  if (!Number.isInteger(count) || count < 0) throw new EmuError(ErrorCodes.EINVAL, `count must be a non-negative integer, got ${count}`)
  if (!Number.isInteger(window) || window < 1) throw new EmuError(ErrorCodes.EINVAL, `window must be a positive integer, got ${window}`)
  if (spec.durationMs !== undefined && !(spec.durationMs >= 0)) throw new EmuError(ErrorCodes.EINVAL, `durationMs must be >= 0, got ${spec.durationMs}`)
  if (spec.history !== undefined) return runChecked(qp, cq, local, spec, opts)
  if (spec.mix !== undefined) throw new EmuError(ErrorCodes.EINVAL, 'spec.mix needs spec.history (checked mode)', { field: 'spec.mix' })
  const atomic = spec.opcode === WrOpcode.ATOMIC_CMP_AND_SWP || spec.opcode === WrOpcode.ATOMIC_FETCH_AND_ADD
  const slots = Math.min(window, count)
  if (local.length < slots * size) throw new EmuError(ErrorCodes.EINVAL, `local MR of ${local.length} bytes is too small for ${slots} x ${size}`)
  const span = spec.span ?? size
  // Post time per slot: operation i reuses slot i % slots only once operation
  // i - slots has completed (RC completes in order), so one entry per slot is enough.
  const postedAt = new Float64Array(slots)
  const latenciesUs: number[] = []
  const atomicResults: bigint[] | undefined = atomic ? [] : undefined
  const view = local.memory.view(0, local.length)!
  let posted = 0
  let completed = 0
  let errors = 0
  let firstError: number | undefined
  const t0 = performance.now()
  const deadline = spec.durationMs === undefined ? Infinity : t0 + spec.durationMs
  const post = (n: number): void => {
    const wrs: SendWr[] = []
    for (let k = 0; k < n; k++, posted++) {
      const i = posted
      const slot = i % slots
      const roff = span > size ? (i * size) % (span - size + 1) : 0
      wrs.push({
        wrId: i, opcode: spec.opcode, sendFlags: SendFlags.SIGNALED,
        sgList: size ? [{ addr: local.iova + slot * size, length: size, lkey: local.stag }] : [],
        remoteAddr: spec.remoteAddr + roff, rkey: spec.rkey, compareAdd: spec.compareAdd, swap: spec.swap, imm: spec.imm,
      })
      postedAt[slot] = performance.now()
    }
    if (wrs.length) qp.postSend(wrs)
  }
  const signal = opts.signal
  if (!signal?.aborted) post(slots)
  while (completed < posted) {
    const wc = await cq.next(Params.workloadCompletionTimeoutMs)
    const batch = [wc, ...cq.poll(window)]
    const now = performance.now()
    for (const w of batch) {
      completed++
      latenciesUs.push((now - postedAt[w.wrId % slots]!) * 1000)
      if (w.status !== WcStatus.SUCCESS) {
        errors++
        firstError ??= w.status
      } else if (atomicResults) {
        const off = (w.wrId % slots) * size
        atomicResults.push(new DataView(view.buffer, view.byteOffset + off, 8).getBigUint64(0, true))
      }
    }
    if (errors) break
    // Time is up (-D), or a stop was asked for: no new operations; the loop
    // ends once the outstanding ones complete.
    if (now < deadline && !signal?.aborted) post(Math.min(batch.length, count - posted))
  }
  const stopped = signal?.aborted === true
  const stopReason = stopped ? String(signal.reason ?? 'stopped') : undefined
  return { completed, posted, stopped, stopReason, errors, firstError, elapsedMs: performance.now() - t0, latenciesUs, atomicResults }
}
