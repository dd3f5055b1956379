/**
 * The server's MR registry: the bookkeeping of every MR the server backs with
 * FrameMemory (a file range, "an STag for storage", or anonymous pages of the
 * shared RAM arena), and the page pins those MRs hold.
 *
 * Pins: an MR's pages are pinned FOLL_PIN | FOLL_LONGTERM (FOLL_WRITE when
 * the MR is writable) with the MR as pin owner, as ib_umem_get() does. They
 * are dropped with unpin_user_pages_dirty_lock semantics at deregistration;
 * an owner that left the fabric has all of its pins dropped at once
 * (PinTable.releaseOwner, counted in owners_released). ODP MRs take no pins.
 *
 * Deregistration is an event of the device's MrTable (onDeregister): whoever
 * deregisters (verbs.mr.dereg, the RDMA service's clean-up of a peer that
 * went down), the registry hears of it once the STag no longer resolves and
 * no data-path copy uses the MR, and releases what backs it. Nothing scans
 * for freed MRs.
 *
 * One exception, on purpose: a lease revocation withholds its MRs (takes
 * them out of the registry) BEFORE deregistering them, so the event finds
 * nothing to release and the pins, and so the blocks, stay until the DMA
 * already accepted on the holder's QPs is quiesced; then it releases them
 * itself (src/server/lease-revocation.ts).
 */
import type { Logger } from 'pino'
import { EmuError, ErrorCodes } from '../errors.ts'
import type { OdpRegion, ServerMemory } from '../memory/index.ts'
import type { FrameMemory } from '../memory/frame-memory.ts'
import type { DeregCause, Mr } from '../memory/stag.ts'
import { Access } from '../verbs/constants.ts'
import type { RdmaDevice } from '../verbs/device.ts'
import { mrInfo, type RemoteMr } from '../verbs/remote-verbs-service.ts'

/**
 * Access flags that make an MR writable (its pins are FOLL_WRITE), as
 * include/rdma/ib_verbs.h ib_access_writable(): LOCAL_WRITE, REMOTE_WRITE,
 * REMOTE_ATOMIC and MW_BIND (a bound window may grant remote write).
 */
export const WRITE_ACCESS = Access.LOCAL_WRITE | Access.REMOTE_WRITE | Access.REMOTE_ATOMIC | Access.MW_BIND

/** An ODP MR's paging state: the region, and for a file MR its inode and the file page of region page 0. */
export interface OdpMr {
  mem: FrameMemory
  region: OdpRegion
  ino: number
  firstFilePage: number
}

/** Bookkeeping of one server MR backed by FrameMemory. */
export interface MrEntry {
  mr: Mr
  kind: 'file' | 'anon'
  /** Pin owner (unique per MR). */
  pinOwner: string
  /** Frames pinned (one pin each); empty for ODP. */
  pinned: number[]
  /** Pinned for write (unpin dirties page-cache pages). */
  write: boolean
  /** Anonymous frames to free after unpinning. */
  anonFrames: number[]
  /** The node that registered it (the MR's owner). */
  peer: string
  file?: string
  odp?: OdpMr
  /** layout-lease: the inode whose layout lease this MR was registered under. */
  lease?: number
}

/** An MR about to be registered: everything but the Mr itself. */
export type MrSpec = Omit<MrEntry, 'mr'>

/** An ODP MR's entry. */
export type OdpEntry = MrEntry & { odp: OdpMr }

export class MrRegistry {
  private readonly entries = new Map<Mr, MrEntry>()
  /** File ODP MRs by inode, for the MMU notifier. */
  private readonly odpByIno = new Map<number, Set<MrEntry>>()
  /** MRs released because their owner left, per owner, until peerDown() reports them. */
  private readonly ownerGone = new Map<string, number>()
  private readonly unsubscribe: () => void

  constructor(private readonly deps: { mem: ServerMemory; device: RdmaDevice; log: Logger }) {
    this.unsubscribe = deps.device.mrs.onDeregister((mr, cause) => {
      const e = this.entries.get(mr)
      // Not a server MR (a workload's own buffer), or withheld by a revocation.
      if (!e) return
      if (cause === 'owner-gone') this.ownerGone.set(e.peer, (this.ownerGone.get(e.peer) ?? 0) + 1)
      this.release(e, cause)
    })
  }

  /**
   * Pin an MR's frames long-term (FOLL_WRITE if writable), as ib_umem_get().
   * ODP MRs take no pins: their pages are faulted in on access.
   */
  pinFrames(frames: number[], access: number, owner: string): { pinned: number[]; write: boolean } {
    const write = (access & WRITE_ACCESS) !== 0
    if (access & Access.ON_DEMAND) return { pinned: [], write }
    this.deps.mem.pins.pinUserPages(frames, { owner, longterm: true, write })
    return { pinned: frames, write }
  }

