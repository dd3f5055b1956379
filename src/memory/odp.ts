/**
 * On-Demand Paging (ODP) for server MRs: the ib_umem_odp / mmu_interval_notifier
 * model of Linux, with rxe's "map range and lock" data-path discipline.
 *
 * An ODP MR takes no page pins. It has, all in SharedArrayBuffers so every
 * data-path thread sees the same state:
 *
 * - `backing`: the CPU page table of the registered range (the process PTEs
 *   hmm_range_fault() walks): the frame behind each page, or -1 when the page
 *   is not present (a file hole, a page the filesystem freed or dropped from
 *   the page cache). Only the main thread fills it (the filesystem lives
 *   there), and only the invalidation path clears or replaces an entry.
 * - the device page table: FrameMemory.frames (the MR's MTT), valid for a page
 *   only while its residency bit is set.
 * - `resident`: one residency bit per page (Int32 words, Atomics.or/and).
 * - `ctl`: the invalidation sequence (mmu_interval_notifier's invalidate_seq:
 *   odd while an invalidation is in progress), a count of data-path accesses
 *   inside the MR (the DMA an invalidation must wait out), the umem_mutex (a
 *   spin lock: critical sections are a few stores), and per-MR counters.
 *
 * Access (any thread), `enter()`: count ourselves in READERS, then if the
 * sequence is even and every page is resident, copy with the pages as they
 * are; otherwise step out and fault. Fault, `fault()`: seq = read_begin (wait
 * while odd), snapshot `backing` for the missing pages, take the lock and
 * read_retry (seq unchanged, else start over), set frames + residency bits,
 * unlock. A page missing from `backing` is a major fault: only the main
 * thread can serve it (`majorFault`, filesystem block allocation); a worker
 * gets NEED_MAIN back and hands the work to the main thread.
 *
 * Invalidation (main thread), `invalidate()`: take the lock, make the sequence
 * odd, clear the residency bits (and the backing entries of pages whose frames
 * go away), unlock, then wait until no access is inside the MR: an access that
 * passed its check before the sequence went odd finishes with the old frame,
 * which is still the file's (the caller frees frames only after invalidate()
 * returns). New accesses see the odd sequence or a cleared bit and fault,
 * which waits for the sequence to go even again. Why a reader count and not
 * the lock around every copy (as rxe holds umem_mutex): several QPs on
 * different workers copy into one MR at once, and must not serialise.
 */
import { isMainThread } from 'node:worker_threads'
import { EmuError, ErrorCodes } from '../errors.ts'
import { Params } from '../params.ts'

/** What an access or fault ends with (state values, not exceptions). */
export const OdpStatus = {
  OK: 0,
  /** A page is not in the CPU page table and only the main thread can fault it in. */
  NEED_MAIN: 1,
  /** The page cannot be mapped: past EOF, file gone (the hmm_range_fault -EFAULT). */
  ACCESS_ERROR: 2,
} as const
export type OdpStatusValue = (typeof OdpStatus)[keyof typeof OdpStatus]

/** Words of an MR's control block. */
const C = {
  SEQ: 0,
  READERS: 1,
  LOCK: 2,
  WAITERS: 3,
  /** Per-MR counters (rdma stat mr: page_faults, page_invalidations, page_prefetch). */
  FAULTS: 4,
  INVALIDATED: 5,
  PREFETCHED: 6,
  MAJOR: 7,
} as const
const CTL_WORDS = 8

/** Node-wide ODP counters (one BigInt64Array shared by every ODP MR). */
export const OdpCounter = {
  /** Pages mapped into an MR's device page table by an access fault. */
  PAGE_FAULTS: 0,
  /** ... of which served on a worker thread. */
  PAGE_FAULTS_WORKERS: 1,
  /** Faults that needed the filesystem (main thread): hole allocation, page-cache read-in. */
  MAJOR_FAULTS: 2,
  /** Worker batches handed back to the main thread for a major fault. */
  HANDBACKS: 3,
  /** Faults that found the sequence changed under them (mmu_interval_read_retry). */
  FAULT_RETRIES: 4,
  /** Faults that could not be served (past EOF, file gone): REM_ACCESS_ERR / EFAULT. */
  FAULT_ERRORS: 5,
  /** Invalidation calls that hit an ODP MR, and the resident pages they unmapped. */
  INVALIDATIONS: 6,
  PAGES_INVALIDATED: 7,
  /** ibv_advise_mr calls, and pages they mapped. */
  PREFETCHES: 8,
  PAGES_PREFETCHED: 9,
} as const
export const ODP_COUNTERS = 10

