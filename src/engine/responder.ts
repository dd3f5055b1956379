import { EmuError, ErrorCodes } from '../errors.ts'
import { psnAdd, psnDiff, type Packet, type PacketInit } from '../../fabric/codec.ts'
import { MrCheck, type LookupResult, type Mr } from '../memory/stag.ts'
import { Access, QpState, WcOpcode, WcStatus } from '../verbs/constants.ts'
import { WcFlags, type Wc } from '../verbs/cq.ts'
import type { EngineQp, RespResource } from './engine-qp.ts'
import { Aeth, aethAck, aethRnrNak, Mask, Op, opInfo } from './opcodes.ts'
import { mrCheckFault, RespFault, type RespFaultValue } from './status.ts'
import { respondFault } from './responder-fault.ts'
import { flushPendingAck, respond, sendAck } from './responder-ack.ts'
import { checkLength, checkOpValid, checkRdAtomicResource, checkWritePayload, FlushLevel, flushAccess } from './responder-checks.ts'
import { scatterEach, segsUsable } from './sge.ts'
import { invalidateRkey, lookupRkey, recheckRkey } from './invalidate.ts'
import type { LocalSeg, RecvWr } from './wqe.ts'

/**
 * The responder (rxe_resp.c): checks each request packet's PSN, executes it
 * against local memory, and answers with ACKs (coalesced per train), read
 * responses, atomic ACKs or NAKs. A PSN ahead of the expected one gets one
 * sequence-error NAK, then silence until the sender is back in sequence;
 * duplicates are re-acknowledged, or replayed from the responder-resource
 * ring for READ and atomics. A new request is checked in rxe's order:
 * check_op_seq, check_op_valid, check_resource (responder resources for
 * READ and atomics, the receive WQE),
 * rxe_resp_check_length (responder-checks.ts), check_rkey, then the checks
 * made while executing (a receive WQE's SGEs, an atomic's alignment).
 */

/** ibv_post_recv */
export function postRecv(qp: EngineQp, wrs: RecvWr[]): void {
  if (qp.state === QpState.RESET) throw new EmuError(ErrorCodes.EINVAL, 'post_recv on a QP in state RESET')
  if (qp.rq.length + wrs.length > qp.cap.maxRecvWr) throw new EmuError(ErrorCodes.ENOMEM, `receive queue full (max_recv_wr ${qp.cap.maxRecvWr})`)
  const wqes = wrs.map((wr) => {
    const sges = wr.sgList ?? []
    if (sges.length > qp.cap.maxRecvSge) throw new EmuError(ErrorCodes.EINVAL, `${sges.length} SGEs exceed max_recv_sge ${qp.cap.maxRecvSge}`)
    const segs: LocalSeg[] = []
    let length = 0
    for (const s of sges) {
      if (s.length === 0) continue
      const r = qp.host.mrs.lookup(s.lkey, qp.pd, Access.LOCAL_WRITE, s.addr, s.length)
      if (r.status !== MrCheck.OK) throw new EmuError(ErrorCodes.EINVAL, `receive SGE lkey 0x${s.lkey.toString(16)} does not cover ${s.length} writable bytes at 0x${s.addr.toString(16)}`)
      segs.push({ mr: r.mr!, off: r.offset, len: s.length })
      length += s.length
    }
    return { wrId: wr.wrId ?? 0, segs, length }
  })
  if (qp.state === QpState.ERR) {
    for (const w of wqes) qp.recvCq.push({ wrId: w.wrId, status: WcStatus.WR_FLUSH_ERR, opcode: WcOpcode.RECV, byteLen: 0, qpNum: qp.qpNum, srcQp: 0, wcFlags: 0 })
    return
  }
  for (const w of wqes) qp.rq.push(w)
}

