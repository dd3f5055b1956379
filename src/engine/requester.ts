import { EmuError, ErrorCodes } from '../errors.ts'
import { Params } from '../params.ts'
import { psnAdd, psnDiff, type PacketInit } from '../../fabric/codec.ts'
import { MrCheck } from '../memory/stag.ts'
import { QpState, qpStateName, SendFlags, WcStatus, WrOpcode } from '../verbs/constants.ts'
import type { EngineQp } from './engine-qp.ts'
import { Op } from './opcodes.ts'
import type { LocalSeg, SendWqe, SendWr } from './wqe.ts'
import { expectsResponse, packetOpcode, WqeKind, wrOpInfo } from './wr-opcodes.ts'
import { gather } from './sge.ts'
import { runLocalOp } from './invalidate.ts'

/**
 * The requester (rxe_req.c): turns send WQEs into request packets, split at
 * the path MTU, with PSNs assigned in posting order. It stops at the
 * max_rd_atomic limit and at the packet window, and restarts from any PSN
 * when the completer asks for a retry (go-back-N).
 */

/** ibv_post_send. In SQD the WRs are queued and wait for the return to RTS. */
export function postSend(qp: EngineQp, wrs: SendWr[]): void {
  const st = qp.state
  if (st === QpState.RESET || st === QpState.INIT || st === QpState.RTR) {
    throw new EmuError(ErrorCodes.EINVAL, `post_send on a QP in state ${qpStateName(qp.state)}`)
  }
  if (qp.sq.length + wrs.length > qp.cap.maxSendWr) {
    throw new EmuError(ErrorCodes.ENOMEM, `send queue full (max_send_wr ${qp.cap.maxSendWr})`)
  }
  const wqes = wrs.map((wr) => makeWqe(qp, wr))
  if (st === QpState.ERR) {
    for (const w of wqes) qp.sendCq.push({ wrId: w.wrId, status: WcStatus.WR_FLUSH_ERR, opcode: 0, byteLen: 0, qpNum: qp.qpNum, srcQp: 0, wcFlags: 0 })
    return
  }
  for (const w of wqes) {
    w.firstPsn = qp.req.nextPsn
    w.lastPsn = psnAdd(w.firstPsn, w.npkts - 1)
    qp.req.nextPsn = psnAdd(w.lastPsn, 1)
    qp.sq.push(w)
  }
  qp.host.kick(qp)
}

function makeWqe(qp: EngineQp, wr: SendWr): SendWqe {
  const op = wrOpInfo(wr.opcode)
  if (op === undefined) throw new EmuError(ErrorCodes.EINVAL, `unsupported send opcode ${wr.opcode}`)
  const kind = op.kind
  const sges = wr.sgList ?? []
  if (sges.length > qp.cap.maxSendSge) throw new EmuError(ErrorCodes.EINVAL, `${sges.length} SGEs exceed max_send_sge ${qp.cap.maxSendSge}`)
  if (kind === WqeKind.FLUSH) {
    if (sges.length) throw new EmuError(ErrorCodes.EINVAL, 'FLUSH takes no SGEs: give flush.length')
    const len = wr.flush?.length ?? 0
    if (!Number.isInteger(len) || len < 0) throw new EmuError(ErrorCodes.EINVAL, `bad FLUSH length ${len}`)
  }
  let length = kind === WqeKind.FLUSH ? wr.flush?.length ?? 0 : 0
  for (const s of sges) {
    if (!Number.isInteger(s.length) || s.length < 0) throw new EmuError(ErrorCodes.EINVAL, `bad SGE length ${s.length}`)
    length += s.length
  }
  if (length > Params.maxMessageSize) throw new EmuError(ErrorCodes.EINVAL, `message of ${length} bytes exceeds 2^31`)
  if ((kind === WqeKind.ATOMIC || kind === WqeKind.ATOMIC_WRITE) && length !== 8) {
    throw new EmuError(ErrorCodes.EINVAL, `atomic operations need one 8-byte SGE, got ${length} bytes`)
  }
  if (kind === WqeKind.LOCAL && sges.length) {
    throw new EmuError(ErrorCodes.EINVAL, `${op.name} takes no SGEs`)
  }
  if ((op.opcode === WrOpcode.LOCAL_INV || op.opcode === WrOpcode.SEND_WITH_INV) && wr.invalidateRkey === undefined) {
    throw new EmuError(ErrorCodes.EINVAL, `${op.name} needs invalidateRkey`)
  }
  if (kind !== WqeKind.SEND && kind !== WqeKind.LOCAL && (wr.remoteAddr === undefined || wr.rkey === undefined)) {
    throw new EmuError(ErrorCodes.EINVAL, 'RDMA and atomic operations need remoteAddr and rkey')
  }
  // The local side must be writable where responses land.
  const need = op.localAccess
  const segs: LocalSeg[] = []
  let localError: number = WcStatus.SUCCESS
  for (const s of sges) {
    if (s.length === 0) continue
    const r = qp.host.mrs.lookup(s.lkey, qp.pd, need, s.addr, s.length)
    if (r.status !== MrCheck.OK) {
      localError = WcStatus.LOC_PROT_ERR
      break
    }
    segs.push({ mr: r.mr!, off: r.offset, len: s.length })
  }
  const mtu = qp.attr.pathMtu
  // A local operation sends nothing and takes no PSN.
  const npkts = kind === WqeKind.SEND || kind === WqeKind.WRITE || kind === WqeKind.READ ? Math.max(1, Math.ceil(length / mtu)) : kind === WqeKind.LOCAL ? 0 : 1
  const signaled = qp.sqSigAll || ((wr.sendFlags ?? 0) & SendFlags.SIGNALED) !== 0
  return { wr, wrId: wr.wrId ?? 0, op, kind, signaled, segs, length, firstPsn: 0, lastPsn: 0, npkts, done: 0, localError }
}

