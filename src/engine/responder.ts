import { EmuError, ErrorCodes } from '../errors.ts'
import { psnAdd, psnDiff, type Packet, type PacketInit } from '../../fabric/codec.ts'
import { MrCheck, type LookupResult } from '../memory/stag.ts'
import { Access, QpState, WcOpcode, WcStatus } from '../verbs/constants.ts'
import { WcFlags, type Wc } from '../verbs/cq.ts'
import type { EngineQp, RespResource } from './engine-qp.ts'
import { Aeth, aethAck, aethRnrNak, Mask, Op, opInfo } from './opcodes.ts'
import { mrCheckFault, RespFault, type RespFaultValue } from './status.ts'
import { respondFault } from './responder-fault.ts'
import { flushPendingAck, respond, sendAck } from './responder-ack.ts'
import { scatterEach } from './sge.ts'
import { invalidateRkey, lookupRkey } from './invalidate.ts'
import type { LocalSeg, RecvWr } from './wqe.ts'

/**
 * The responder (rxe_resp.c): checks each request packet's PSN, executes it
 * against local memory, and answers with ACKs (coalesced per train), read
 * responses, atomic ACKs or NAKs. A PSN ahead of the expected one gets one
 * sequence-error NAK, then silence until the sender is back in sequence;
 * duplicates are re-acknowledged, or replayed from the responder-resource
 * ring for READ and atomics.
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
    readResponses(qp, pkt, false)
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

/** The QP's remote access flags allow this opcode (rxe check_op_valid). */
function qpAllows(qp: EngineQp, mask: number): boolean {
  const f = qp.attr.qpAccessFlags
  if (mask & (Mask.WRITE | Mask.ATOMIC_WRITE)) return (f & Access.REMOTE_WRITE) !== 0
  if (mask & Mask.READ) return (f & Access.REMOTE_READ) !== 0
  if (mask & Mask.ATOMIC) return (f & Access.REMOTE_ATOMIC) !== 0
  return true
}

