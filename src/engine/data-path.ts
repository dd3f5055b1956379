import { encodePacket, type PacketInit } from '../../fabric/codec.ts'
import type { RegionMemory } from '../memory/region-memory.ts'
import type { Mr } from '../memory/stag.ts'
import type { DataPath, EngineQp, RespResource } from './engine-qp.ts'
import { respondFault } from './responder-fault.ts'
import { RespFault } from './status.ts'

export type { DataPath } from './engine-qp.ts'

/** Read `len` bytes of a region (a view when contiguous). */
export function readRegion(mem: RegionMemory, off: number, len: number): Uint8Array {
  const v = mem.view(off, len)
  if (v) return v
  const out = new Uint8Array(len)
  mem.copyOut(off, out, 0, len)
  return out
}

/**
 * Everything on the calling thread, at once: the data path of client hosts,
 * the baseline, and a server's inline mode. An ODP region is faulted in
 * first (on this thread every fault can be served); one whose page cannot be
 * mapped (past EOF) ends the request with a remote access error NAK and the
 * QP in ERR, as the worker path does.
 */
export class InlineDataPath implements DataPath {
  readonly depth = 0
  /** QPs whose request failed here: nothing more is sent for them (until a reset clears resp.failed). */
  private readonly failed = new WeakSet<EngineQp>()
  constructor(private readonly emit: (qp: EngineQp, pkt: Uint8Array) => void) {}

  /** Run `fn` with [off, off+len) of `mem` mapped (ODP); when it cannot be, the request fails instead. */
  private mapped(qp: EngineQp, mem: RegionMemory, off: number, len: number, psn: number, fn: () => void): void {
    if (this.dead(qp)) return
    if (!mem.mapAndLock) return fn()
    if (mem.mapAndLock(off, len) !== 0) return this.fail(qp, psn)
    try {
      fn()
    } finally {
      mem.unlock!(off, len)
    }
  }

  private dead(qp: EngineQp): boolean {
    if (!this.failed.has(qp)) return false
    if (qp.resp.failed) return true
    this.failed.delete(qp) // the QP was reset since
    return false
  }

  private fail(qp: EngineQp, psn: number): void {
    this.failed.add(qp)
    respondFault(qp, psn, RespFault.REMOTE_ACCESS, 'responder: ODP page fault failed (no page there)', { now: true })
  }

  write(qp: EngineQp, mr: Mr, off: number, payload: Uint8Array, psn: number): void {
    this.mapped(qp, mr.memory, off, payload.length, psn, () => mr.memory.copyIn(off, payload))
  }
  respond(qp: EngineQp, p: PacketInit, src?: { mr: Mr; off: number; len: number }): void {
    if (this.dead(qp)) return
    if (!src || src.len === 0) return this.emit(qp, encodePacket(p))
    // Encoded inside the mapped section: the payload may be a view of the region.
    this.mapped(qp, src.mr.memory, src.off, src.len, p.psn, () => {
      p.payload = readRegion(src.mr.memory, src.off, src.len)
      this.emit(qp, encodePacket(p))
    })
  }
  atomic(qp: EngineQp, p: PacketInit, mr: Mr, off: number, cas: boolean, swapAdd: bigint, compare: bigint, res: RespResource): void {
    this.mapped(qp, mr.memory, off, 8, p.psn, () => {
      res.orig = cas ? mr.memory.compareSwap(off, compare, swapAdd) : mr.memory.fetchAdd(off, swapAdd)
      p.atomicAckEth = { origData: res.orig }
      this.emit(qp, encodePacket(p))
    })
  }
  atomicWrite(qp: EngineQp, mr: Mr, off: number, value: bigint, psn: number): void {
    this.mapped(qp, mr.memory, off, 8, psn, () => mr.memory.atomicWrite(off, value))
  }
  flush(qp: EngineQp, mr: Mr, off: number, len: number, psn: number): void {
    this.mapped(qp, mr.memory, off, len, psn, () => mr.memory.flush(off, len))
  }
  then(_qp: EngineQp, fn: () => void): void {
    fn()
  }
  commit(): void {}
  async close(): Promise<void> {}
}