/** Build packet `k` of `w`. For a READ, `k` is the first response packet still wanted. */
function buildPacket(qp: EngineQp, w: SendWqe, k: number, ackReq: boolean): PacketInit {
  const mtu = qp.attr.pathMtu
  const psn = psnAdd(w.firstPsn, k)
  const p: PacketInit = { opcode: packetOpcode(w.op, k, w.npkts), destQp: qp.attr.destQpNum, psn, ackReq }
  const wr = w.wr
  switch (w.kind) {
    case WqeKind.SEND:
    case WqeKind.WRITE: {
      const off = k * mtu
      p.payload = gather(w.segs, off, Math.min(mtu, w.length - off))
      if (w.kind === WqeKind.WRITE && k === 0) p.reth = { va: BigInt(wr.remoteAddr!), rkey: wr.rkey!, len: w.length }
      if (k === w.npkts - 1 && wr.imm !== undefined && w.op.imm) p.immDt = wr.imm >>> 0
      if (k === w.npkts - 1 && ((wr.sendFlags ?? 0) & SendFlags.SOLICITED) !== 0) p.se = true
      if (k === w.npkts - 1 && w.op.opcode === WrOpcode.SEND_WITH_INV) p.ieth = wr.invalidateRkey! >>> 0
      break
    }
    case WqeKind.READ: {
      const off = k * mtu
      p.reth = { va: BigInt(wr.remoteAddr! + off), rkey: wr.rkey!, len: w.length - off }
      p.ackReq = true
      break
    }
    case WqeKind.ATOMIC: {
      const cas = p.opcode === Op.COMPARE_SWAP
      p.atomicEth = {
        va: BigInt(wr.remoteAddr!),
        rkey: wr.rkey!,
        swapAdd: BigInt.asUintN(64, cas ? (wr.swap ?? 0n) : (wr.compareAdd ?? 0n)),
        compare: BigInt.asUintN(64, cas ? (wr.compareAdd ?? 0n) : 0n),
      }
      p.ackReq = true
      break
    }
    case WqeKind.FLUSH:
      // Default: persistent placement of the given range (IB_FLUSH_PERSISTENT, IB_FLUSH_RANGE).
      p.feth = { sel: wr.flush?.sel ?? 0, plt: wr.flush?.plt ?? 2 }
      p.reth = { va: BigInt(wr.remoteAddr!), rkey: wr.rkey!, len: w.length }
      p.ackReq = true
      break
    case WqeKind.ATOMIC_WRITE:
      p.reth = { va: BigInt(wr.remoteAddr!), rkey: wr.rkey!, len: 8 }
      p.payload = gather(w.segs, 0, 8)
      p.ackReq = true
      break
  }
  return p
}

/**
 * Send what the windows allow. Returns true when it stopped only because of
 * its per-run budget (the caller should run it again soon).
 */
