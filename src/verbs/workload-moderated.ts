/**
 * The perftest loop with perftest's completion options (bench -Q, -l, -e):
 * CQ moderation (only every `signalEvery`-th WR is signaled; RC completes in
 * order, so one completion retires every WR up to it), post lists (WRs go
 * to postSend `postList` at a time), and completion events (the loop arms
 * the CQ with reqNotify and waits on a completion channel instead of
 * awaiting the CQ). runWorkload (./workload.ts) hands a plain spec with any
 * of these set over to runModerated.
 */
import { EmuError, ErrorCodes } from '../errors.ts'
import { Params } from '../params.ts'
import type { Mr } from '../memory/stag.ts'
import type { SendWr } from '../engine/wqe.ts'
import { CompChannel } from './comp-channel.ts'
import { SendFlags, WcStatus, WrOpcode } from './constants.ts'
import type { Cq, Wc } from './cq.ts'
import type { Qp } from './qp.ts'
import type { WorkloadOptions, WorkloadResult, WorkloadSpec } from './workload-types.ts'

/** True when `spec` asks for moderation, post lists or events. */
export function isModerated(spec: WorkloadSpec): boolean {
  return (spec.signalEvery ?? 1) > 1 || (spec.postList ?? 1) > 1 || spec.events === true
}

export async function runModerated(qp: Qp, cq: Cq, local: Mr, spec: WorkloadSpec, opts: WorkloadOptions = {}): Promise<WorkloadResult> {
  const { count, window, size } = spec
  const every = spec.signalEvery ?? 1
  const list = spec.postList ?? 1
  if (!Number.isInteger(every) || every < 1 || every > window) throw new EmuError(ErrorCodes.EINVAL, `signalEvery must be an integer 1..window (${window}), got ${every}`)
  if (!Number.isInteger(list) || list < 1 || list > window || (list > 1 && list % every !== 0)) throw new EmuError(ErrorCodes.EINVAL, `postList must be a multiple of signalEvery (${every}) within the window (${window}), got ${list}`)
  const atomic = spec.opcode === WrOpcode.ATOMIC_CMP_AND_SWP || spec.opcode === WrOpcode.ATOMIC_FETCH_AND_ADD
  const slots = Math.min(window, count)
  if (local.length < slots * size) throw new EmuError(ErrorCodes.EINVAL, `local MR of ${local.length} bytes is too small for ${slots} x ${size}`)
  // Posting goes in whole units (a post list, and a signaled WR at the end of
  // each), so a -D run that stops posting never leaves unsignaled WRs behind.
  const unit = Math.max(list, every)
  const span = spec.span ?? size
  const postedAt = new Float64Array(slots)
  const latenciesUs: number[] = []
  const atomicResults: bigint[] | undefined = atomic ? [] : undefined
  const view = local.memory.view(0, local.length)!
  let posted = 0
  let completed = 0
  let errors = 0
  let firstError: number | undefined
  let polled = 0
  let cqEvents = 0
  let postCalls = 0
  const ownChannel = spec.events === true && cq.channel === undefined
  if (ownChannel) cq.channel = new CompChannel()
  const channel = cq.channel
  const t0 = performance.now()
  const deadline = spec.durationMs === undefined ? Infinity : t0 + spec.durationMs
  const post = (free: number): void => {
    let n = Math.min(free, count - posted)
    if (posted + n < count) n -= (posted + n) % unit
    while (n > 0) {
      const wrs: SendWr[] = []
      for (let k = 0; k < Math.min(n, list); k++, posted++) {
        const i = posted
        const slot = i % slots
        const roff = span > size ? (i * size) % (span - size + 1) : 0
        const signaled = (i + 1) % every === 0 || i === count - 1
        wrs.push({
          wrId: i, opcode: spec.opcode, sendFlags: signaled ? SendFlags.SIGNALED : 0,
          sgList: size ? [{ addr: local.iova + slot * size, length: size, lkey: local.stag }] : [],
          remoteAddr: spec.remoteAddr + roff, rkey: spec.rkey, compareAdd: spec.compareAdd, swap: spec.swap, imm: spec.imm,
        })
        postedAt[slot] = performance.now()
      }
      n -= wrs.length
      postCalls++
      qp.postSend(wrs)
    }
  }
  /** The next completions: awaited on the CQ, or (events) on the channel after arming the CQ. */
  const nextBatch = async (): Promise<Wc[]> => {
    if (!spec.events) return [await cq.next(Params.workloadCompletionTimeoutMs), ...cq.poll(window)]
    for (;;) {
      const got = cq.poll(window)
      if (got.length) return got
      cq.reqNotify()
      // A completion that landed between the poll and the arm raised no event: poll again (the ibv_req_notify_cq idiom).
      const late = cq.poll(window)
      if (late.length) return late
      await channel!.getCqEvent(Params.workloadCompletionTimeoutMs)
      channel!.ackCqEvents(cq, 1)
      cqEvents++
    }
  }
  const signal = opts.signal
  try {
    if (!signal?.aborted) post(slots)
    while (completed < posted) {
      const batch = await nextBatch()
      polled += batch.length
      const now = performance.now()
      for (const w of batch) {
        if (w.status !== WcStatus.SUCCESS) {
          completed++
          errors++
          firstError ??= w.status
          continue
        }
        // In order: this completion retires every WR up to its own; each
        // one's slot still holds its atomic result (the slot is reused only
        // by a WR posted after this).
        for (; completed <= w.wrId; completed++) {
          const slot = completed % slots
          latenciesUs.push((now - postedAt[slot]!) * 1000)
          if (atomicResults) atomicResults.push(new DataView(view.buffer, view.byteOffset + slot * size, 8).getBigUint64(0, true))
        }
      }
      if (errors) break
      if (now < deadline && !signal?.aborted) post(slots - (posted - completed))
    }
  } finally {
    if (ownChannel) {
      channel!.destroy()
      cq.channel = undefined
    }
  }
  const stopped = signal?.aborted === true
  const stopReason = stopped ? String(signal.reason ?? 'stopped') : undefined
  return { completed, posted, stopped, stopReason, errors, firstError, elapsedMs: performance.now() - t0, latenciesUs, atomicResults, polled, cqEvents, postCalls }
}
