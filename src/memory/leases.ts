/**
 * Exclusive layout leases (the F_LAYOUT / F_SETLEASE proposal of seeds
 * 001-003), one per file, held by a fabric node (the process that registers
 * long-term pinned MRs over the file).
 *
 * Rules (errno as fcntl(F_SETLEASE) and the seeds):
 * - acquire: the file must exist (ENOENT, the caller's lookup); a lease held
 *   by another node, or one being broken, conflicts: EAGAIN. The holder asking
 *   again gets its lease back (idempotent).
 * - release (F_UNLCK): EINVAL when the file has no lease, EACCES when another
 *   node holds it, EBUSY while MRs registered under it still hold pins (seed
 *   002's order: finish the I/O, deregister, then unlock).
 * - break (truncate, punch, unlink of the file): the holder is told once
 *   (`notify`), every layout change waits for the same break; when the holder
 *   releases, the break ends 'released'; after `breakTimeMs` (Linux
 *   lease-break-time) `expire` runs (revocation) and must end it with end().
 *   A holder that disappears ends it 'holder-lost'.
 *
 * Main thread only. A break's timer runs until the break ends; close() stops
 * every timer (shutdown).
 */
import { EmuError, ErrorCodes } from '../errors.ts'

export type LeaseEnd = 'released' | 'revoked' | 'holder-lost' | 'file-gone'

export interface LeaseBreak {
  /** What broke it (truncate, punch, unlink). */
  op: string
  startedAt: number
  deadline: number
  timer: NodeJS.Timeout | undefined
  done: Promise<LeaseEnd>
  resolve: (how: LeaseEnd) => void
}

export interface Lease {
  ino: number
  file: string
  holder: string
  grantedAt: number
  breaking?: LeaseBreak
}

export interface LeaseCounters {
  /** Leases granted (a holder re-asking is not counted). */
  granted: number
  /** Released by their holder, outside a break. */
  released: number
  /** Breaks started (the holder got a lease-break notice). */
  breaks: number
  /** Breaks that ended with the holder letting go in time. */
  breaksReleased: number
  /** Breaks that ran out of time: the server revoked the lease. */
  revocations: number
  /** Leases dropped because their holder left the fabric. */
  holdersLost: number
}

export interface LeaseInfo {
  file: string
  holder: string
  grantedAt: number
  breaking: boolean
  /** While breaking: ms left before revocation. */
  msLeft?: number
}

export interface BreakHooks {
  /** Tell the holder (lease-break notice). */
  notify(lease: Lease): void
  /** The break time ran out: revoke, then call end(ino, 'revoked'). */
  expire(lease: Lease): void | Promise<void>
}

export class LeaseTable {
  readonly breakTimeMs: number
  readonly counters: LeaseCounters = { granted: 0, released: 0, breaks: 0, breaksReleased: 0, revocations: 0, holdersLost: 0 }
  private readonly leases = new Map<number, Lease>()
  private readonly clock: () => number

  constructor(opts: { breakTimeMs: number; clock?: () => number }) {
    if (!(Number.isInteger(opts.breakTimeMs) && opts.breakTimeMs >= 0)) {
      throw new EmuError(ErrorCodes.EINVAL, `breakTimeMs must be a non-negative integer, got ${opts.breakTimeMs}`)
    }
    this.breakTimeMs = opts.breakTimeMs
    this.clock = opts.clock ?? Date.now
  }

  get size(): number {
    return this.leases.size
  }

  get(ino: number): Lease | undefined {
    return this.leases.get(ino)
  }

  /** F_SETLEASE(F_LAYOUT), exclusive. */
  acquire(ino: number, file: string, holder: string): Lease {
    const cur = this.leases.get(ino)
    if (cur) {
      if (cur.breaking) throw new EmuError(ErrorCodes.EAGAIN, `the layout lease on ${file} is being broken (${cur.breaking.op}); try again once it is released`)
      if (cur.holder !== holder) throw new EmuError(ErrorCodes.EAGAIN, `${file}: an exclusive layout lease is held by ${cur.holder}`)
      return cur
    }
    const lease: Lease = { ino, file, holder, grantedAt: this.clock() }
    this.leases.set(ino, lease)
    this.counters.granted++
    return lease
  }