export interface OdpStats {
  pageFaults: number
  pageFaultsWorkers: number
  majorFaults: number
  handbacks: number
  faultRetries: number
  faultErrors: number
  invalidations: number
  pagesInvalidated: number
  prefetches: number
  pagesPrefetched: number
}

export function newOdpCounters(): BigInt64Array {
  return new BigInt64Array(new SharedArrayBuffer(8 * ODP_COUNTERS))
}

export function odpStats(c: BigInt64Array): OdpStats {
  const g = (i: number): number => Number(Atomics.load(c, i))
  return {
    pageFaults: g(OdpCounter.PAGE_FAULTS),
    pageFaultsWorkers: g(OdpCounter.PAGE_FAULTS_WORKERS),
    majorFaults: g(OdpCounter.MAJOR_FAULTS),
    handbacks: g(OdpCounter.HANDBACKS),
    faultRetries: g(OdpCounter.FAULT_RETRIES),
    faultErrors: g(OdpCounter.FAULT_ERRORS),
    invalidations: g(OdpCounter.INVALIDATIONS),
    pagesInvalidated: g(OdpCounter.PAGES_INVALIDATED),
    prefetches: g(OdpCounter.PREFETCHES),
    pagesPrefetched: g(OdpCounter.PAGES_PREFETCHED),
  }
}

/** Structured-clone safe description (part of FrameMemoryDesc). */
export interface OdpDesc {
  ctl: Int32Array
  resident: Int32Array
  backing: Int32Array
  counters: BigInt64Array
  /** The MR is writable: faults map for write (HMM_PFN_REQ_WRITE) and dirty page-cache pages. */
  writable: boolean
}

/**
 * Main thread only: fault pages [first, last] into `backing` (filesystem work).
 * Must not invalidate. Returns OK or ACCESS_ERROR.
 */
export type MajorFault = (first: number, last: number) => OdpStatusValue

export interface OdpQuery {
  pages: number
  resident: number
  seq: number
  faults: number
  majorFaults: number
  pagesInvalidated: number
  prefetched: number
}

export class OdpRegion {
  readonly pages: number
  readonly ctl: Int32Array
  readonly resident: Int32Array
  readonly backing: Int32Array
  readonly counters: BigInt64Array
  readonly writable: boolean
  /** Main thread: serves major faults. Absent on workers (they get NEED_MAIN). */
  majorFault: MajorFault | undefined
  /** Called for each page as it is mapped (dirtying page-cache pages of a writable MR). */
  onMap: ((frame: number) => void) | undefined
  /** Accesses of this thread inside the MR (nesting: view() inside a checked copy). */
  private depth = 0

  /** `frames` is the device page table it fills (FrameMemory.frames). */
  constructor(desc: OdpDesc, private readonly frames: Int32Array) {
    this.ctl = desc.ctl
    this.resident = desc.resident
    this.backing = desc.backing
    this.counters = desc.counters
    this.writable = desc.writable
    this.pages = desc.backing.length
    if (frames.length < this.pages) throw new EmuError(ErrorCodes.EINVAL, 'ODP: device page table shorter than the region')
  }

  /** A fresh region of `pages` pages, none resident, `backing` as given (-1 = not present). */
  static createDesc(pages: number, backing: readonly number[] | undefined, writable: boolean, counters: BigInt64Array): OdpDesc {
    const b = new Int32Array(new SharedArrayBuffer(4 * Math.max(1, pages))).fill(-1)
    if (backing) b.set(backing.slice(0, pages))
    return {
      ctl: new Int32Array(new SharedArrayBuffer(4 * CTL_WORDS)),
      resident: new Int32Array(new SharedArrayBuffer(4 * Math.max(1, Math.ceil(pages / 32)))),
      backing: b.length === pages ? b : b.subarray(0, pages),
      counters,
      writable,
    }
  }

  shared(): OdpDesc {
    return { ctl: this.ctl, resident: this.resident, backing: this.backing, counters: this.counters, writable: this.writable }
  }