function remember(qp: EngineQp, r: RespResource): void {
  const max = Math.max(1, qp.attr.maxDestRdAtomic)
  if (qp.resp.ring.length < max) qp.resp.ring.push(r)
  else qp.resp.ring[qp.resp.ringPos] = r
  qp.resp.ringPos = (qp.resp.ringPos + 1) % max
}

function findResource(qp: EngineQp, psn: number): RespResource | undefined {
  for (const r of qp.resp.ring) {
    if (psnDiff(psn, r.firstPsn) >= 0 && psnDiff(psn, r.lastPsn) <= 0) return r
  }
  return undefined
}

/** Handle one request packet for `qp`. */
export function responderReceive(qp: EngineQp, pkt: Packet): void {
  if ((qp.state !== QpState.RTR && qp.state !== QpState.RTS && qp.state !== QpState.SQD) || qp.resp.failed) {
    qp.host.counters.wrongState++
    return
  }
  const resp = qp.resp
  const d = psnDiff(pkt.psn, resp.epsn)
  if (d > 0) {
    qp.host.counters.outOfSeqDropped++
    if (!resp.nakSent) {
      resp.nakSent = true
      qp.host.counters.seqNaksSent++
      flushPendingAck(qp)
      sendAck(qp, resp.epsn, Aeth.NAK_PSN_SEQ_ERROR)
    }
    return
  }
  if (d < 0) {
    duplicate(qp, pkt)
    return
  }
  execute(qp, pkt)
}

function duplicate(qp: EngineQp, pkt: Packet): void {
  qp.host.counters.duplicateRequests++
  const info = opInfo(pkt.opcode)!
  if (info.mask & (Mask.SEND | Mask.WRITE)) {
    // Re-acknowledge: everything before the expected PSN has been received.
    qp.resp.pendingAck = psnAdd(qp.resp.epsn, -1)
    return
  }
  const r = findResource(qp, pkt.psn)
  if (!r) return // Too old to replay: drop (IBTA 9.9.3.2 class D).
  flushPendingAck(qp)
  if (pkt.opcode === Op.RDMA_READ_REQUEST) {
    replayRead(qp, pkt, r)
  } else if (pkt.opcode === Op.COMPARE_SWAP || pkt.opcode === Op.FETCH_ADD) {
    // Replay the saved result, once the original execution (maybe still in a worker) is done.
    if (r.firstPsn === pkt.psn) {
      const p = atomicAckInit(qp, pkt.psn)
      qp.host.dataPath.then(qp, () => respond(qp, { ...p, atomicAckEth: { origData: r.orig } }))
    }
  } else {
    respond(qp, { opcode: Op.RDMA_READ_RESPONSE_ONLY, destQp: 0, psn: pkt.psn, aeth: { syndrome: aethAck(), msn: qp.resp.msn } })
  }
}

/** Whether an MR lookup passed; a failed one ends the request with its fault (rxe check_rkey). */
function mrChecked(qp: EngineQp, psn: number, r: LookupResult, what: string): boolean {
  const fault = mrCheckFault(r.status)
  if (fault === RespFault.NONE) return true
  respondFault(qp, psn, fault, `responder: ${what} check failed (${r.status})`)
  return false
}

