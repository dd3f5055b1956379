/**
 * Storage faults on a server's DAX device (`fs.faults`): fsync failing with
 * EIO, RDMA FLUSH failing (the responder NAKs with a remote operational
 * error), and the device full (ENOSPC on every new block allocation).
 *
 * Simplifications, stated once:
 * - EIO is sticky while set and never reported after it is cleared. Linux
 *   records a writeback error in the mapping's errseq_t and reports it once to
 *   every file description open at the time, then marks the pages clean (the
 *   data is lost). Here every fsync fails while the fault is set, writes
 *   nothing back and leaves the dirty pages dirty, so the first fsync after
 *   the fault is cleared succeeds and persists them. syncfs fails the same
 *   way, so a server stopped gracefully while fsync fails loses its dirty
 *   page-cache pages (DAX writes and FLUSHed bytes are on the device already).
 * - ENOSPC refuses block allocation only (writes into holes or past EOF,
 *   fallocate, GUP of holes at registration, as ext4/xfs do); blocks already
 *   allocated stay writable, and metadata commits still succeed.
 */
import { EmuError, ErrorCodes } from '../errors.ts'

/** The storage faults in force (`fs.faults` body; all off is the default). */
export interface StorageFaultState {
  /** fsync (fs.fsync, a program's host.fs fsync, syncfs) fails with this errno. */
  fsync: 'EIO' | null
  /** RDMA FLUSH to this server fails (REM_OP_ERR at the requester). */
  flush: 'EIO' | null
  /** Every new block allocation fails with ENOSPC. */
  enospc: boolean
}

/** How often each fault struck (mem.stats `storageFaults`). */
export interface StorageFaultCounters {
  fsyncErrors: number
  flushErrors: number
  enospcErrors: number
}

export type StorageFaultStats = StorageFaultState & StorageFaultCounters

export class StorageFaults {
  private state: StorageFaultState = { fsync: null, flush: null, enospc: false }
  readonly counters: StorageFaultCounters = { fsyncErrors: 0, flushErrors: 0, enospcErrors: 0 }

  /** Replace the faults in force (null, or fields left out: off). */
  set(s: Partial<StorageFaultState> | null): StorageFaultState {
    this.state = { fsync: s?.fsync ?? null, flush: s?.flush ?? null, enospc: s?.enospc === true }
    return { ...this.state }
  }

  get current(): StorageFaultState {
    return { ...this.state }
  }

  /** Throws EmuError(EIO) when fsync is failing (and counts it). */
  checkFsync(what: string): void {
    if (!this.state.fsync) return
    this.counters.fsyncErrors++
    throw new EmuError(ErrorCodes.EIO, `fsync ${what}: I/O error (storage fault)`)
  }

  /** True when an RDMA FLUSH must fail now (and counts it). */
  flushFails(): boolean {
    if (!this.state.flush) return false
    this.counters.flushErrors++
    return true
  }

  /** Throws EmuError(ENOSPC) when the device is "full" (and counts it). */
  checkAlloc(): void {
    if (!this.state.enospc) return
    this.counters.enospcErrors++
    throw new EmuError(ErrorCodes.ENOSPC, 'no space left on the DAX device (storage fault)')
  }

  stats(): StorageFaultStats {
    return { ...this.state, ...this.counters }
  }
}
