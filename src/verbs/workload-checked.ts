import { PENDING, wordValue, type HistoryOp, type OpKind } from '../check/history.ts'
import { EmuError, ErrorCodes } from '../errors.ts'
import type { Mr } from '../memory/stag.ts'
import { Params } from '../params.ts'
import type { SendWr } from '../engine/wqe.ts'
import { SendFlags, WcStatus, wcStatusName, WrOpcode } from './constants.ts'
import type { Cq, Wc } from './cq.ts'
import type { Qp } from './qp.ts'
import { add64, CheckedPlan, OpCode, swapValue } from './workload-plan.ts'
import type { WorkloadOptions, WorkloadResult, WorkloadSample, WorkloadSpec } from './workload-types.ts'

/**
 * The checked mode of runWorkload (spec.history set): a closed loop of a
 * seeded mix of WRITE, READ, FETCH_ADD and CMP_SWAP (and a FLUSH every
 * `flushEvery` operations) that records every WR as a HistoryOp
 * (src/check/history.ts) for the checkers.
 *
 * - WRITE: word k of the payload is wordValue(opId, offset / 8 + k).
 * - READ: the words read are recorded on success.
 * - FETCH_ADD: adds `addend`; CMP_SWAP: compare = what this client last knew
 *   the word to hold (after its last completed atomic on it: a FETCH_ADD's
 *   result + addend, a CMP_SWAP's swap when it succeeded else its result;
 *   `atomicInitial` before any), swap = swapValue(opId, word). Operations
 *   posted while an earlier one on the word is outstanding use the older
 *   knowledge, so some CMP_SWAPs fail.
 * - Errors: the first error completion stops posting (in RC the QP is in ERR
 *   and the rest flush with WR_FLUSH_ERR); so do the abort signal, the end
 *   of `durationMs`, a post that throws and `workloadCompletionTimeoutMs`
 *   without a completion. The loop then polls until every posted WR
 *   completed or `drainMs` passed; WRs still outstanding stay PENDING with
 *   completions 0 (`pending` in the result).
 * - Completions are counted per WR: a second completion of the same WR
 *   shows as completions 2 (and in `duplicateCompletions`).
 * - Samples: every `sampleMs` the client device's requester counters, since the start.
 */

const NAMES: string[] = []
function statusName(s: number): string {
  return (NAMES[s] ??= wcStatusName(s))
}

/** Longest single wait for a completion before the loop looks at its stop conditions again (ms). */
const WAIT_SLICE_MS = 50

/** Receives posted per batch on the peer, and how far ahead of the SENDs they are kept. */
const RECV_BATCH = 256
const RECV_AHEAD = 256