function execute(qp: EngineQp, pkt: Packet): void {
  const resp = qp.resp
  const info = opInfo(pkt.opcode)!
  const mask = info.mask
  if (!(mask & Mask.REQ)) return
  // rxe check_op_seq: a FIRST/ONLY may not interrupt a message, a MIDDLE/LAST needs one.
  const inSend = resp.recv !== undefined && resp.recvOff > 0
  const inWrite = resp.writeMr !== undefined || resp.writeResid > 0
  if (mask & (Mask.MIDDLE | Mask.LAST)) {
    if ((mask & Mask.SEND && !inSend) || (mask & Mask.WRITE && !inWrite)) return respondFault(qp, pkt.psn, RespFault.INVALID_REQUEST, `responder: ${info.name} outside a message`)
  } else if (inSend || inWrite) {
    return respondFault(qp, pkt.psn, RespFault.INVALID_REQUEST, `responder: ${info.name} inside an unfinished message`)
  }
  const invalid = checkOpValid(qp, pkt, mask)
  if (invalid) return respondFault(qp, pkt.psn, RespFault.INVALID_REQUEST, `responder: ${info.name}: ${invalid}`)

  // rxe check_resource: READ and atomics need responder resources (max_dest_rd_atomic > 0) ...
  const noResource = checkRdAtomicResource(qp, mask)
  if (noResource) return respondFault(qp, pkt.psn, RespFault.INVALID_REQUEST, `responder: ${info.name}: ${noResource}`)
  // ... and a receive WQE is needed for SEND and for WRITE with immediate.
  if (mask & Mask.RWR || (mask & Mask.IMMDT && mask & Mask.WRITE)) {
    if (!resp.recv) {
      const r = qp.srq ? qp.srq.take() : qp.rq.shift()
      if (!r) {
        qp.host.counters.rnrNaksSent++
        resp.nakSent = true
        flushPendingAck(qp)
        sendAck(qp, pkt.psn, aethRnrNak(qp.attr.minRnrTimer))
        return
      }
      resp.recv = r
      resp.recvOff = 0
    }
  }
  const badLength = checkLength(qp, pkt, mask)
  if (badLength) return respondFault(qp, pkt.psn, RespFault.INVALID_REQUEST, `responder: ${info.name}: ${badLength}`)

  if (mask & Mask.SEND) {
    const r = resp.recv!
    if (resp.recvOff + pkt.payload.length > r.length) {
      // The receive fails with a local length error; the sender sees an invalid request (rxe RESPST_ERR_LENGTH).
      const wc = { wrId: r.wrId, status: WcStatus.LOC_LEN_ERR, opcode: WcOpcode.RECV, byteLen: 0, qpNum: qp.qpNum, srcQp: qp.attr.destQpNum, wcFlags: 0 }
      // Consumed before its completion is posted (rxe's do_complete): a CQ overrun does not flush it again.
      resp.recv = undefined
      resp.recvOff = 0
      qp.host.dataPath.then(qp, () => qp.recvCq.push(wc))
      return respondFault(qp, pkt.psn, RespFault.INVALID_REQUEST, 'responder: SEND longer than the posted receive')
    }
    if (pkt.payload.length) {
      // The receive WQE's SGEs are checked as they are used (rxe copy_data):
      // one whose MR is gone or changed is a malformed WQE (class A).
      if (!segsUsable(r.segs, resp.recvOff, pkt.payload.length, qp.pd, Access.LOCAL_WRITE)) return malformedWqe(qp, pkt.psn)
      const psn = pkt.psn
      scatterEach(r.segs, resp.recvOff, pkt.payload.length, (mr, off, at, n) => qp.host.dataPath.write(qp, mr, off, pkt.payload.subarray(at, at + n), psn))
    }
    resp.recvOff += pkt.payload.length
  } else if (mask & Mask.WRITE) {
    if (mask & Mask.RETH) {
      const reth = pkt.reth!
      resp.writeResid = reth.len
      resp.writeMr = undefined
      if (reth.len > 0) {
        const r = lookupRkey(qp, reth.rkey, Access.REMOTE_WRITE, Number(reth.va), reth.len)
        if (!mrChecked(qp, pkt.psn, r, 'WRITE rkey')) return
        resp.writeMr = r.mr
        resp.writeOff = r.offset
      }
    }
    const n = pkt.payload.length
    const badPayload = checkWritePayload(qp, pkt, mask, resp.writeResid)
    if (badPayload) return respondFault(qp, pkt.psn, RespFault.INVALID_REQUEST, `responder: ${badPayload}`)
    if (n) {
      qp.host.dataPath.write(qp, resp.writeMr!, resp.writeOff, pkt.payload, pkt.psn)
      resp.writeOff += n
    }
    resp.writeResid -= n
    if (mask & Mask.END) resp.writeMr = undefined
  } else if (mask & Mask.READ) {
    const fault = readResponses(qp, pkt)
    if (fault !== RespFault.NONE) return respondFault(qp, pkt.psn, fault, 'responder: READ check failed')
    return
  } else if (mask & Mask.ATOMIC) {
    return atomic(qp, pkt)
  } else if (mask & (Mask.FLUSH | Mask.ATOMIC_WRITE)) {
    return flushOrAtomicWrite(qp, pkt, mask)
  }

  // SEND / WRITE bookkeeping at the end of a message.
  if (mask & Mask.COMP) {
    const r = resp.recv!
    const imm = pkt.immDt !== undefined
    // SEND_WITH_INV: invalidate the IETH's rkey as the receive completes (rxe do_complete, invalidate_rkey).
    if (mask & Mask.IETH) {
      const why = invalidateRkey(qp, pkt.ieth!)
      if (why !== undefined) {
        const bad = { wrId: r.wrId, status: WcStatus.REM_INV_REQ_ERR, opcode: WcOpcode.RECV, byteLen: 0, qpNum: qp.qpNum, srcQp: qp.attr.destQpNum, wcFlags: 0 }
        qp.host.dataPath.then(qp, () => qp.recvCq.push(bad, pkt.se))
        resp.recv = undefined
        resp.recvOff = 0
        return respondFault(qp, pkt.psn, RespFault.INVALID_REQUEST, `responder: SEND_WITH_INV of rkey 0x${pkt.ieth!.toString(16)} failed: ${why}`)
      }
    }
    const wc: Wc = {
      wrId: r.wrId,
      status: WcStatus.SUCCESS,
      opcode: mask & Mask.WRITE ? WcOpcode.RECV_RDMA_WITH_IMM : WcOpcode.RECV,
      byteLen: mask & Mask.WRITE ? 0 : resp.recvOff,
      immData: imm ? pkt.immDt : undefined,
      qpNum: qp.qpNum,
      srcQp: qp.attr.destQpNum,
      wcFlags: imm ? WcFlags.WITH_IMM : 0,
    }
    if (mask & Mask.IETH) {
      wc.wcFlags |= WcFlags.WITH_INV
      wc.invalidatedRkey = pkt.ieth
    }
    const se = pkt.se
    // Consumed before its completion is posted (rxe's do_complete): a CQ overrun does not flush it again.
    resp.recv = undefined
    resp.recvOff = 0
    qp.host.dataPath.then(qp, () => qp.recvCq.push(wc, se))
  }
  if (mask & Mask.END) resp.msn = (resp.msn + 1) & 0xffffff
  resp.nakSent = false
  resp.epsn = psnAdd(pkt.psn, 1)
  if (pkt.ackReq) resp.pendingAck = pkt.psn
}

