/**
 * The server's long-term pin policy (design brief section 3, one per server,
 * chosen in the config): what a long-term pin of a file range may do at
 * registration, and what truncate / punch-hole / unlink do to pinned pages
 * (the filesystem's layout guard, src/memory/fs-hooks.ts).
 *
 * | policy          | long-term pin of a file range     | truncate / punch / unlink over pinned pages |
 * |-----------------|-----------------------------------|---------------------------------------------|
 * | upstream        | DAX: EOPNOTSUPP; writable shared page-cached: EFAULT; read-only or private page-cached: pinned | DAX: unmaps the range, then waits while any page has an extra reference (pin or get_page), no timeout, interruptible: EINTR (dax_layout_busy_page_range); page cache: the page leaves the file, the pin keeps it (orphan) |
 * | unsafe-gup      | pinned                            | proceeds: blocks freed, LIFO reuse          |
 * | deny            | pinned                            | ETXTBSY while pinned (unlink: kept until unpinned) |
 * | truncate-extend | pinned                            | truncateExtend 'retain': size shrinks, pinned blocks stay the file's (invisible) until the last unpin; 'extend': the file grows back over the pinned pages, their data visible |
 * | layout-lease    | only by the holder of the file's exclusive layout lease (EACCES otherwise) | breaks the lease (the service's `breakLease`), then as upstream |
 * | exclusive-lease | as layout-lease (seed 002: the lease is exclusive and no timeout breaks it) | truncate / punch: ETXTBSY while the file's lease is held; unlink: pinned blocks kept until unpinned; no lease: as upstream |
 * | odp             | never: file MRs are ODP MRs (no pin) | as upstream (only short-term pins can be there) |
 *
 * A writable pin of a MAP_PRIVATE file mapping is never refused for dirty
 * tracking (vma_needs_dirty_tracking is false); it pins COW copies
 * (src/server/mr-registration.ts). Writeback of pinned page-cache pages is a
 * separate setting (writebackMode, src/memory/fs-writeback.ts).
 *
 * ODP registrations (Access.ON_DEMAND) take no pin and pass under every
 * policy. Short-term pins (FOLL_PIN without FOLL_LONGTERM, e.g. direct I/O in
 * flight) are pins too: the guard treats every pin alike.
 */
import type { Policy, TruncateExtendMode } from '../config/defaults.ts'
import { EmuError, ErrorCodes } from '../errors.ts'
import type { LayoutDecision, LayoutGuard, LayoutInfo, LayoutOp } from './fs-hooks.ts'
import type { PinTable } from './pins.ts'

export type { Policy, TruncateExtendMode }

export interface PolicyCounters {
  /** Long-term pins refused at registration (sum of the three below). */
  pinRefusals: number
  /** ... on a DAX file (upstream: EOPNOTSUPP). */
  pinRefusedDax: number
  /** ... writable, on a page-cached file (upstream: EFAULT). */
  pinRefusedPageCache: number
  /** ... without the file's layout lease (layout-lease: EACCES), or while it was being broken (EAGAIN). */
  pinRefusedNoLease: number
  /** File MRs the odp policy registered as ODP MRs although ON_DEMAND was not asked for. */
  odpForced: number
  /** Truncates / punches / unlinks that waited (for pins to drop, or for a lease break). */
  layoutWaited: number
  /** Total time they waited (ms), and the longest single wait. */
  layoutWaitMs: number
  layoutMaxWaitMs: number
  /** Waiting right now. */
  layoutWaiting: number
  /** Waits given up with EINTR (a timeout or a cancel interrupted them). */
  layoutInterrupted: number
  /** Truncates / punches refused with ETXTBSY (deny; exclusive-lease while the lease is held). */
  layoutFailed: number
  /** Pinned frames a layout change left with the file until their last unpin (truncate-extend; deny and unlink). */
  blocksKept: number
  /** ... of which stayed visible, the file growing back over them (truncate-extend 'extend'). */
  pagesExtended: number
}

export interface LayoutPolicyOptions {
  pins: PinTable
  /**
   * layout-lease: break the lease on `ino` for this layout change; the promise
   * settles when the lease is gone (released, revoked, holder lost). null when
   * the file has no lease.
   */
  breakLease?: (ino: number, op: LayoutOp, info: LayoutInfo) => Promise<unknown> | null
  /** truncate-extend: 'retain' (default) or 'extend' (config `server.truncateExtend`). */
  truncateExtend?: TruncateExtendMode
  /** exclusive-lease: does `ino` have a layout lease now (whoever holds it)? */
  leaseHeld?: (ino: number) => boolean
  clock?: () => number
}

/** Where the registering node stands with the file's layout lease. */
export type LeaseStanding = 'held' | 'none' | 'other' | 'breaking'