export async function runChecked(qp: Qp, cq: Cq, local: Mr, spec: WorkloadSpec, opts: WorkloadOptions): Promise<WorkloadResult> {
  const plan = new CheckedPlan(spec)
  const h = plan.history
  const { count, window } = spec
  const total = plan.totalWrs(count)
  const slots = Math.max(1, Math.min(window, total))
  const slotBytes = plan.slotBytes
  if (local.length < slots * slotBytes) throw new EmuError(ErrorCodes.EINVAL, `local MR of ${local.length} bytes is too small for ${slots} x ${slotBytes}`)
  const view = local.memory.view(0, local.length)!
  const dv = new DataView(view.buffer, view.byteOffset, view.byteLength)
  const clockBase = performance.timeOrigin - h.t0EpochMs
  const nowUs = (): number => (clockBase + performance.now()) * 1000
  const ops: HistoryOp[] = []
  const known = new Map<number, bigint>()
  const latenciesUs: number[] = []
  const counters = qp.host.counters
  const c0 = { timeout: counters.timeoutRetries, nak: counters.nakRetries, rnr: counters.rnrRetries, dupNak: counters.duplicateNaks }
  const samples: WorkloadSample[] = []
  let posted = 0
  let completed = 0
  let errors = 0
  let firstError: number | undefined
  let opsPosted = 0
  let sinceFlush = 0
  let flushes = 0
  let duplicateCompletions = 0
  let strayCompletions = 0
  let stopWhy: string | undefined
  let drainDeadline = Infinity
  const sample = (): void => {
    const t = counters.timeoutRetries - c0.timeout
    const n = counters.nakRetries - c0.nak
    samples.push({ tUs: nowUs(), retransmissions: t + n, timeoutRetries: t, nakRetries: n, rnrRetries: counters.rnrRetries - c0.rnr, naks: n + counters.duplicateNaks - c0.dupNak, completed, errors })
  }
  const t0 = performance.now()
  const deadline = spec.durationMs === undefined ? Infinity : t0 + spec.durationMs
  const signal = opts.signal
  const stop = (why: string): void => {
    if (stopWhy !== undefined) return
    stopWhy = why
    drainDeadline = performance.now() + plan.drainMs
  }

  /** Stop posting when asked to or when the time is up. */
  const checkStop = (): void => {
    if (stopWhy !== undefined) return
    if (signal?.aborted) stop(`stopped: ${String(signal.reason ?? 'stopped')}`)
    else if (performance.now() >= deadline) stop('duration reached')
  }
  const post = (n: number): void => {
    checkStop()
    if (stopWhy !== undefined || n <= 0) return
    const wrs: SendWr[] = []
    const recs: HistoryOp[] = []
    // After the last operation comes its FLUSH too, when one is due.
    for (let k = 0; k < n && (opsPosted < count || (plan.flushEvery > 0 && sinceFlush >= plan.flushEvery)); k++) {
      const i = posted + k
      const id = h.firstOpId + i
      const slotOff = (i % slots) * slotBytes
      let wr: SendWr
      let rec: HistoryOp
      if (plan.flushEvery && sinceFlush >= plan.flushEvery) {
        sinceFlush = 0
        wr = { wrId: id, opcode: WrOpcode.FLUSH, sendFlags: SendFlags.SIGNALED, remoteAddr: h.mrIova + plan.flushOffset, rkey: spec.rkey, flush: { length: plan.flushLength, sel: 0, plt: plan.flushPlt } }
        rec = record(id, 'flush', plan.flushOffset, plan.flushLength)
      } else {
        const code = plan.next()
        opsPosted++
        sinceFlush++
        const off = plan.offset
        const remoteAddr = h.mrIova + off
        if (code === OpCode.write) {
          const w0 = off / 8
          const tag = wordValue(id, 0)
          for (let j = 0; j < plan.size / 8; j++) dv.setBigUint64(slotOff + 8 * j, tag | BigInt(w0 + j), true)
          wr = { wrId: id, opcode: WrOpcode.RDMA_WRITE, sendFlags: SendFlags.SIGNALED, sgList: [{ addr: local.iova + slotOff, length: plan.size, lkey: local.stag }], remoteAddr, rkey: spec.rkey }
          rec = record(id, 'write', off, plan.size)
        } else if (code === OpCode.send) {
          const tag = wordValue(id, 0)
          for (let j = 0; j < plan.sendSize / 8; j++) dv.setBigUint64(slotOff + 8 * j, tag | BigInt(j), true)
          wr = { wrId: id, opcode: WrOpcode.SEND, sendFlags: SendFlags.SIGNALED, sgList: plan.sendSize ? [{ addr: local.iova + slotOff, length: plan.sendSize, lkey: local.stag }] : [] }
          rec = record(id, 'send', 0, plan.sendSize)
          sends++
        } else if (code === OpCode.read) {
          wr = { wrId: id, opcode: WrOpcode.RDMA_READ, sendFlags: SendFlags.SIGNALED, sgList: [{ addr: local.iova + slotOff, length: plan.readSize, lkey: local.stag }], remoteAddr, rkey: spec.rkey }
          rec = record(id, 'read', off, plan.readSize)
        } else {
          const sge = [{ addr: local.iova + slotOff, length: 8, lkey: local.stag }]
          if (code === OpCode.fetchAdd) {
            wr = { wrId: id, opcode: WrOpcode.ATOMIC_FETCH_AND_ADD, sendFlags: SendFlags.SIGNALED, sgList: sge, remoteAddr, rkey: spec.rkey, compareAdd: plan.addend }
            rec = record(id, 'fetchAdd', off, 8)
            rec.value = plan.addend
          } else {
            const compare = known.get(off) ?? plan.initial
            const swap = swapValue(id, off / 8)
            wr = { wrId: id, opcode: WrOpcode.ATOMIC_CMP_AND_SWP, sendFlags: SendFlags.SIGNALED, sgList: sge, remoteAddr, rkey: spec.rkey, compareAdd: compare, swap }
            rec = record(id, 'cmpSwap', off, 8)
            rec.value = swap
            rec.compare = compare
          }
        }
      }
      wrs.push(wr)
      recs.push(rec)
    }
    if (!wrs.length) return stop('count reached')
    const at = nowUs()
    try {
      qp.postSend(wrs)
    } catch (err) {
      // Nothing of this batch was posted (postSend checks before it queues).
      return stop(`post failed: ${(err as Error).message}`)
    }
    for (const r of recs) {
      r.postedUs = at
      ops.push(r)
    }
    posted += wrs.length
    topUpReceives()
  }
  // SENDs: receives on the peer QP, RECV_AHEAD ahead of the SENDs posted, topped up in batches.
  const hasSend = spec.mix?.some((m) => m.op === 'send' && m.weight > 0) ?? false
  const receiver = hasSend ? opts.receiver : undefined
  if (hasSend && !receiver) throw new EmuError(ErrorCodes.EINVAL, 'spec.recv is needed for send in the mix (receives on the peer)', { field: 'spec.recv' })
  let sends = 0
  let recvPosted = 0
  let sendsReceived = 0
  let topUp: Promise<void> | undefined
  const refill = async (): Promise<void> => {
    sendsReceived += await receiver!.poll()
    await receiver!.post(RECV_BATCH)
    recvPosted += RECV_BATCH
  }
  const topUpReceives = (): void => {
    if (!receiver || topUp || stopWhy !== undefined || recvPosted - sends >= RECV_AHEAD) return
    topUp = refill().then(
      () => { topUp = undefined },
      (err: Error) => stop(`posting receives failed: ${err.message}`),
    )
  }
  const record = (id: number, op: OpKind, offset: number, length: number): HistoryOp => ({
    id, stream: h.stream, client: h.client, qpn: qp.qpNum, op, mr: h.mr, server: h.server, offset, length, postedUs: 0, status: PENDING, completions: 0,
  })

  const complete = (w: Wc, now: number): void => {
    // wrId = op id: a completion of another workload's WR (left over on this CQ) matches none.
    const i = w.wrId - h.firstOpId
    const rec = ops[i]
    if (rec === undefined || rec.id !== w.wrId) {
      strayCompletions++
      return
    }
    if (++rec.completions > 1) {
      duplicateCompletions++
      return
    }
    rec.completedUs = now
    rec.status = statusName(w.status)
    completed++
    latenciesUs.push(now - rec.postedUs)
    if (w.status !== WcStatus.SUCCESS) {
      errors++
      firstError ??= w.status
      stop(`${rec.status} on ${rec.op} ${rec.id}`)
      return
    }
    const slotOff = (i % slots) * slotBytes
    switch (rec.op) {
      case 'read': {
        const words: bigint[] = new Array(rec.length / 8)
        for (let j = 0; j < words.length; j++) words[j] = dv.getBigUint64(slotOff + 8 * j, true)
        rec.words = words
        break
      }
      case 'fetchAdd': {
        const r = dv.getBigUint64(slotOff, true)
        rec.result = r
        known.set(rec.offset, add64(r, plan.addend))
        break
      }
      case 'cmpSwap': {
        const r = dv.getBigUint64(slotOff, true)
        rec.result = r
        known.set(rec.offset, r === rec.compare ? rec.value! : r)
        break
      }
      case 'flush':
        flushes++
    }
  }

  let timer: NodeJS.Timeout | undefined
  if (plan.sampleMs > 0) {
    sample()
    timer = setInterval(sample, plan.sampleMs)
    timer.unref()
  }
  try {
    if (receiver) await refill()
    post(slots)
    // Waits are sliced so a stop, the end of the duration or the drain time
    // is noticed while no completion comes (a partition, a dead responder).
    let lastProgress = performance.now()
    while (completed < posted) {
      checkStop()
      const now0 = performance.now()
      if (stopWhy === undefined && now0 - lastProgress >= Params.workloadCompletionTimeoutMs) stop(`no completion for ${Params.workloadCompletionTimeoutMs} ms`)
      const left = stopWhy === undefined ? Math.min(deadline, lastProgress + Params.workloadCompletionTimeoutMs) - now0 : drainDeadline - now0
      if (stopWhy !== undefined && left <= 0) break
      let wc: Wc
      try {
        wc = await cq.next(Math.max(1, Math.min(left, WAIT_SLICE_MS)))
      } catch (err) {
        if (!(err instanceof EmuError) || err.code !== ErrorCodes.TIMEOUT) throw err
        continue
      }
      const before = completed
      const now = nowUs()
      complete(wc, now)
      for (const w of cq.poll(window)) complete(w, now)
      if (completed > before) {
        lastProgress = performance.now()
        post(slots - (posted - completed))
      }
    }
    // Late or duplicate completions already in the CQ count too.
    const now = nowUs()
    for (const w of cq.poll(Math.max(64, posted))) complete(w, now)
    if (receiver) {
      await topUp
      sendsReceived += await receiver.poll().catch(() => 0)
    }
  } finally {
    if (timer) clearInterval(timer)
  }
  if (plan.sampleMs > 0) sample()
  const pending = posted - completed
  const stopped = signal?.aborted === true
  return {
    completed, posted, stopped, stopReason: stopped ? String(signal.reason ?? 'stopped') : undefined, errors, firstError,
    elapsedMs: performance.now() - t0, latenciesUs, history: ops, samples, flushes, pending, drained: pending === 0, endReason: stopWhy ?? 'count reached',
    duplicateCompletions, strayCompletions, ...(receiver ? { sends, sendsReceived } : {}),
  }
}