/** Answer a new READ request with its response packets. Returns a fault when it fails its checks. */
function readResponses(qp: EngineQp, pkt: Packet): RespFaultValue {
  const reth = pkt.reth!
  const len = reth.len
  let mr
  let off = 0
  if (len > 0) {
    const r = lookupRkey(qp, reth.rkey, Access.REMOTE_READ, Number(reth.va), len)
    const fault = mrCheckFault(r.status)
    if (fault !== RespFault.NONE) return fault
    mr = r.mr!
    off = r.offset
  }
  const n = Math.max(1, Math.ceil(len / qp.attr.pathMtu))
  const resp = qp.resp
  flushPendingAck(qp)
  resp.msn = (resp.msn + 1) & 0xffffff
  remember(qp, { firstPsn: pkt.psn, lastPsn: psnAdd(pkt.psn, n - 1), opcode: pkt.opcode, orig: 0n, read: { va: Number(reth.va), len, rkey: reth.rkey } })
  resp.nakSent = false
  resp.epsn = psnAdd(pkt.psn, n)
  readPackets(qp, pkt.psn, mr, off, len)
  return RespFault.NONE
}

/**
 * Replay a duplicate READ from its responder resource (rxe duplicate_request
 * and read_reply with res->replay). A duplicate that asks for more than the
 * original, or with another rkey, is dropped. The resource keeps the rkey,
 * not the region: the rkey must still name a valid region (rxe_recheck_mr),
 * else the duplicate is NAKed with a remote access error, so that a
 * requester that lost the original response completes the READ with an
 * error rather than retrying into silence.
 */