export function runRequester(qp: EngineQp): boolean {
  const sqd = qp.state === QpState.SQD
  if ((qp.state !== QpState.RTS && !sqd) || qp.req.rnrWait) return false
  const req = qp.req
  let budget = Params.packetsPerRun
  for (;;) {
    // Local operations done, with everything before them complete: complete them in order.
    for (let h = qp.sq.peek(); h && h.kind === WqeKind.LOCAL && h.done > 0 && qp.sq.base < req.idx; h = qp.sq.peek()) qp.completeHead(WcStatus.SUCCESS)
    // SQD (rxe's req_next_wqe): only WQEs started before the drain go out (and are resent).
    if (sqd && req.idx >= req.drainEnd) return false
    const w = qp.sq.at(req.idx)
    if (!w) return false
    if (w.kind === WqeKind.LOCAL && w.localError === WcStatus.SUCCESS) {
      if (w.done === 0) {
        // IBV_SEND_FENCE on a local operation: wait for every earlier WQE (rxe req.wait_fence).
        if (((w.wr.sendFlags ?? 0) & SendFlags.FENCE) !== 0 && qp.sq.base !== req.idx) return false
        w.localError = runLocalOp(qp, w)
        if (w.localError === WcStatus.SUCCESS) w.done = 1
      }
      if (w.localError === WcStatus.SUCCESS) {
        if (req.idx >= req.startedEnd) req.startedEnd = req.idx + 1
        req.idx++
        req.pkt = 0
        continue
      }
    }
    if (w.localError !== WcStatus.SUCCESS) {
      // Only complete it once everything before it has completed, to keep completions in order.
      if (qp.sq.base !== req.idx) return false
      qp.completeHead(w.localError)
      qp.toError('local protection error')
      return false
    }
    const head = qp.sq.peek()!
    const oldestPsn = psnAdd(head.firstPsn, head.done)
    // Go-back-N window (rxe_requester: wait while psn > comp.psn + RXE_MAX_UNACKED_PSNS).
    if (psnDiff(psnAdd(w.firstPsn, req.pkt), oldestPsn) > Params.packetWindow) return false
    const resource = expectsResponse(w.kind)
    if (resource && req.pkt === 0 && req.rdInflight >= qp.rdAtomicLimit) return false
    // IBV_SEND_FENCE: wait until every earlier READ/atomic has completed, so a
    // retried READ cannot observe this WQE's writes (IBTA 10.8.3.3).
    if (req.pkt === 0 && req.rdInflight > 0 && ((w.wr.sendFlags ?? 0) & SendFlags.FENCE) !== 0) return false
    if (budget-- <= 0) return true
    const k = req.pkt
    let ackReq: boolean
    if (w.kind === WqeKind.READ || k === w.npkts - 1 || resource) {
      ackReq = true
    } else {
      ackReq = ++req.noackPkts >= Params.ackReqInterval
    }
    if (ackReq) req.noackPkts = 0
    // The oldest unacknowledged packet leaves (first send, or a go-back-N
    // resend): the ACK timeout period starts now, whatever an idle QP's
    // still-armed timer last saw (rxe re-arms its timer on each such send).
    if (req.idx === qp.sq.base && (w.kind === WqeKind.READ || k === head.done)) qp.comp.lastProgress = performance.now()
    // Encoded straight into the outgoing train: the payload is copied once, memory to wire.
    qp.host.emit(qp.attr.destNode, buildPacket(qp, w, w.kind === WqeKind.READ ? w.done + k : k, ackReq))
    if (req.idx >= req.startedEnd) req.startedEnd = req.idx + 1
    if (w.kind === WqeKind.READ || k === w.npkts - 1 || resource) {
      if (resource) req.rdInflight++
      req.idx++
      req.pkt = 0
    } else {
      req.pkt++
    }
    // After advancing: the packet just sent now counts as outstanding.
    qp.armRetransmitTimer()
  }
}

/**
 * Go-back-N: restart transmission at `psn`, which lies inside an outstanding
 * WQE. Responder-resource accounting is recounted for what stays sent.
 */
export function rewindTo(qp: EngineQp, psn: number): void {
  const req = qp.req
  let inflight = 0
  for (let i = qp.sq.base; i < req.idx || (i === req.idx && req.pkt > 0); i++) {
    const w = qp.sq.at(i)
    if (!w) break
    if (psnDiff(psn, w.firstPsn) >= 0 && psnDiff(psn, w.lastPsn) <= 0) {
      req.idx = i
      // A READ is re-requested from its first missing response packet (tracked in w.done).
      req.pkt = w.kind === WqeKind.READ ? 0 : psnDiff(psn, w.firstPsn)
      req.rdInflight = inflight
      req.noackPkts = 0
      qp.host.kickLater(qp)
      return
    }
    if (expectsResponse(w.kind)) inflight++
  }
}
