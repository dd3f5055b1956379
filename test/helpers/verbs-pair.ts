/**
 * QP pairs on an in-process engine pair (./engine-pair.ts) for the tests of
 * the storage verbs (SRQ, completion channels, fast-register MRs, memory
 * windows): like connectQps, but each side may bring its own PD, CQ, SRQ and
 * registration, and b may be left in RTR.
 */
import { QpState } from '../../src/verbs/constants.ts'
import { CM_QP_ACCESS } from '../../src/verbs/cm.ts'
import type { Cq } from '../../src/verbs/cq.ts'
import type { Qp } from '../../src/verbs/qp.ts'
import type { Srq } from '../../src/verbs/srq.ts'
import type { Mr } from '../../src/memory/stag.ts'
import type { EnginePair, Host } from './engine-pair.ts'
import { ALL_ACCESS } from './rdma-connect.ts'

export interface Side {
  qp: Qp
  cq: Cq
  pd: number
  mr: Mr
  buf: Uint8Array
}

export interface SideOptions {
  pd?: number
  cq?: Cq
  srq?: Srq
  /** Access of the side's 64 KiB buffer (default ALL_ACCESS). */
  mrAccess?: number
  /** An existing registration instead of a fresh one. */
  mr?: Mr
}

function side(h: Host, o: SideOptions): Side {
  const pd = o.pd ?? h.device.allocPd()
  const cq = o.cq ?? h.device.createCq(1024)
  const qp = h.device.createQp({ pd, sendCq: cq, srq: o.srq })
  const mr = o.mr ?? h.device.regMr(pd, 1 << 16, o.mrAccess ?? ALL_ACCESS)
  return { qp, cq, pd, mr, buf: mr.memory.view(0, mr.length)! }
}

/** An RC QP on a and one on b, connected; b stays in RTR with `bInRtr`. */
export function qpPair(pair: EnginePair, o: { a?: SideOptions; b?: SideOptions; bInRtr?: boolean } = {}): { a: Side; b: Side } {
  const a = side(pair.a, o.a ?? {})
  const b = side(pair.b, o.b ?? {})
  const up = (me: Side, peer: Side, peerHost: Host, rts: boolean): void => {
    me.qp.modify({ qpState: QpState.INIT, pkeyIndex: 0, portNum: 1, qpAccessFlags: CM_QP_ACCESS })
    me.qp.modify({ qpState: QpState.RTR, destNode: peerHost.id, destQpNum: peer.qp.qpNum, rqPsn: 0, pathMtu: 1024, maxDestRdAtomic: 16, minRnrTimer: 1 })
    if (rts) me.qp.modify({ qpState: QpState.RTS, sqPsn: 0, timeout: 14, retryCnt: 7, rnrRetry: 7, maxRdAtomic: 16 })
  }
  up(a, b, pair.b, true)
  up(b, a, pair.a, !o.bInRtr)
  return { a, b }
}

/** An SGE over [off, off+len) of a side's buffer. */
export function sge(s: Side, off: number, len: number): { addr: number; length: number; lkey: number } {
  return { addr: s.mr.iova + off, length: len, lkey: s.mr.stag }
}