function replayRead(qp: EngineQp, pkt: Packet, res: RespResource): void {
  const orig = res.read
  const reth = pkt.reth!
  const va = Number(reth.va)
  const len = reth.len
  if (!orig || reth.rkey !== orig.rkey || va < orig.va || va + len > orig.va + orig.len) return
  let mr
  let off = 0
  if (len > 0) {
    mr = recheckRkey(qp, orig.rkey)
    if (!mr) return respondFault(qp, pkt.psn, RespFault.REMOTE_ACCESS, 'responder: duplicate READ: its rkey names no valid region now')
    off = va - mr.iova
  }
  readPackets(qp, pkt.psn, mr, off, len)
}

/** Send the read response packets for `len` bytes at `off` of `mr`, from `psn` on. */
function readPackets(qp: EngineQp, psn: number, mr: Mr | undefined, off: number, len: number): void {
  const mtu = qp.attr.pathMtu
  const n = Math.max(1, Math.ceil(len / mtu))
  for (let i = 0; i < n; i++) {
    const opcode = n === 1 ? Op.RDMA_READ_RESPONSE_ONLY : i === 0 ? Op.RDMA_READ_RESPONSE_FIRST : i === n - 1 ? Op.RDMA_READ_RESPONSE_LAST : Op.RDMA_READ_RESPONSE_MIDDLE
    const chunk = Math.min(mtu, len - i * mtu)
    const p: PacketInit = { opcode, destQp: 0, psn: psnAdd(psn, i) }
    if (opcode !== Op.RDMA_READ_RESPONSE_MIDDLE) p.aeth = { syndrome: aethAck(), msn: qp.resp.msn }
    respond(qp, p, chunk > 0 ? { mr: mr!, off: off + i * mtu, len: chunk } : undefined)
  }
}

/**
 * A receive WQE whose SGEs can no longer be written (rxe
 * RESPST_ERR_MALFORMED_WQE, class A): the receive completes with
 * LOC_QP_OP_ERR, the sender gets a remote operational error NAK, the QP
 * goes to ERR.
 */
function malformedWqe(qp: EngineQp, psn: number): void {
  const r = qp.resp.recv!
  const wc = { wrId: r.wrId, status: WcStatus.LOC_QP_OP_ERR, opcode: WcOpcode.RECV, byteLen: 0, qpNum: qp.qpNum, srcQp: qp.attr.destQpNum, wcFlags: 0 }
  qp.host.dataPath.then(qp, () => qp.recvCq.push(wc))
  qp.resp.recv = undefined
  qp.resp.recvOff = 0
  respondFault(qp, psn, RespFault.REMOTE_OPERATIONAL, 'responder: receive WQE SGE no longer valid (malformed WQE)')
}

function atomicAckInit(qp: EngineQp, psn: number): PacketInit {
  return { opcode: Op.ATOMIC_ACKNOWLEDGE, destQp: qp.attr.destQpNum, psn, aeth: { syndrome: aethAck(), msn: qp.resp.msn } }
}