export interface LongTermPinRequest {
  file: string
  dax: boolean
  /** FOLL_WRITE: the MR may be written (ib_access_writable: LOCAL_WRITE, REMOTE_WRITE, REMOTE_ATOMIC or MW_BIND). */
  write: boolean
  /** A MAP_SHARED mapping (default true); false: MAP_PRIVATE. */
  shared?: boolean
  /** layout-lease only. */
  lease: LeaseStanding
}

/**
 * mm/mmap.c vma_needs_dirty_tracking(): only a shared, writable mapping needs
 * it (vma_is_shared_writable), and then when the filesystem wants write
 * notification (vm_ops_needs_writenotify: page_mkwrite / pfn_mkwrite, which
 * DAX filesystems have) or its mapping can write back (vma_fs_can_writeback:
 * every page-cached file here). So every shared writable file mapping of this
 * filesystem needs it; a private one never does. (check_vma_flags refuses a
 * DAX long-term pin before asking, EOPNOTSUPP.)
 */
export function needsDirtyTracking(m: { shared: boolean; write: boolean; dax: boolean }): boolean {
  if (!m.shared || !m.write) return false
  const wantsWriteNotify = m.dax
  const canWriteback = !m.dax
  return wantsWriteNotify || canWriteback
}

export class LayoutPolicy {
  readonly name: Policy
  /** truncate-extend's reading of seed 000 option 4. */
  readonly truncateExtend: TruncateExtendMode
  readonly counters: PolicyCounters = {
    pinRefusals: 0, pinRefusedDax: 0, pinRefusedPageCache: 0, pinRefusedNoLease: 0, odpForced: 0,
    layoutWaited: 0, layoutWaitMs: 0, layoutMaxWaitMs: 0, layoutWaiting: 0, layoutInterrupted: 0, layoutFailed: 0, blocksKept: 0, pagesExtended: 0,
  }
  private readonly pins: PinTable
  private readonly breakLeaseHook: LayoutPolicyOptions['breakLease']
  private readonly leaseHeld: (ino: number) => boolean
  private readonly clock: () => number

  constructor(name: Policy, opts: LayoutPolicyOptions) {
    this.name = name
    this.pins = opts.pins
    this.breakLeaseHook = opts.breakLease
    this.leaseHeld = opts.leaseHeld ?? (() => false)
    this.truncateExtend = opts.truncateExtend ?? 'retain'
    this.clock = opts.clock ?? Date.now
  }

  /** odp: every file MR is an ODP MR. */
  get forcesOdp(): boolean {
    return this.name === 'odp'
  }

  /** layout-lease, exclusive-lease: file MRs need the lease. */
  get needsLease(): boolean {
    return this.name === 'layout-lease' || this.name === 'exclusive-lease'
  }

  /**
   * May this long-term (FOLL_LONGTERM) pin of a file range be taken? Throws
   * the policy's errno, and counts the refusal. Not called for ODP MRs.
   */
  checkLongTermPin(r: LongTermPinRequest): void {
    const refuse = (code: (typeof ErrorCodes)[keyof typeof ErrorCodes], counter: 'pinRefusedDax' | 'pinRefusedPageCache' | 'pinRefusedNoLease', msg: string): never => {
      this.counters.pinRefusals++
      this.counters[counter]++
      throw new EmuError(code, msg, { policy: this.name, file: r.file })
    }
    if (this.name === 'upstream') {
      // mm/gup.c check_vma_flags(): vma_is_fsdax() && FOLL_LONGTERM -> -EOPNOTSUPP,
      // whatever the mapping; then FOLL_WRITE && !writable_file_mapping_allowed()
      // -> -EFAULT, only where vma_needs_dirty_tracking() holds.
      if (r.dax) refuse(ErrorCodes.EOPNOTSUPP, 'pinRefusedDax', `long-term pin of DAX file ${r.file} refused (policy upstream: FOLL_LONGTERM on FS-DAX is EOPNOTSUPP; register with ON_DEMAND)`)
      if (r.write && needsDirtyTracking({ shared: r.shared ?? true, write: r.write, dax: r.dax })) {
        refuse(ErrorCodes.EFAULT, 'pinRefusedPageCache', `writable long-term pin of a shared mapping of page-cached file ${r.file} refused (policy upstream: EFAULT, the file needs dirty tracking; register read-only, MAP_PRIVATE or with ON_DEMAND)`)
      }
      return
    }
    if (this.needsLease) {
      // exclusive-lease never breaks a lease, so 'breaking' is layout-lease's.
      if (r.lease === 'breaking') refuse(ErrorCodes.EAGAIN, 'pinRefusedNoLease', `the layout lease on ${r.file} is being broken: no new long-term pins`)
      if (r.lease !== 'held') {
        refuse(ErrorCodes.EACCES, 'pinRefusedNoLease', `long-term pin of ${r.file} needs an exclusive layout lease held by the registering node (fs.lease) (policy ${this.name}${r.lease === 'other' ? ': another node holds it' : ''})`)
      }
    }
  }