function execute(qp: EngineQp, pkt: Packet): void {
  const resp = qp.resp
  const info = opInfo(pkt.opcode)!
  const mask = info.mask
  if (!(mask & Mask.REQ)) return
  if (!qpAllows(qp, mask)) return respondFault(qp, pkt.psn, RespFault.INVALID_REQUEST, `responder: QP lacks the access right for ${info.name}`)
  const mtu = qp.attr.pathMtu
  // Message sequencing: a FIRST/ONLY may not interrupt a message, a MIDDLE/LAST needs one.
  const inSend = resp.recv !== undefined && resp.recvOff > 0
  const inWrite = resp.writeMr !== undefined || resp.writeResid > 0
  if (mask & (Mask.MIDDLE | Mask.LAST)) {
    if ((mask & Mask.SEND && !inSend) || (mask & Mask.WRITE && !inWrite)) return respondFault(qp, pkt.psn, RespFault.INVALID_REQUEST, `responder: ${info.name} outside a message`)
    if (mask & Mask.MIDDLE && pkt.payload.length !== mtu) return respondFault(qp, pkt.psn, RespFault.INVALID_REQUEST, 'responder: MIDDLE packet not MTU sized')
  } else if (inSend || inWrite) {
    return respondFault(qp, pkt.psn, RespFault.INVALID_REQUEST, `responder: ${info.name} inside an unfinished message`)
  }
  if ((mask & Mask.FIRST) && pkt.payload.length !== mtu) return respondFault(qp, pkt.psn, RespFault.INVALID_REQUEST, 'responder: FIRST packet not MTU sized')

  // A receive WQE is needed for SEND and for WRITE with immediate.
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

  if (mask & Mask.SEND) {
    const r = resp.recv!
    if (resp.recvOff + pkt.payload.length > r.length) {
      // The receive fails with a local length error; the sender sees an invalid request (rxe RESPST_ERR_LENGTH).
      const wc = { wrId: r.wrId, status: WcStatus.LOC_LEN_ERR, opcode: WcOpcode.RECV, byteLen: 0, qpNum: qp.qpNum, srcQp: qp.attr.destQpNum, wcFlags: 0 }
      qp.host.dataPath.then(qp, () => qp.recvCq.push(wc))
      resp.recv = undefined
      resp.recvOff = 0
      return respondFault(qp, pkt.psn, RespFault.INVALID_REQUEST, 'responder: SEND longer than the posted receive')
    }
    if (pkt.payload.length) {
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
    if (n > resp.writeResid || (mask & Mask.END && n !== resp.writeResid)) {
      return respondFault(qp, pkt.psn, RespFault.INVALID_REQUEST, 'responder: WRITE payload does not match its RETH length')
    }
    if (n) {
      qp.host.dataPath.write(qp, resp.writeMr!, resp.writeOff, pkt.payload, pkt.psn)
      resp.writeOff += n
    }
    resp.writeResid -= n
    if (mask & Mask.END) resp.writeMr = undefined
  } else if (mask & Mask.READ) {
    const fault = readResponses(qp, pkt, true)
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
    qp.host.dataPath.then(qp, () => qp.recvCq.push(wc, se))
    resp.recv = undefined
    resp.recvOff = 0
  }
  if (mask & Mask.END) resp.msn = (resp.msn + 1) & 0xffffff
  resp.nakSent = false
  resp.epsn = psnAdd(pkt.psn, 1)
  if (pkt.ackReq) resp.pendingAck = pkt.psn
}

/**
 * Answer a READ request (new, or a duplicate to replay) with response packets
 * from its PSN on. Returns a fault for a new request that fails its checks.
 */
function readResponses(qp: EngineQp, pkt: Packet, fresh: boolean): RespFaultValue {
  const reth = pkt.reth!
  const mtu = qp.attr.pathMtu
  const len = reth.len
  let mr
  let off = 0
  if (len > 0) {
    const r = lookupRkey(qp, reth.rkey, Access.REMOTE_READ, Number(reth.va), len)
    const fault = mrCheckFault(r.status)
    // A duplicate that now fails its check is not answered (the original was).
    if (fault !== RespFault.NONE) return fresh ? fault : RespFault.NONE
    mr = r.mr!
    off = r.offset
  }
  const n = Math.max(1, Math.ceil(len / mtu))
  const resp = qp.resp
  if (fresh) {
    flushPendingAck(qp)
    resp.msn = (resp.msn + 1) & 0xffffff
    remember(qp, { firstPsn: pkt.psn, lastPsn: psnAdd(pkt.psn, n - 1), opcode: pkt.opcode, orig: 0n })
    resp.nakSent = false
    resp.epsn = psnAdd(pkt.psn, n)
  }
  for (let i = 0; i < n; i++) {
    const opcode = n === 1 ? Op.RDMA_READ_RESPONSE_ONLY : i === 0 ? Op.RDMA_READ_RESPONSE_FIRST : i === n - 1 ? Op.RDMA_READ_RESPONSE_LAST : Op.RDMA_READ_RESPONSE_MIDDLE
    const chunk = Math.min(mtu, len - i * mtu)
    const p: PacketInit = { opcode, destQp: 0, psn: psnAdd(pkt.psn, i) }
    if (opcode !== Op.RDMA_READ_RESPONSE_MIDDLE) p.aeth = { syndrome: aethAck(), msn: resp.msn }
    respond(qp, p, chunk > 0 ? { mr: mr!, off: off + i * mtu, len: chunk } : undefined)
  }
  return RespFault.NONE
}

function atomicAckInit(qp: EngineQp, psn: number): PacketInit {
  return { opcode: Op.ATOMIC_ACKNOWLEDGE, destQp: qp.attr.destQpNum, psn, aeth: { syndrome: aethAck(), msn: qp.resp.msn } }
}

function atomic(qp: EngineQp, pkt: Packet): void {
  const a = pkt.atomicEth!
  const va = Number(a.va)
  if (a.va % 8n !== 0n) return respondFault(qp, pkt.psn, RespFault.INVALID_REQUEST, 'responder: unaligned atomic')
  const r = lookupRkey(qp, a.rkey, Access.REMOTE_ATOMIC, va, 8)
  if (!mrChecked(qp, pkt.psn, r, 'atomic rkey')) return
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
    if (reth.va % 8n !== 0n || reth.len !== 8) return respondFault(qp, pkt.psn, RespFault.INVALID_REQUEST, 'responder: unaligned ATOMIC_WRITE')
    const r = lookupRkey(qp, reth.rkey, Access.REMOTE_WRITE, va, 8)
    if (!mrChecked(qp, pkt.psn, r, 'ATOMIC_WRITE rkey')) return
    const value = new DataView(pkt.payload.buffer, pkt.payload.byteOffset, 8).getBigUint64(0, true)
    qp.host.dataPath.atomicWrite(qp, r.mr!, r.offset, value, pkt.psn)
  } else if (reth.len > 0) {
    // FLUSH needs the MR's flush right for the requested placement type (IBTA 1.5 o10-39).
    const plt = pkt.feth!.plt
    const need = (plt & 1 ? Access.FLUSH_GLOBAL : 0) | (plt & 2 ? Access.FLUSH_PERSISTENT : 0)
    const r = lookupRkey(qp, reth.rkey, need, va, reth.len)
    if (!mrChecked(qp, pkt.psn, r, 'FLUSH')) return
    // The persistence domain failed the write-back (an injected EIO): checked
    // here, on the responder's thread, so the inline and worker paths agree.
    if (r.mr!.memory.flushFails?.()) return respondFault(qp, pkt.psn, RespFault.REMOTE_OPERATIONAL, 'responder: FLUSH failed (storage I/O error)')
    qp.host.dataPath.flush(qp, r.mr!, r.offset, reth.len, pkt.psn)
  }
  const resp = qp.resp
  flushPendingAck(qp)
  resp.msn = (resp.msn + 1) & 0xffffff
  remember(qp, { firstPsn: pkt.psn, lastPsn: pkt.psn, opcode: pkt.opcode, orig: 0n })
  resp.nakSent = false
  resp.epsn = psnAdd(pkt.psn, 1)
  respond(qp, { opcode: Op.RDMA_READ_RESPONSE_ONLY, destQp: 0, psn: pkt.psn, aeth: { syndrome: aethAck(), msn: resp.msn } })
}
