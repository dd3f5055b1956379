import { EmuError, ErrorCodes } from '../errors.ts'
import { Params } from '../params.ts'
import type { Mr } from '../memory/stag.ts'
import { SendFlags, WcStatus, WrOpcode } from './constants.ts'
import type { Cq } from './cq.ts'
import type { Qp } from './qp.ts'
import type { SendWr } from '../engine/wqe.ts'
import { runChecked } from './workload-checked.ts'
import { isModerated, runModerated } from './workload-moderated.ts'
import type { WorkloadOptions, WorkloadResult, WorkloadSpec } from './workload-types.ts'

export type { MixOp, WorkloadHistorySpec, WorkloadMixEntry, WorkloadOptions, WorkloadReceiver, WorkloadResult, WorkloadSample, WorkloadSpec } from './workload-types.ts'
export { swapValue } from './workload-plan.ts'

/** Bytes of local buffer a workload needs (the verbs.workload service registers at least this much). */
export function localBytesFor(spec: WorkloadSpec): number {
  const slots = Math.max(1, Math.min(spec.window, spec.count))
  if (spec.history === undefined) return slots * spec.size
  const read = spec.mix ? spec.mix.some((m) => m.op === 'read') : spec.opcode === WrOpcode.RDMA_READ
  const write = spec.mix ? spec.mix.some((m) => m.op === 'write') : spec.opcode === WrOpcode.RDMA_WRITE
  const send = spec.mix?.some((m) => m.op === 'send') ?? false
  return slots * Math.max(8, write ? spec.size : 0, read ? spec.readSize ?? spec.size : 0, send ? spec.sendSize ?? spec.size : 0)
}

/**
 * Run a closed-loop workload on `qp` (completions on `cq`, local buffers in
 * `local`): the perftest loop, or the checked mode when `spec.history` is
 * set. The spec and result are described in ./workload-types.ts.
 */
export async function runWorkload(qp: Qp, cq: Cq, local: Mr, spec: WorkloadSpec, opts: WorkloadOptions = {}): Promise<WorkloadResult> {
  const { count, window, size } = spec
  if (!Number.isInteger(count) || count < 0) throw new EmuError(ErrorCodes.EINVAL, `count must be a non-negative integer, got ${count}`)
  if (!Number.isInteger(window) || window < 1) throw new EmuError(ErrorCodes.EINVAL, `window must be a positive integer, got ${window}`)
  if (spec.durationMs !== undefined && !(spec.durationMs >= 0)) throw new EmuError(ErrorCodes.EINVAL, `durationMs must be >= 0, got ${spec.durationMs}`)
  if (spec.history !== undefined) return runChecked(qp, cq, local, spec, opts)
  if (spec.mix !== undefined) throw new EmuError(ErrorCodes.EINVAL, 'spec.mix needs spec.history (checked mode)', { field: 'spec.mix' })
  if (isModerated(spec)) return runModerated(qp, cq, local, spec, opts)
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