  /** Register the MR with the device and keep its entry; if the device refuses, what `spec` holds is released. */
  add(pd: number, frameMem: FrameMemory, access: number, spec: MrSpec, iova?: number): RemoteMr {
    let mr: Mr
    try {
      mr = this.deps.device.regMemory(pd, frameMem, access, { iova, owner: spec.peer })
    } catch (err) {
      this.release(spec, 'dereg')
      throw err
    }
    const entry: MrEntry = { ...spec, mr }
    this.entries.set(mr, entry)
    if (entry.odp && entry.kind === 'file') {
      let set = this.odpByIno.get(entry.odp.ino)
      if (!set) this.odpByIno.set(entry.odp.ino, (set = new Set()))
      set.add(entry)
    }
    return mrInfo(mr)
  }

  /** verbs.mr.dereg: deregister by STag (the deregistration event releases the entry). */
  deregister(stag: number): void {
    const mr = this.deps.device.mrs.byStag(stag)
    if (!mr) throw new EmuError(ErrorCodes.ENOENT, `no MR with stag 0x${(stag >>> 0).toString(16)}`)
    this.deps.device.deregMr(mr)
  }

  /** The ODP MR with this STag (ENOENT: no MR; EINVAL: not an ODP MR of this server). */
  odpEntry(stag: number): OdpEntry {
    const mr = this.deps.device.mrs.byStag(stag)
    if (!mr) throw new EmuError(ErrorCodes.ENOENT, `no MR with stag 0x${(stag >>> 0).toString(16)}`)
    const e = this.entries.get(mr)
    if (!e?.odp) throw new EmuError(ErrorCodes.EINVAL, `MR 0x${(stag >>> 0).toString(16)} is not an ODP MR`)
    return e as OdpEntry
  }

  /** File ODP MRs over inode `ino` (the MMU notifier's list). */
  odpOver(ino: number): Iterable<MrEntry> {
    return this.odpByIno.get(ino) ?? []
  }

  /** MRs `holder` registered under the layout lease on `ino` (still registered). */
  leaseMrs(ino: number, holder: string): MrEntry[] {
    return [...this.entries.values()].filter((e) => e.lease === ino && e.peer === holder)
  }

  /**
   * Revocation, step 1: take these MRs out of the registry WITHOUT releasing
   * them. Their deregistration then finds nothing here, so their pins stay
   * until the caller has quiesced the DMA and calls releaseWithheld().
   */
  withhold(mine: readonly MrEntry[]): void {
    for (const e of mine) this.entries.delete(e.mr)
  }

  /** Revocation, last step: drop a withheld MR's pins (dirty-lock semantics). */
  releaseWithheld(e: MrEntry): void {
    this.release(e, 'dereg')
  }

  /**
   * A peer went down: deregister what of it is still registered (the RDMA
   * service's own clean-up usually got there first) and say how many of its
   * MRs were released as an owner gone.
   */
  peerDown(peer: string): number {
    for (const e of [...this.entries.values()]) if (e.peer === peer) this.deps.device.deregMr(e.mr, 'owner-gone')
    const n = this.ownerGone.get(peer) ?? 0
    this.ownerGone.delete(peer)
    return n
  }

  /** Live MRs by kind, and how many are ODP. */
  counts(): { file: number; anon: number; odp: number } {
    let file = 0
    let anon = 0
    let odp = 0
    for (const e of this.entries.values()) {
      if (e.kind === 'file') file++
      else anon++
      if (e.odp) odp++
    }
    return { file, anon, odp }
  }

  close(): void {
    this.unsubscribe()
  }

  /**
   * Drop an MR's pins and free its anonymous frames: unpin_user_pages_dirty_lock
   * for a deregistration, every pin of the owner at once when it is gone.
   */
  private release(e: MrSpec & { mr?: Mr }, cause: DeregCause): void {
    const { mem, log } = this.deps
    if (e.mr) this.entries.delete(e.mr)
    if (e.odp) {
      // ib_umem_odp_release: off the notifier list, then unmap everything and
      // wait out accesses still in flight before the frames may be freed.
      const set = this.odpByIno.get(e.odp.ino)
      if (set && e.mr) {
        set.delete(e as MrEntry)
        if (set.size === 0) this.odpByIno.delete(e.odp.ino)
      }
      const region = e.odp.region
      if (e.kind === 'anon') e.anonFrames = Array.from(region.backing).filter((f) => f >= 0)
      region.invalidate(0, region.pages, { clearBacking: true })
    }
    if (e.pinned.length) {
      if (cause === 'owner-gone') mem.pins.releaseOwner(e.pinOwner)
      else mem.pins.unpinUserPagesDirtyLock(e.pinned, e.write, e.pinOwner)
    }
    if (e.anonFrames.length) {
      try {
        mem.freeAnon(e.anonFrames)
      } catch (err) {
        log.error({ err, stag: e.mr?.stag }, 'anonymous MR frames not freed')
      }
    }
  }
}