  /** The layout guard to install on the filesystem. */
  readonly guard: LayoutGuard = (ino, frames, op, info) => {
    const pinned = this.pins.anyPinned(frames)
    switch (this.name) {
      case 'unsafe-gup':
        // Pre-4.15 get_user_pages: nobody asks; the blocks go, the DMA goes on.
        return 'proceed'
      case 'deny':
        if (!pinned) return 'proceed'
        // An unlink cannot fail (the name is already gone): its pinned blocks
        // stay with the dead file until unpinned, as truncate-extend keeps them.
        if (op === 'unlink') return this.keep(frames)
        this.counters.layoutFailed++
        return { error: ErrorCodes.ETXTBSY }
      case 'truncate-extend': {
        if (!pinned) return 'proceed'
        const kept = this.keep(frames)
        // An unlink has no file to grow back: its pinned blocks are retained.
        if (this.truncateExtend === 'retain' || op === 'unlink') return kept
        for (const f of frames) if (this.pins.isPinned(f)) this.counters.pagesExtended++
        return 'extend'
      }
      case 'exclusive-lease':
        // Seed 002 (June 2019): the lease is exclusive and is not broken by a
        // timeout; while it is held the layout change fails, pins or not. An
        // unlink cannot fail: its pinned blocks stay with the dead file.
        if (this.leaseHeld(ino)) {
          if (op === 'unlink') return this.keep(frames)
          this.counters.layoutFailed++
          return { error: ErrorCodes.ETXTBSY }
        }
        return this.waitIfBusy(frames, info)
      case 'layout-lease': {
        const broken = this.breakLeaseHook?.(ino, op, info) ?? null
        if (broken) return this.timed(broken.then(() => this.untilIdle(frames, info)))
        return this.waitIfBusy(frames, info)
      }
      case 'upstream':
      case 'odp':
      default:
        return this.waitIfBusy(frames, info)
    }
  }

  private keep(frames: readonly number[]): LayoutDecision {
    for (const f of frames) if (this.pins.isPinned(f)) this.counters.blocksKept++
    return 'keep'
  }

  /**
   * fs/dax.c dax_layout_busy_page_range() with xfs_break_dax_layouts(): a DAX
   * file's blocks hold the layout change while ANY extra reference exists
   * (a pin, or a plain get_page reference: the page is not idle), with no
   * timeout; the wait is interruptible (EINTR on `info.signal`). The
   * filesystem unmaps the range before it waits (fs-layout-change.ts). A
   * page-cached page is truncated out of the file as Linux does; its pin
   * keeps it (an orphan).
   */
  private waitIfBusy(frames: readonly number[], info: LayoutInfo): LayoutDecision | Promise<LayoutDecision> {
    if (!info.dax || !this.pins.anyBusy(info.blocks)) return 'proceed'
    return this.timed(this.untilIdle(frames, info))
  }

  private untilIdle(_frames: readonly number[], info: LayoutInfo): Promise<LayoutDecision> {
    const busy = info.dax ? info.blocks : []
    return new Promise((resolve, reject) => {
      if (!this.pins.anyBusy(busy)) return resolve('proceed')
      const { signal } = info
      const stop = (): void => {
        off()
        signal?.removeEventListener('abort', interrupted)
      }
      const interrupted = (): void => {
        stop()
        this.counters.layoutInterrupted++
        reject(new EmuError(ErrorCodes.EINTR, `${info.op} of ${info.name ?? 'a file'} interrupted while waiting for busy DAX pages`, { op: info.op }))
      }
      const off = this.pins.onIdle(() => {
        if (this.pins.anyBusy(busy)) return
        stop()
        resolve('proceed')
      })
      if (signal?.aborted) return interrupted()
      signal?.addEventListener('abort', interrupted, { once: true })
    })
  }

  /** Count a layout change that had to wait, and for how long. */
  private timed(p: Promise<LayoutDecision>): Promise<LayoutDecision> {
    const c = this.counters
    const t0 = this.clock()
    c.layoutWaited++
    c.layoutWaiting++
    const done = (): void => {
      const ms = this.clock() - t0
      c.layoutWaiting--
      c.layoutWaitMs += ms
      if (ms > c.layoutMaxWaitMs) c.layoutMaxWaitMs = ms
    }
    return p.then((d) => { done(); return d }, (err) => { done(); throw err })
  }
}