  isResident(pi: number): boolean {
    return (Atomics.load(this.resident, pi >>> 5) & (1 << (pi & 31))) !== 0
  }

  private allResident(first: number, last: number): boolean {
    for (let pi = first; pi <= last; pi++) if (!this.isResident(pi)) return false
    return true
  }

  residentPages(): number {
    let n = 0
    for (let pi = 0; pi < this.pages; pi++) if (this.isResident(pi)) n++
    return n
  }

  private count(i: number, n: number): void {
    if (n) Atomics.add(this.counters, i, BigInt(n))
  }

  private lock(): void {
    while (Atomics.compareExchange(this.ctl, C.LOCK, 0, 1) !== 0) { /* spin: held for a few stores */ }
  }

  private unlock(): void {
    Atomics.store(this.ctl, C.LOCK, 0)
  }

  /** mmu_interval_read_begin: the sequence, once no invalidation is in progress. */
  readBegin(): number {
    for (;;) {
      const s = Atomics.load(this.ctl, C.SEQ)
      if ((s & 1) === 0) return s
      // Node allows Atomics.wait on the main thread too; the invalidator notifies.
      Atomics.wait(this.ctl, C.SEQ, s, 5)
    }
  }

  /** mmu_interval_read_retry: true when an invalidation ran since readBegin(). */
  readRetry(seq: number): boolean {
    return Atomics.load(this.ctl, C.SEQ) !== seq
  }

  /**
   * Fault pages [first, last] in and enter the access side (rxe_odp_map_range_and_lock).
   * On OK the caller copies and then calls exit(); otherwise nothing is held.
   */
  enter(first: number, last: number): OdpStatusValue {
    if (this.depth > 0) {
      this.depth++
      return OdpStatus.OK
    }
    for (;;) {
      Atomics.add(this.ctl, C.READERS, 1)
      // Sequentially consistent: either the invalidator sees us in READERS and
      // waits, or we see its odd sequence / cleared bits and step out.
      if ((Atomics.load(this.ctl, C.SEQ) & 1) === 0 && this.allResident(first, last)) {
        this.depth = 1
        return OdpStatus.OK
      }
      this.leave()
      const st = this.fault(first, last, false, false)
      if (st !== OdpStatus.OK) return st
    }
  }

  exit(): void {
    if (--this.depth > 0) return
    this.leave()
  }

  private leave(): void {
    if (Atomics.sub(this.ctl, C.READERS, 1) === 1 && Atomics.load(this.ctl, C.WAITERS) > 0) Atomics.notify(this.ctl, C.READERS)
  }

  /**
   * Map pages [first, last] into the device page table: read_begin, snapshot
   * the CPU page table (major fault on the main thread for missing pages),
   * then under the lock read_retry and commit. `prefetch` counts the pages as
   * prefetched instead of faulted; `noFault` (PREFETCH_NO_FAULT) maps only the
   * pages already present. Returns the status; `mapped` gets the page count.
   */
  fault(first: number, last: number, prefetch: boolean, noFault: boolean, out?: { mapped: number }): OdpStatusValue {
    let lastMissing = -1
    for (;;) {
      const seq = this.readBegin()
      if (!noFault) {
        let missing = -1
        for (let pi = first; pi <= last; pi++) {
          if (!this.isResident(pi) && Atomics.load(this.backing, pi) < 0) {
            missing = pi
            break
          }
        }
        if (missing >= 0) {
          if (!this.majorFault) return OdpStatus.NEED_MAIN
          // The handler left this page unmapped last time: do not spin on it.
          if (missing === lastMissing) return OdpStatus.ACCESS_ERROR
          lastMissing = missing
          Atomics.add(this.ctl, C.MAJOR, 1)
          this.count(OdpCounter.MAJOR_FAULTS, 1)
          const st = this.majorFault(missing, last)
          if (st !== OdpStatus.OK) {
            this.count(OdpCounter.FAULT_ERRORS, 1)
            return st
          }
          continue // snapshot again: the major fault filled `backing`
        }
      }
      this.lock()
      if (this.readRetry(seq)) {
        this.unlock()
        this.count(OdpCounter.FAULT_RETRIES, 1)
        continue
      }
      let n = 0
      for (let pi = first; pi <= last; pi++) {
        if (this.isResident(pi)) continue
        const f = Atomics.load(this.backing, pi)
        if (f < 0) continue // only with noFault
        Atomics.store(this.frames, pi, f)
        this.onMap?.(f)
        Atomics.or(this.resident, pi >>> 5, 1 << (pi & 31))
        n++
      }
      this.unlock()
      if (out) out.mapped = n
      if (prefetch) {
        Atomics.add(this.ctl, C.PREFETCHED, n)
        this.count(OdpCounter.PAGES_PREFETCHED, n)
      } else if (n) {
        Atomics.add(this.ctl, C.FAULTS, n)
        this.count(OdpCounter.PAGE_FAULTS, n)
        if (!isMainThread) this.count(OdpCounter.PAGE_FAULTS_WORKERS, n)
      }
      return OdpStatus.OK
    }
  }