function atomic(qp: EngineQp, pkt: Packet): void {
  const a = pkt.atomicEth!
  const va = Number(a.va)
  // rxe's order: check_rkey (key, PD, access, state, range), then the alignment (rxe_mr_do_atomic_op).
  const r = lookupRkey(qp, a.rkey, Access.REMOTE_ATOMIC, va, 8)
  if (!mrChecked(qp, pkt.psn, r, 'atomic rkey')) return
  if (a.va % 8n !== 0n) return respondFault(qp, pkt.psn, RespFault.INVALID_REQUEST, 'responder: unaligned atomic')
  const resp = qp.resp
  flushPendingAck(qp)
  resp.msn = (resp.msn + 1) & 0xffffff
  const res: RespResource = { firstPsn: pkt.psn, lastPsn: pkt.psn, opcode: pkt.opcode, orig: 0n }
  remember(qp, res)
  resp.nakSent = false
  resp.epsn = psnAdd(pkt.psn, 1)
  qp.host.dataPath.atomic(qp, atomicAckInit(qp, pkt.psn), r.mr!, r.offset, pkt.opcode === Op.COMPARE_SWAP, a.swapAdd, a.compare, res)
}

function flushOrAtomicWrite(qp: EngineQp, pkt: Packet, mask: number): void {
  const reth = pkt.reth!
  const va = Number(reth.va)
  if (mask & Mask.ATOMIC_WRITE) {
    // rxe: check_rkey (lookup, range, then exactly 8 bytes), then the alignment (rxe_mr_do_atomic_write).
    const r = lookupRkey(qp, reth.rkey, Access.REMOTE_WRITE, va, reth.len)
    if (!mrChecked(qp, pkt.psn, r, 'ATOMIC_WRITE rkey')) return
    if (reth.len !== 8 || pkt.payload.length !== 8) return respondFault(qp, pkt.psn, RespFault.INVALID_REQUEST, 'responder: ATOMIC_WRITE of other than 8 bytes')
    if (reth.va % 8n !== 0n) return respondFault(qp, pkt.psn, RespFault.INVALID_REQUEST, 'responder: unaligned ATOMIC_WRITE')
    const value = new DataView(pkt.payload.buffer, pkt.payload.byteOffset, 8).getBigUint64(0, true)
    qp.host.dataPath.atomicWrite(qp, r.mr!, r.offset, value, pkt.psn)
  } else {
    // rxe check_rkey for FLUSH: the rkey is checked whatever the length, for
    // the MR's flush right of each placement type asked for; a flush of the
    // whole MR (selectivity IB_FLUSH_MR) skips the range check and flushes it all.
    const feth = pkt.feth!
    const need = flushAccess(feth.plt)
    const wholeMr = feth.sel === FlushLevel.MR
    const target = wholeMr ? qp.host.mrs.byStag(reth.rkey) : undefined
    const r = wholeMr ? lookupRkey(qp, reth.rkey, need, target?.iova ?? 0, target?.length ?? 0) : lookupRkey(qp, reth.rkey, need, va, reth.len)
    if (!mrChecked(qp, pkt.psn, r, 'FLUSH')) return
    const mr = r.mr!
    const len = wholeMr ? mr.length : reth.len
    // The persistence domain failed the write-back (an injected EIO): checked
    // here, on the responder's thread, so the inline and worker paths agree.
    if (len > 0 && mr.memory.flushFails?.()) return respondFault(qp, pkt.psn, RespFault.REMOTE_OPERATIONAL, 'responder: FLUSH failed (storage I/O error)')
    if (len > 0) qp.host.dataPath.flush(qp, mr, r.offset, len, pkt.psn)
  }
  const resp = qp.resp
  flushPendingAck(qp)
  resp.msn = (resp.msn + 1) & 0xffffff
  remember(qp, { firstPsn: pkt.psn, lastPsn: pkt.psn, opcode: pkt.opcode, orig: 0n })
  resp.nakSent = false
  resp.epsn = psnAdd(pkt.psn, 1)
  respond(qp, { opcode: Op.RDMA_READ_RESPONSE_ONLY, destQp: 0, psn: pkt.psn, aeth: { syndrome: aethAck(), msn: resp.msn } })
}