  /** F_SETLEASE(F_UNLCK). `pinnedMrs`: MRs the holder still has registered under the lease. */
  release(ino: number, file: string, holder: string, pinnedMrs: number): void {
    const cur = this.leases.get(ino)
    if (!cur) throw new EmuError(ErrorCodes.EINVAL, `${file} has no layout lease`)
    if (cur.holder !== holder) throw new EmuError(ErrorCodes.EACCES, `the layout lease on ${file} is held by ${cur.holder}, not ${holder}`)
    if (pinnedMrs > 0) throw new EmuError(ErrorCodes.EBUSY, `${file}: ${pinnedMrs} MR(s) registered under the lease still hold pins; deregister them first`)
    if (cur.breaking) {
      this.counters.breaksReleased++
      this.end(ino, 'released')
    } else {
      this.leases.delete(ino)
      this.counters.released++
    }
  }

  /**
   * Break the lease on `ino` for a layout change. Returns the promise of the
   * break's end (shared by every caller while it runs), or null when the file
   * has no lease.
   */
  breakLease(ino: number, op: string, hooks: BreakHooks): Promise<LeaseEnd> | null {
    const lease = this.leases.get(ino)
    if (!lease) return null
    if (lease.breaking) return lease.breaking.done
    let resolve!: (how: LeaseEnd) => void
    const done = new Promise<LeaseEnd>((r) => (resolve = r))
    const now = this.clock()
    const b: LeaseBreak = { op, startedAt: now, deadline: now + this.breakTimeMs, timer: undefined, done, resolve }
    lease.breaking = b
    this.counters.breaks++
    b.timer = setTimeout(() => {
      b.timer = undefined
      if (this.leases.get(ino) !== lease) return
      this.counters.revocations++
      void (async () => {
        try {
          await hooks.expire(lease)
        } catch {
          // The hook reports its own failures; the lease ends regardless.
        } finally {
          // Whatever the revocation managed, the lease is gone.
          this.end(ino, 'revoked')
        }
      })()
    }, this.breakTimeMs)
    hooks.notify(lease)
    return done
  }

  /** End the lease (and its break, if any). */
  end(ino: number, how: LeaseEnd): void {
    const lease = this.leases.get(ino)
    if (!lease) return
    this.leases.delete(ino)
    const b = lease.breaking
    if (b) {
      if (b.timer) clearTimeout(b.timer)
      b.timer = undefined
      b.resolve(how)
    }
  }

  /** A lease by the file name it was granted under (the name may since be gone). */
  byFile(file: string): Lease | undefined {
    for (const l of this.leases.values()) if (l.file === file) return l
    return undefined
  }

  heldBy(holder: string): Lease[] {
    return [...this.leases.values()].filter((l) => l.holder === holder)
  }

  /** The holder left the fabric: its leases end (a break waiting on it completes). */
  dropHolder(holder: string): number {
    const mine = this.heldBy(holder)
    for (const l of mine) {
      this.counters.holdersLost++
      this.end(l.ino, 'holder-lost')
    }
    return mine.length
  }

  list(): LeaseInfo[] {
    const now = this.clock()
    return [...this.leases.values()].map((l) => ({
      file: l.file,
      holder: l.holder,
      grantedAt: l.grantedAt,
      breaking: l.breaking !== undefined,
      ...(l.breaking ? { msLeft: Math.max(0, l.breaking.deadline - now) } : {}),
    }))
  }

  /** Stop every break timer (shutdown). Pending breaks stay unresolved. */
  close(): void {
    for (const l of this.leases.values()) {
      if (l.breaking?.timer) clearTimeout(l.breaking.timer)
      if (l.breaking) l.breaking.timer = undefined
    }
  }
}