  /**
   * The MMU-notifier callback (main thread): unmap pages [first, end) from the
   * device and wait until no access is inside the MR. `clearBacking`: the
   * frames go away (truncate, punch, unlink, page-cache drop), so the CPU page
   * table forgets them too. `during` runs while the sequence is still odd and
   * nothing can map (page migration copies and replaces `backing` there).
   * Returns the number of resident pages unmapped.
   */
  invalidate(first: number, end: number, opts: { clearBacking?: boolean; during?: () => void } = {}): number {
    first = Math.max(0, first)
    end = Math.min(this.pages, end)
    if (first >= end && !opts.during) return 0
    this.lock()
    Atomics.add(this.ctl, C.SEQ, 1) // odd: in progress
    let n = 0
    for (let pi = first; pi < end; pi++) {
      const bit = 1 << (pi & 31)
      if (Atomics.and(this.resident, pi >>> 5, ~bit) & bit) n++
      if (opts.clearBacking) Atomics.store(this.backing, pi, -1)
    }
    this.unlock()
    // Accesses that passed their check before the sequence went odd still use
    // the old frames: wait them out before anyone may free those frames. Our
    // own thread's access (if any) cannot be waited for.
    const own = this.depth > 0 ? 1 : 0
    Atomics.add(this.ctl, C.WAITERS, 1)
    const deadline = Date.now() + Params.odpInvalidateWaitMs
    for (;;) {
      const r = Atomics.load(this.ctl, C.READERS)
      if (r <= own || Date.now() > deadline) break
      Atomics.wait(this.ctl, C.READERS, r, Params.odpInvalidatePollMs)
    }
    Atomics.sub(this.ctl, C.WAITERS, 1)
    // Nobody can be using the unmapped entries now: clear them (reports, framesOf).
    for (let pi = first; pi < end; pi++) if (!this.isResident(pi)) Atomics.store(this.frames, pi, -1)
    try {
      opts.during?.()
    } finally {
      Atomics.add(this.ctl, C.SEQ, 1) // even again: faults may proceed
      Atomics.notify(this.ctl, C.SEQ)
    }
    Atomics.add(this.ctl, C.INVALIDATED, n)
    this.count(OdpCounter.INVALIDATIONS, 1)
    this.count(OdpCounter.PAGES_INVALIDATED, n)
    return n
  }

  /** A worker handed an access to this MR back to the main thread (counted there). */
  countHandback(): void {
    this.count(OdpCounter.HANDBACKS, 1)
  }

  /** ibv_advise_mr PREFETCH / PREFETCH_WRITE / PREFETCH_NO_FAULT (main thread). */
  prefetch(first: number, last: number, noFault: boolean): { status: OdpStatusValue; mapped: number } {
    const out = { mapped: 0 }
    this.count(OdpCounter.PREFETCHES, 1)
    const status = this.fault(first, last, true, noFault, out)
    return { status, mapped: out.mapped }
  }

  query(): OdpQuery {
    return {
      pages: this.pages,
      resident: this.residentPages(),
      seq: Atomics.load(this.ctl, C.SEQ),
      faults: Atomics.load(this.ctl, C.FAULTS),
      majorFaults: Atomics.load(this.ctl, C.MAJOR),
      pagesInvalidated: Atomics.load(this.ctl, C.INVALIDATED),
      prefetched: Atomics.load(this.ctl, C.PREFETCHED),
    }
  }
}
